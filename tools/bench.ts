// `deno task bench`: times the engine's hot ops and, when /usr/bin/python3 has torch, the
// same ops under PyTorch CPU with the same thread count. PyTorch runs as a worker process
// and the two sides alternate single iterations, so both see the same host load; best
// and median times are printed, and the ratio of the best times.
// `--help` lists the flags; LFDIFF_TF32=1 allows TF32 on both sides on a GPU.

import * as T from "../ops/mod.ts";
import { gemmProvider } from "../ops/cpu/gemm.ts";
import { findScenes, loadScene } from "../io/dataset.ts";
import { synthesizeScene, writeScene } from "../io/synth.ts";
import { saveLFDiff } from "../model/checkpoint.ts";
import { PAPER } from "../model/config.ts";
import { fuseBracket } from "../model/fuse.ts";
import { LFDiff } from "../model/lfdiff.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import { Trainer } from "../model/trainer.ts";
import { fail, flags, run } from "./cli.ts";
import { useDevice } from "./model_flags.ts";

const OPS = ["conv3x3_fwd_bwd", "conv3x3_fwd", "matmul_1024"] as const;
type Op = typeof OPS[number];

const best = (ts: number[]) => Math.min(...ts);
const median = (ts: number[]) => [...ts].sort((a, b) => a - b)[Math.floor(ts.length / 2)];

function timeMs(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

/**
 * Runs one of the optional PyTorch scripts beside this file and parses its JSON line; null
 * (after saying why) when there is no /usr/bin/python3 with torch or the script failed.
 */
async function torchScript<T>(
  name: string,
  args: string[],
  say: (s: string) => void,
): Promise<T | null> {
  try {
    const out = await new Deno.Command("/usr/bin/python3", {
      args: [new URL(`./${name}`, import.meta.url).pathname, ...args],
      env: { OMP_WAIT_POLICY: "PASSIVE" }, // idle OpenMP threads sleep instead of spinning
    }).output();
    if (out.success) return JSON.parse(new TextDecoder().decode(out.stdout));
    say(`PyTorch failed: ${new TextDecoder().decode(out.stderr).trim().split("\n").pop()}`);
  } catch {
    say("no /usr/bin/python3 with torch; ours only");
  }
  return null;
}

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

  /** null when /usr/bin/python3 or its torch is missing. */
  static async start(threads: number): Promise<TorchWorker | null> {
    const script = new URL("./bench_torch.py", import.meta.url).pathname;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command("/usr/bin/python3", {
        args: [script, String(threads)],
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
        // Idle OpenMP threads sleep instead of spinning on the cores our turn needs.
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

function ourOps(): Record<Op, { flops: number; fn: () => void }> {
  const rng = new T.Rng(0);
  const x = T.randn([1, 60, 256, 256], rng).requireGrad();
  const w = T.randn([60, 60, 3, 3], rng, { requiresGrad: true });
  const b = T.randn([60], rng, { requiresGrad: true });
  const g = T.randn([1, 60, 256, 256], rng);
  const a = T.randn([1024, 1024], rng), m = T.randn([1024, 1024], rng);
  const conv = 2 * 60 * 60 * 9 * 256 * 256;
  return {
    conv3x3_fwd_bwd: {
      flops: 3 * conv,
      fn: () =>
        T.scope(() => {
          for (const t of [x, w, b]) t.grad = null;
          T.conv2d(x, w, b, { padding: 1 }).backward(g);
        }),
    },
    conv3x3_fwd: {
      flops: conv,
      fn: () => T.scope(() => void T.noGrad(() => T.conv2d(x, w, b, { padding: 1 }))),
    },
    matmul_1024: {
      flops: 2 * 1024 ** 3,
      fn: () => T.scope(() => void T.noGrad(() => T.matmul(a, m))),
    },
  };
}

/**
 * Peak resident memory of this process so far, MiB (Linux). Deno lets only --allow-all
 * read /proc/<own pid>, so /bin/cat reads it for us.
 */
async function peakMiB(): Promise<number | null> {
  try {
    const out = await new Deno.Command("/bin/cat", {
      args: [`/proc/${Deno.pid}/status`],
      stderr: "null",
    }).output();
    const m = /VmHWM:\s+(\d+) kB/.exec(new TextDecoder().decode(out.stdout));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function benchInfer(size: string, json: boolean, threads: number): Promise<void> {
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (!m) fail("bench", `--infer takes WxH, got ${size}`);
  const say = (s: string) => json || console.error(`bench: ${s}`);
  const dir = await Deno.makeTempDir();
  try {
    say(`synthesising a ${size} bracket and a paper-config s2 checkpoint with random weights`);
    await writeScene(
      `${dir}/scene`,
      synthesizeScene({ width: Number(m[1]), height: Number(m[2]), seed: 3 }),
    );
    const model = new LFDiff(PAPER, new T.Rng(0));
    await saveLFDiff(`${dir}/s2.safetensors`, model);
    const scene = await loadScene((await findScenes(`${dir}/scene`))[0]);
    const before = await peakMiB();
    say("ours: running");
    const t0 = performance.now();
    const { timings } = fuseBracket(model, scene.ldrs, {
      evs: scene.evs,
      seed: 0,
      onProgress: (w, d, n) => say(`ours: ${w} ${d}/${n}`),
    });
    const ours = {
      seconds: (performance.now() - t0) / 1000,
      prior: timings.prior / 1000,
      reconstruction: timings.reconstruction / 1000,
      peakMiB: await peakMiB(),
      peakBeforeMiB: before,
    };
    say(`ours: ${ours.seconds.toFixed(1)} s; PyTorch: running`);
    const torch = await torchScript<Record<string, number | string>>(
      "bench_infer_torch.py",
      [`${dir}/s2.safetensors`, `${dir}/scene`, String(threads), T.defaultDevice()],
      say,
    );
    const report = {
      size,
      ours,
      torch,
      ratio: torch ? ours.seconds / (torch.seconds as number) : null,
    };
    if (json) return console.log(JSON.stringify(report));
    const f = (v: unknown, d = 1) => (typeof v === "number" ? v.toFixed(d) : "—");
    console.log(`LF-Diff s2 (paper config) inference on ${size}, ${threads} threads`);
    console.log(
      `ours:    ${f(ours.seconds)} s (prior ${f(ours.prior)} s, reconstruction ${
        f(ours.reconstruction)
      } s), peak RSS ${f(ours.peakMiB, 0)} MiB`,
    );
    if (torch) {
      console.log(
        `PyTorch: ${f(torch.seconds)} s (prior ${f(torch.prior)} s, reconstruction ${
          f(torch.reconstruction)
        } s), peak RSS ${f(torch.peakMiB, 0)} MiB (torch ${torch.torch})`,
      );
      console.log(
        `ours/PyTorch: time ${f(report.ratio, 2)}, peak memory ${
          f((ours.peakMiB ?? NaN) / (torch.peakMiB as number), 2)
        }`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function benchTrainStep(
  json: boolean,
  threads: number,
  iters: number,
  batchSize: number,
): Promise<void> {
  const say = (s: string) => json || console.error(`bench: ${s}`);
  const dir = await Deno.makeTempDir();
  try {
    const rng = new T.Rng(4);
    const model = new LFDiff({ ...PAPER, variant: "s1" }, rng);
    await saveLFDiff(`${dir}/s1.safetensors`, model);
    const batch = new Map(
      ["x1", "x2", "x3", "gt"].map((
        k,
      ) => [k, {
        shape: [batchSize, k === "gt" ? 3 : 6, 128, 128],
        data: rng.uniform(batchSize * (k === "gt" ? 3 : 6) * 128 * 128),
      }]),
    );
    await writeSafetensors(`${dir}/batch.safetensors`, batch);
    const trainer = new Trainer(model, {
      stage: 1,
      lr: 1e-4,
      lrStepEpochs: 50,
      lrGamma: 0.1,
      lambda: 0,
      seed: 0,
    });
    const b = {
      x: ["x1", "x2", "x3"].map((k) => T.tensor(batch.get(k)!.data, batch.get(k)!.shape)) as [
        T.Tensor,
        T.Tensor,
        T.Tensor,
      ],
      gt: T.tensor(batch.get("gt")!.data, batch.get("gt")!.shape),
    };
    const times: number[] = [];
    for (let i = 0; i <= iters; i++) {
      const t = performance.now();
      trainer.trainStep([b]);
      if (i > 0) times.push((performance.now() - t) / 1000);
      say(`ours: step ${i + 1}/${iters + 1}`);
    }
    const ours = { best: Math.min(...times), median: median(times), peakMiB: await peakMiB() };
    say("PyTorch: running");
    const torch = await torchScript<{ times: number[]; peakMiB: number; torch: string }>(
      "bench_train_torch.py",
      [
        `${dir}/s1.safetensors`,
        `${dir}/batch.safetensors`,
        String(threads),
        String(iters),
        T.defaultDevice(),
      ],
      say,
    );
    const theirs = torch
      ? { best: Math.min(...torch.times), median: median(torch.times), peakMiB: torch.peakMiB }
      : null;
    const report = { ours, torch: theirs, ratio: theirs ? ours.median / theirs.median : null };
    if (json) return console.log(JSON.stringify(report));
    const f = (v: number | null | undefined, d = 2) => (typeof v === "number" ? v.toFixed(d) : "—");
    console.log(
      `stage-1 training step, paper config, batch ${batchSize} of 128x128 on ${T.defaultDevice()}, ${threads} threads, ${iters} timed steps`,
    );
    console.log(
      `ours:    median ${f(ours.median)} s, best ${f(ours.best)} s, peak RSS ${
        f(ours.peakMiB, 0)
      } MiB`,
    );
    if (theirs) {
      console.log(
        `PyTorch: median ${f(theirs.median)} s, best ${f(theirs.best)} s, peak RSS ${
          f(theirs.peakMiB, 0)
        } MiB`,
      );
    }
    if (theirs) console.log(`ours/PyTorch (median): ${f(report.ratio)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

await run("bench", async () => {
  const { values } = flags("bench", {
    iters: { type: "string", default: "12", arg: "N", help: "timed iterations per op" },
    infer: {
      type: "string",
      arg: "WxH",
      help: "instead: one LF-Diff inference (paper config, s2) of that size, with peak memory",
    },
    "train-step": {
      type: "boolean",
      help: "instead: one stage-1 training step (paper config, --batch crops of 128×128)",
    },
    batch: { type: "string", default: "4", arg: "N", help: "crops per training step" },
    device: { type: "string", default: "cpu", arg: "cpu|cuda", help: "where both sides run" },
    json: { type: "boolean", help: "machine-readable output" },
  }, {
    usage: ["[--iters N]", "--infer WxH", "--train-step [--batch N]"],
    about:
      "Times the engine's hot ops and whole-model work beside PyTorch (when /usr/bin/python3\n" +
      "has torch, with the same thread count); the two sides alternate iterations so both see\n" +
      "the same load. Prints best and median times and their ratio.",
    examples: ["", "--infer 1500x1000", "--train-step --batch 4 --iters 3"],
  });
  useDevice(values.device!);
  if (values["train-step"]) {
    const threads = Number(/\((\d+) threads\)/.exec(gemmProvider().describe)?.[1] ?? 1);
    return await benchTrainStep(
      values.json!,
      threads,
      Math.min(Number(values.iters), 5),
      Number(values.batch),
    );
  }
  if (values.infer) {
    const threads = Number(/\((\d+) threads\)/.exec(gemmProvider().describe)?.[1] ?? 1);
    return await benchInfer(values.infer, values.json!, threads);
  }
  const iters = Number(values.iters);
  if (!(iters >= 1)) throw new Error(`--iters must be a positive number, got ${values.iters}`);
  const blas = gemmProvider();
  const threads = Number(/\((\d+) threads\)/.exec(blas.describe)?.[1] ?? 1);
  const say = (s: string) => values.json || console.error(s);
  say(`bench: GEMM ${blas.describe}; ${iters} alternating iterations per op`);

  const ops = ourOps();
  const torch = await TorchWorker.start(threads);
  if (!torch) say("bench: no PyTorch at /usr/bin/python3; timing ours only");
  const summary = [];
  for (const op of OPS) {
    const ours: number[] = [], theirs: number[] = [];
    for (let i = -2; i < iters; i++) { // two warm-up iterations each
      const t = timeMs(ops[op].fn);
      const u = torch ? await torch.time(op) : NaN;
      if (i < 0) continue;
      ours.push(t);
      if (torch) theirs.push(u);
    }
    summary.push({
      op,
      bestMs: best(ours),
      medianMs: median(ours),
      gflops: ops[op].flops / (best(ours) * 1e6),
      torchBestMs: torch ? best(theirs) : null,
      torchMedianMs: torch ? median(theirs) : null,
      ratio: torch ? best(ours) / best(theirs) : null,
    });
    say(`bench: ${op} done`);
  }
  await torch?.close();
  if (values.json) {
    console.log(
      JSON.stringify({
        gemm: blas.describe,
        threads,
        torch: torch?.version ?? null,
        rows: summary,
      }),
    );
    return;
  }
  const f = (v: number | null, d = 1) => (v === null ? "—" : v.toFixed(d));
  const cols = [
    "op".padEnd(16),
    "best ms",
    "median",
    "GFLOP/s",
    "torch best",
    "median",
    "ours/torch",
  ];
  console.log(cols.map((c, i) => (i ? c.padStart(10) : c)).join(" "));
  for (const s of summary) {
    console.log(
      [
        s.op.padEnd(16),
        f(s.bestMs).padStart(10),
        f(s.medianMs).padStart(10),
        f(s.gflops).padStart(10),
        f(s.torchBestMs).padStart(10),
        f(s.torchMedianMs).padStart(10),
        f(s.ratio, 2).padStart(10),
      ].join(" "),
    );
  }
  console.log(torch ? `(PyTorch ${torch.version} CPU, ${threads} threads)` : "(ours only)");
});
