// `deno task bench`: times the engine's hot ops and, when /usr/bin/python3 has torch, the
// same ops under PyTorch CPU with the same thread count. PyTorch runs as a worker process
// and the two sides alternate single iterations, so both see the same host load; best
// and median times are printed, and the ratio of the best times.
//   --iters N   timed iterations per op   --json   machine-readable output

import * as T from "../ops/mod.ts";
import { gemmProvider } from "../ops/cpu/gemm.ts";
import { flags, run } from "./cli.ts";

const OPS = ["conv3x3_fwd_bwd", "conv3x3_fwd", "matmul_1024"] as const;
type Op = typeof OPS[number];

const best = (ts: number[]) => Math.min(...ts);
const median = (ts: number[]) => [...ts].sort((a, b) => a - b)[Math.floor(ts.length / 2)];

function timeMs(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
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

await run("bench", async () => {
  const { values } = flags("bench", {
    iters: { type: "string", default: "12" },
    json: { type: "boolean", default: false },
  });
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
