// The CUDA backend: device tests (memory round trip, an NVRTC-compiled kernel, a cuDNN
// convolution and the reductions' two passes against the CPU, disposal) that run where a GPU
// is, are skipped where there is no driver or device, and fail on any other problem; and,
// wherever nvcc is installed, a compile of the kernel source so its syntax is checked even on
// machines without a GPU.

import * as T from "@lfdiff/ops/mod.ts";
import { KERNELS } from "@lfdiff/ops/cuda/kernels.ts";
import { createCudaBackend, tf32Enabled } from "@lfdiff/ops/cuda/backend.ts";
import { assert, assertClose, assertEquals } from "./assert.ts";
import { cudaAbsent } from "./golden.ts";

const ignore = cudaAbsent();

Deno.test({
  name: "cuda: memory, an NVRTC kernel and a cuDNN conv agree with the CPU",
  ignore,
}, () => {
  const rng = new T.Rng(1);
  const data = rng.normal(1000);
  const g = T.tensor(data, [10, 100], { device: "cuda" });
  assertEquals(g.toArray(), data);
  assertClose(T.exp(g).toArray(), T.exp(T.tensor(data, [10, 100])).toArray(), 1e-6, "exp on cuda");
  const x = rng.normal(2 * 6 * 9 * 11), w = rng.normal(4 * 3 * 3 * 3), b = rng.normal(4);
  const run = (device: string) =>
    T.conv2d(
      T.tensor(x, [2, 6, 9, 11], { device }),
      T.tensor(w, [4, 3, 3, 3], { device }),
      T.tensor(b, [4], { device }),
      { padding: 1, groups: 2 },
    ).toArray();
  const tol = tf32Enabled() ? 1e-3 : 1e-5;
  assertClose(run("cuda"), run("cpu"), tol, "grouped conv on cuda vs cpu");
});

Deno.test({
  name: "cuda: full, leading-axis, middle and short-row sums (split in parts) match the CPU",
  ignore,
}, () => {
  const rng = new T.Rng(2);
  const cases: [number[], number[] | undefined][] = [
    [[3_000_017], undefined], // full: one output, many parts
    [[4096, 300], [0]], // leading axis, thread per output
    [[2_000_000, 3], [1]], // short rows, thread per output
    [[16, 60, 129, 131], [0, 2, 3]], // a bias gradient: middle axis kept
    [[7, 5, 33], [0, 2]],
  ];
  for (const [shape, axes] of cases) {
    const data = rng.normal(shape.reduce((a, b) => a * b, 1));
    const sum = (device: string) => T.sum(T.tensor(data, shape, { device }), axes).toArray();
    assertClose(sum("cuda"), sum("cpu"), 1e-5, `sum of [${shape}] over ${axes ?? "all"}`);
  }
});

Deno.test({ name: "cuda: a second backend checks upload lengths and is disposed", ignore }, () => {
  const b = createCudaBackend();
  const buf = b.alloc(1 << 20);
  b.upload(buf, new Float32Array(1 << 20).fill(2));
  assertEquals(b.download(buf)[12345], 2);
  let refused = "";
  try {
    b.upload(buf, new Float32Array(10));
  } catch (e) {
    refused = (e as Error).message;
  }
  assertEquals(refused, `cuda upload: 10 values for a buffer of ${1 << 20}`);
  b.free(buf);
  b.dispose();
  b.dispose(); // idempotent
});

async function nvcc(): Promise<string | null> {
  for (const p of ["/usr/local/cuda/bin/nvcc", "/usr/local/bin/nvcc", "/usr/bin/nvcc"]) {
    try {
      await Deno.stat(p);
      return p;
    } catch { /* next */ }
  }
  return null;
}

const compiler = await nvcc();
Deno.test({
  name: "cuda kernel source compiles (nvcc, sm_80 and sm_90)",
  ignore: compiler === null,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/kernels.cu`, KERNELS);
    for (const arch of ["sm_80", "sm_90"]) {
      const out = await new Deno.Command(compiler!, {
        args: ["-cubin", `-arch=${arch}`, `${dir}/kernels.cu`, "-o", `${dir}/k.cubin`],
      }).output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      assert((await Deno.stat(`${dir}/k.cubin`)).size > 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
