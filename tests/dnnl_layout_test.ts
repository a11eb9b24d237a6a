// The oneDNN backend keeps activations channels-last where a primitive can read them so
// (ops/cpu/dnnl_kernels.ts). Layout is invisible to ops, so the checks read oneDNN's own log
// of the primitives it ran (ONEDNN_VERBOSE) from a subprocess, and compare values in-process
// with the plain TypeScript backend. Skipped, in one line, where oneDNN does not load.

import * as T from "@lfdiff/ops/mod.ts";
import { assert, assertClose } from "./assert.ts";

let ignore = false;
try {
  T.getBackend("cpu-dnnl");
} catch {
  ignore = true;
  console.error("dnnl_layout_test: oneDNN does not load here; skipped");
}

const OPS = new URL("../ops/mod.ts", import.meta.url).href;

/** Restormer's gated feed-forward tail on n images: chunk a conv's output, gelu(x1) · x2, conv. */
function gatedTail(n: number, device: string, rng: T.Rng): Float32Array {
  return T.scope(() => {
    const o = { device };
    const x = T.randn([n, 8, 12, 10], rng, o), w1 = T.randn([20, 8, 1, 1], rng, o);
    const w2 = T.randn([8, 10, 1, 1], rng, o);
    const [x1, x2] = T.chunk(T.conv2d(x, w1), 2, 1);
    return T.conv2d(T.mul(T.gelu(x1), x2), w2).toArray();
  });
}

Deno.test({
  name: "oneDNN: a single image's channel slices stay channels-last (no reorder to plain)",
  ignore,
  fn: async () => {
    const script = await Deno.makeTempFile({ suffix: ".ts" });
    try {
      await Deno.writeTextFile(
        script,
        `import * as T from "${OPS}";
const rng = new T.Rng(1);
const x = T.randn([1, 32, 48, 40], rng), w1 = T.randn([64, 32, 1, 1], rng);
const w2 = T.randn([32, 32, 1, 1], rng);
const [x1, x2] = T.chunk(T.conv2d(x, w1), 2, 1);
T.conv2d(T.mul(T.gelu(x1), x2), w2);
`,
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-ffi", "--allow-read", "--allow-env", script],
        env: { ONEDNN_VERBOSE: "1", DNNL_VERBOSE: "1" },
      }).output();
      const log = new TextDecoder().decode(out.stdout).split("\n")
        .filter((l) => /^(onednn|dnnl)_verbose,exec/.test(l));
      assert(out.success && log.length > 0, new TextDecoder().decode(out.stderr));
      // The two halves are copied out channels-last (acdb to acdb), and nothing goes plain.
      const reorders = log.filter((l) => l.includes(",reorder,"));
      const plain = reorders.filter((l) => /dst_f32::blocked:abcd:/.test(l));
      assert(plain.length === 0, `reorders to plain:\n${plain.join("\n")}`);
      const slices = reorders.filter((l) => /src_f32::blocked:acdb.*dst_f32::blocked:acdb/.test(l));
      assert(slices.length === 2, `channel slices:\n${reorders.join("\n")}`);
    } finally {
      await Deno.remove(script);
    }
  },
});

Deno.test({
  name: "oneDNN: channel slices of channels-last maps give the plain backend's values",
  ignore,
  fn: () => {
    for (const n of [1, 2]) {
      const want = gatedTail(n, "cpu-openblas", new T.Rng(n));
      const got = gatedTail(n, "cpu-dnnl", new T.Rng(n));
      assertClose(got, want, 1e-5, `${n} image(s)`);
    }
  },
});
