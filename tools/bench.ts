// `deno task bench`: our two CPU paths (oneDNN and OpenBLAS) beside PyTorch, in one run.
//   ops (default): a 3×3 conv 60→60 on 1×60×256² (forward, forward+backward) and a 1024²
//     matmul, the three sides alternating single iterations so all see the same load.
//   --infer WxH: one LF-Diff s2 inference per side, each in a fresh process (so each has its
//     own peak memory), the sides interleaved over --runs rounds; medians.
//   --train-step: the same for a stage-1 training step (forward, backward, Adam).
// `--profile` splits our inference time by backend primitive. On --device cuda both sides
// run on the GPU (LFDIFF_TF32=1 allows TF32 on both). `--help` lists the flags.

import * as T from "../ops/mod.ts";
import { findScenes, loadScene } from "../datasets/dataset.ts";
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import { synthesizeScene, writeScene } from "../datasets/synth.ts";
import { loadLFDiff, saveLFDiff } from "../model/checkpoint.ts";
import { fuseBracket } from "../model/fuse.ts";
import { LFDiff } from "../model/lfdiff.ts";
import { Trainer } from "../model/trainer.ts";
import { fail, flags, run } from "./cli.ts";
import { configNamed, useDevice } from "./model_flags.ts";

const OPS = ["conv3x3_fwd_bwd", "conv3x3_fwd", "matmul_1024"] as const;
type Op = typeof OPS[number];

const median = (ts: number[]) => [...ts].sort((a, b) => a - b)[Math.floor(ts.length / 2)];
const threads = () => {
  try {
    return Number(Deno.env.get("OMP_NUM_THREADS")) || navigator.hardwareConcurrency;
  } catch {
    return navigator.hardwareConcurrency;
  }
};
const PYTHON = "/usr/bin/python3";

function timeMs(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

/** Peak resident memory of this process, MiB (Linux VmHWM; /bin/cat reads it for us). */
async function peakMiB(): Promise<number | null> {
  try {
    const out = await new Deno.Command("/bin/cat", { args: [`/proc/${Deno.pid}/status`] })
      .output();
    const m = /VmHWM:\s+(\d+) kB/.exec(new TextDecoder().decode(out.stdout));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Runs a command to its JSON line on stdout, or null (after saying why) when it fails. */
async function jsonOf<R>(cmd: string, args: string[], say: (s: string) => void): Promise<R | null> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      env: { OMP_WAIT_POLICY: "PASSIVE" }, // idle OpenMP threads sleep instead of spinning
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
    if (out.success) return JSON.parse(text);
    say(
      `${cmd.split("/").pop()} failed: ${
        new TextDecoder().decode(out.stderr).trim().split("\n").pop()
      }`,
    );
  } catch (e) {
    say(`${cmd}: ${(e as Error).message}`);
  }
  return null;
}

const script = (name: string) => new URL(`./${name}`, import.meta.url).pathname;

/** This tool again, as a worker for one side. */
const ourWorker = (args: string[]) =>
  jsonOf<Record<string, unknown>>(Deno.execPath(), [
    "run",
    "--allow-ffi",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-run",
    script("bench.ts"),
    ...args,
  ], (s) => console.error(`bench: ${s}`));

// ---- ops ----

/** PyTorch worker: runs one named op per request. */
class TorchWorker {
  #lines: AsyncIterator<string>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #child: Deno.ChildProcess;
  version = "";

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter())
      [Symbol.asyncIterator]();
  }

  static async start(n: number): Promise<TorchWorker | null> {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(PYTHON, {
        args: [script("bench_torch.py"), String(n)],
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
        env: { OMP_WAIT_POLICY: "PASSIVE" },
      }).spawn();
    } catch {
      return null;
    }
    const w = new TorchWorker(child);
    const head = await w.#lines.next();
    if (head.done) {
      await w.close();
      return null;
    }
    w.version = JSON.parse(head.value).torch;
    return w;
  }

  async time(op: Op): Promise<number> {
    await this.#writer.write(new TextEncoder().encode(op + "\n"));
    const r = await this.#lines.next();
    if (r.done) throw new Error(`PyTorch worker stopped while running ${op}`);
    return Number(r.value);
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#child.status;
  }
}

function lineSplitter(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, ctl) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) ctl.enqueue(p);
    },
  });
}

function ourOps(device: string): Record<Op, () => void> {
  const rng = new T.Rng(0), o = { device };
  const x = T.randn([1, 60, 256, 256], rng, o).requireGrad();
  const w = T.randn([60, 60, 3, 3], rng, { ...o, requiresGrad: true });
  const b = T.randn([60], rng, { ...o, requiresGrad: true });
  const g = T.randn([1, 60, 256, 256], rng, o);
  const a = T.randn([1024, 1024], rng, o), m = T.randn([1024, 1024], rng, o);
  return {
    conv3x3_fwd_bwd: () =>
      T.scope(() => {
        for (const t of [x, w, b]) {
          t.grad?.dispose(); // as PyTorch frees a dropped gradient at once
          t.grad = null;
        }
        T.conv2d(x, w, b, { padding: 1 }).backward(g);
      }),
    conv3x3_fwd: () => T.scope(() => void T.noGrad(() => T.conv2d(x, w, b, { padding: 1 }))),
    matmul_1024: () => T.scope(() => void T.noGrad(() => T.matmul(a, m))),
  };
}

async function benchOps(iters: number, json: boolean): Promise<void> {
  const say = (s: string) => json || console.error(`bench: ${s}`);
  const devices = ["cpu-dnnl", "cpu-openblas"];
  const ours = devices.map(ourOps);
  const torch = await TorchWorker.start(threads());
  if (!torch) say(`no PyTorch at ${PYTHON}; timing ours only`);
  const rows = [];
  for (const op of OPS) {
    const times = devices.map(() => [] as number[]), theirs: number[] = [];
    for (let i = -2; i < iters; i++) { // two warm-up iterations each
      const t = ours.map((o) => timeMs(o[op]));
      const u = torch ? await torch.time(op) : NaN;
      if (i < 0) continue;
      t.forEach((v, k) => times[k].push(v));
      theirs.push(u);
    }
    const tm = torch ? median(theirs) : null;
    rows.push({
      op,
      ...Object.fromEntries(devices.map((d, k) => [d, median(times[k])])),
      torch: tm,
      ratios: Object.fromEntries(devices.map((d, k) => [d, tm ? median(times[k]) / tm : null])),
    });
    say(`${op} done`);
  }
  await torch?.close();
  if (json) return console.log(JSON.stringify({ threads: threads(), torch: torch?.version, rows }));
  const f = (v: number | null | undefined, d = 1) => (typeof v === "number" ? v.toFixed(d) : "—");
  console.log(
    `median ms of ${iters} alternating iterations, ${threads()} threads (PyTorch ${
      torch?.version ?? "absent"
    })`,
  );
  console.log(
    ["op".padEnd(16), "oneDNN", "OpenBLAS", "PyTorch", "oneDNN/PT", "OpenBLAS/PT"]
      .map((c, i) => (i ? c.padStart(11) : c)).join(" "),
  );
  for (const r of rows) {
    console.log(
      [
        r.op.padEnd(16),
        f(r["cpu-dnnl" as keyof typeof r] as number),
        f(r["cpu-openblas" as keyof typeof r] as number),
        f(r.torch),
        f(r.ratios["cpu-dnnl"], 2),
        f(r.ratios["cpu-openblas"], 2),
      ].map((c, i) => (i ? c.padStart(11) : c)).join(" "),
    );
  }
}

// ---- whole-model runs: one side per process ----

interface Side {
  name: string;
  run: () => Promise<Record<string, unknown> | null>;
}

/** Interleaves `runs` rounds of every side; per side the list of results. */
async function rounds(sides: Side[], runs: number, say: (s: string) => void) {
  const results = new Map<string, Record<string, unknown>[]>(sides.map((s) => [s.name, []]));
  for (let r = 0; r < runs; r++) {
    for (const s of sides) {
      say(`round ${r + 1}/${runs}: ${s.name}`);
      const out = await s.run();
      if (out) results.get(s.name)!.push(out);
    }
  }
  return results;
}

function table(
  title: string,
  results: Map<string, Record<string, unknown>[]>,
  cols: [string, string][],
  json: boolean,
): void {
  const med = (name: string, key: string) => {
    const v = results.get(name)!.map((r) => r[key]).filter((x) => typeof x === "number");
    return v.length ? median(v as number[]) : null;
  };
  const rows = [...results.keys()].map((name) => ({
    side: name,
    runs: results.get(name)!.length,
    ...Object.fromEntries(cols.map(([k]) => [k, med(name, k)])),
  }));
  const torch = rows.find((r) => r.side === "PyTorch") as Record<string, number | null> | undefined;
  if (json) {
    return console.log(JSON.stringify({ title, rows, results: Object.fromEntries(results) }));
  }
  console.log(title);
  console.log(
    ["side".padEnd(14), "runs", ...cols.map(([, h]) => h), "time/PT", "memory/PT"]
      .map((c, i) => (i ? c.padStart(12) : c)).join(" "),
  );
  for (const r of rows as Record<string, number | string | null>[]) {
    const ratio = (k: string) =>
      torch?.[k] && typeof r[k] === "number"
        ? ((r[k] as number) / (torch[k] as number)).toFixed(2)
        : "—";
    console.log(
      [
        String(r.side).padEnd(14),
        String(r.runs),
        ...cols.map(([k]) => (typeof r[k] === "number" ? (r[k] as number).toFixed(2) : "—")),
        ratio(cols[0][0]),
        ratio("peakMiB"),
      ].map((c, i) => (i ? c.padStart(12) : c)).join(" "),
    );
  }
}

/** Wraps the default backend to time every primitive, for --profile. */
function profiled(device: string): Map<string, number> {
  const times = new Map<string, number>();
  const inner = T.getBackend(device);
  T.registerBackend("profiled", () =>
    Object.fromEntries(
      Object.entries(inner).map(([k, v]) => [
        k,
        typeof v === "function"
          ? (...a: unknown[]) => {
            const t = performance.now();
            const r = v(...a);
            const g = a[0] as { groups?: number; kh?: number };
            const key = k.startsWith("conv2d")
              ? `${k} ${g.groups! > 1 ? "depthwise" : `${g.kh}×${g.kh}`}`
              : k === "unary" || k === "unaryBackward" || k === "binary"
              ? `${k} ${a[0]}`
              : k;
            times.set(key, (times.get(key) ?? 0) + performance.now() - t);
            return r;
          }
          : k === "name"
          ? "profiled"
          : v,
      ]),
    ) as unknown as T.Backend);
  T.setDefaultDevice("profiled");
  return times;
}

/** Each primitive's share of `totalMs`. */
const shares = (times: Map<string, number>, totalMs: number) =>
  Object.fromEntries([...times].map(([k, ms]) => [k, ms / totalMs]));

/** Each side's first run split by backend primitive (shares of at least 0.5%). */
function printProfiles(
  results: Map<string, Record<string, unknown>[]>,
  sides: string[],
  what: string,
): void {
  for (const d of sides) {
    const p = results.get(d)![0]?.profile as Record<string, number> | undefined;
    if (!p) continue;
    console.log(`${d}: share of ${what} by primitive`);
    for (const [k, s] of Object.entries(p).sort((a, b) => b[1] - a[1])) {
      if (s >= 0.005) console.log(`  ${k.padEnd(28)} ${(100 * s).toFixed(1).padStart(5)}%`);
    }
  }
}

async function inferSide(v: Record<string, string | undefined>, device: string): Promise<void> {
  useDevice(device);
  const times = v.profile ? profiled(device) : null;
  const model = await loadLFDiff(v.weights!);
  const scene = await loadScene((await findScenes(v.scene!))[0]);
  const t0 = performance.now();
  const { timings } = fuseBracket(model, scene.ldrs, { evs: scene.evs, seed: 0, tile: 0 });
  const total = performance.now() - t0;
  console.log(JSON.stringify({
    seconds: total / 1000,
    prior: timings.prior / 1000,
    reconstruction: timings.reconstruction / 1000,
    peakMiB: await peakMiB(),
    profile: times ? shares(times, total) : undefined,
  }));
}

async function trainSide(v: Record<string, string | undefined>, device: string): Promise<void> {
  useDevice(device);
  const profile = v.profile ? profiled(device) : null;
  const model = await loadLFDiff(v.weights!);
  const batch = (await readSafetensors(v.crops!)).tensors;
  const tensor = (k: string) => T.tensor(batch.get(k)!.data, batch.get(k)!.shape);
  const trainer = new Trainer(model, {
    stage: 1,
    lr: 1e-4,
    lrStepEpochs: 50,
    lrGamma: 0.1,
    lambda: 0,
    seed: 0,
  });
  const b = {
    x: [tensor("x1"), tensor("x2"), tensor("x3")] as [T.Tensor, T.Tensor, T.Tensor],
    gt: tensor("gt"),
  };
  const times: number[] = [];
  for (let i = 0; i <= Number(v.iters); i++) {
    if (i === 1) profile?.clear(); // the first step builds primitives and caches
    const t = performance.now();
    trainer.trainStep([b]);
    if (i > 0) times.push((performance.now() - t) / 1000);
  }
  const total = 1000 * times.reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({
    seconds: median(times),
    times,
    peakMiB: await peakMiB(),
    profile: profile ? shares(profile, total) : undefined,
  }));
}

await run("bench", async () => {
  const { values } = flags("bench", {
    iters: {
      type: "string",
      default: "12",
      arg: "N",
      help: "timed iterations (ops), steps (--train-step)",
    },
    infer: { type: "string", arg: "WxH", help: "instead: LF-Diff s2 inference on a WxH bracket" },
    "train-step": {
      type: "boolean",
      help: "instead: a stage-1 training step on --batch crops of 128×128",
    },
    config: {
      type: "string",
      default: "paper",
      arg: "NAME",
      help: "model configuration (--infer, --train-step)",
    },
    batch: { type: "string", default: "4", arg: "N", help: "crops per training step" },
    runs: {
      type: "string",
      default: "3",
      arg: "R",
      help: "interleaved rounds (--infer, --train-step)",
    },
    profile: {
      type: "boolean",
      help: "our time split by backend primitive (--infer, --train-step)",
    },
    device: { type: "string", default: "cpu", arg: "cpu|cuda", help: "where the sides run" },
    json: { type: "boolean", help: "machine-readable output" },
    side: { type: "string", arg: "DEVICE", help: "(internal) run one of our sides once" },
    weights: { type: "string", arg: "FILE", help: "(internal) the worker's checkpoint" },
    scene: { type: "string", arg: "DIR", help: "(internal) the worker's scene" },
    crops: { type: "string", arg: "FILE", help: "(internal) the worker's training batch" },
  }, {
    usage: ["[--iters N]", "--infer WxH [--runs R] [--profile]", "--train-step [--batch N]"],
    about: "Times our CPU paths (oneDNN and OpenBLAS) beside PyTorch (when /usr/bin/python3 has\n" +
      "torch), with the same thread count, interleaved so every side sees the same load, and\n" +
      "prints medians, their ratios to PyTorch and peak memory.",
    examples: ["", "--infer 1024x1024 --runs 3", "--train-step --batch 4 --iters 3 --profile"],
  });
  const say = (s: string) => values.json || console.error(`bench: ${s}`);
  if (values.side) {
    const v = values as unknown as Record<string, string | undefined>;
    return values.infer ? await inferSide(v, values.side) : await trainSide(v, values.side);
  }
  const iters = Number(values.iters), runs = Number(values.runs);
  if (!(iters >= 1 && runs >= 1)) fail("bench", "--iters and --runs must be positive");
  if (!values.infer && !values["train-step"]) return await benchOps(iters, values.json);

  const cuda = values.device === "cuda";
  const ours = cuda ? ["cuda"] : ["cpu-dnnl", "cpu-openblas"];
  const torchDevice = cuda ? "cuda" : "cpu";
  const config = configNamed(values.config);
  const dir = await Deno.makeTempDir();
  try {
    if (values.infer) {
      const m = /^(\d+)x(\d+)$/.exec(values.infer);
      if (!m) fail("bench", `--infer takes WxH, got ${values.infer}`);
      say(`synthesising a ${values.infer} bracket and a ${values.config} s2 checkpoint`);
      await writeScene(
        `${dir}/scene`,
        synthesizeScene({ width: Number(m[1]), height: Number(m[2]), seed: 3 }),
      );
      await saveLFDiff(`${dir}/s2.safetensors`, new LFDiff(config, new T.Rng(0)));
      const w = [
        "--infer",
        values.infer,
        "--weights",
        `${dir}/s2.safetensors`,
        "--scene",
        `${dir}/scene`,
      ];
      const sides: Side[] = [
        ...ours.map((d) => ({
          name: d,
          run: () => ourWorker([...w, "--side", d, ...(values.profile ? ["--profile"] : [])]),
        })),
        {
          name: "PyTorch",
          run: () =>
            jsonOf(PYTHON, [
              script("bench_infer_torch.py"),
              `${dir}/s2.safetensors`,
              `${dir}/scene`,
              String(threads()),
              torchDevice,
            ], say),
        },
      ];
      const results = await rounds(sides, runs, say);
      table(
        `LF-Diff s2 inference, ${values.config} config, ${values.infer}, ${threads()} threads, medians of ${runs} interleaved runs`,
        results,
        [["seconds", "seconds"], ["prior", "prior s"], ["reconstruction", "recon s"], [
          "peakMiB",
          "peak MiB",
        ]],
        values.json,
      );
      if (values.profile && !values.json) printProfiles(results, ours, "inference time");
      return;
    }
    const n = Number(values.batch);
    const rng = new T.Rng(4);
    await saveLFDiff(`${dir}/s1.safetensors`, new LFDiff({ ...config, variant: "s1" }, rng));
    await writeSafetensors(
      `${dir}/batch.safetensors`,
      new Map(["x1", "x2", "x3", "gt"].map((k) => {
        const shape = [n, k === "gt" ? 3 : 6, 128, 128];
        return [k, { shape, data: rng.uniform(shape.reduce((a, b) => a * b)) }];
      })),
    );
    const w = [
      "--train-step",
      "--weights",
      `${dir}/s1.safetensors`,
      "--crops",
      `${dir}/batch.safetensors`,
      "--iters",
      String(iters),
    ];
    const sides: Side[] = [
      ...ours.map((d) => ({
        name: d,
        run: () => ourWorker([...w, "--side", d, ...(values.profile ? ["--profile"] : [])]),
      })),
      {
        name: "PyTorch",
        run: async () => {
          const r = await jsonOf<{ times: number[]; peakMiB: number }>(PYTHON, [
            script("bench_train_torch.py"),
            `${dir}/s1.safetensors`,
            `${dir}/batch.safetensors`,
            String(threads()),
            String(iters),
            torchDevice,
          ], say);
          return r ? { seconds: median(r.times), times: r.times, peakMiB: r.peakMiB } : null;
        },
      },
    ];
    const results = await rounds(sides, runs, say);
    table(
      `stage-1 training step, ${values.config} config, batch ${n} of 128×128, ${threads()} threads, median step of ${iters} × ${runs} interleaved runs`,
      results,
      [["seconds", "step s"], ["peakMiB", "peak MiB"]],
      values.json,
    );
    if (values.profile && !values.json) printProfiles(results, ours, "training step time");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
