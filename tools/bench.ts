// `deno task bench`: our two CPU paths (oneDNN and OpenBLAS) beside PyTorch, in one run.
//   ops (default): a 3×3 conv 60→60 on 1×60×256² (forward, forward+backward) and a 1024²
//     matmul, the three sides alternating single iterations so all see the same load.
//   --infer WxH: one LF-Diff s2 inference per side, each in a fresh process (so each has its
//     own peak memory), the sides interleaved over --runs rounds; medians.
//   --train-step: the same for a stage-1 training step (forward, backward, Adam).
// PyTorch runs as its CPU users are told to run it: tcmalloc (or jemalloc) preloaded when
// installed (every side gets the same LD_PRELOAD, and each reports the allocator it ran on),
// the same threads, and the faster of NCHW and channels-last (both run; the table names the
// winner). --precision bf16 adds our bf16 side (cpu-dnnl-bf16) and PyTorch's bf16 autocast
// (PyTorch-bf16). `--profile` splits our time by backend primitive and gives the achieved
// GFLOP/s beside the machine's peak (peak.ts). On --device cuda both sides run on the GPU
// (LFDIFF_TF32=1 allows TF32 on both). `--help` lists the flags.

import * as T from "../ops/mod.ts";
import type { Conv2dGeometry, Gemm } from "../ops/backend.ts";
import { findScenes, loadScene } from "../datasets/dataset.ts";
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import { synthesizeScene, writeScene } from "../datasets/synth.ts";
import { loadLFDiff, saveLFDiff } from "../model/checkpoint.ts";
import { fuseBracket } from "../model/fuse.ts";
import { LFDiff } from "../model/lfdiff.ts";
import { Trainer } from "../model/trainer.ts";
import { fail, flags, run } from "./cli.ts";
import { cpuPeak } from "./cpu_peak.ts";
import { configNamed, useDevice, usePrecision } from "./model_flags.ts";
import { readProc } from "./proc.ts";

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

/** The allocators PyTorch's CPU guidance names, in order of preference, and where to look. */
const ALLOCATORS = ["libtcmalloc_minimal.so.4", "libtcmalloc.so.4", "libjemalloc.so.2"];
const LIB_DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
  "/usr/local/lib",
];

/** Environment of every side's process: sleeping OpenMP threads, and the preloaded malloc. */
const sideEnv: Record<string, string> = { OMP_WAIT_POLICY: "PASSIVE" };

/** Chooses what `--allocator` asks for (auto: the first of ALLOCATORS installed). */
function setAllocator(choice: string, say: (s: string) => void): void {
  const exists = (p: string) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  };
  let lib: string | undefined;
  if (choice === "auto") {
    lib = ALLOCATORS.flatMap((a) => LIB_DIRS.map((d) => `${d}/${a}`)).find(exists);
    if (!lib) say("no tcmalloc or jemalloc installed: every side runs on glibc's malloc");
  } else if (choice !== "glibc") {
    if (!exists(choice)) fail("bench", `--allocator ${choice}: no such file`);
    lib = choice;
  }
  if (lib) sideEnv.LD_PRELOAD = lib;
}

/**
 * The precisions whose sides run: `--precision` resolved against the CPU (bf16 needs
 * oneDNN's avx512_core_bf16; without it bf16 is dropped, said in one line).
 */
function sidePrecisions(flag: string, cuda: boolean, say: (s: string) => void): string[] {
  if (!["fp32", "bf16", "auto"].includes(flag)) {
    fail("bench", `--precision must be fp32, bf16 or auto, got ${flag}`);
  }
  if (flag === "fp32") return ["fp32"];
  let bf16 = false;
  try {
    bf16 = !cuda && T.getBackend("cpu-dnnl").bf16 === true;
  } catch { /* no oneDNN: fp32 only */ }
  if (bf16) return flag === "bf16" ? ["bf16"] : ["fp32", "bf16"];
  say(
    `no bf16 sides: ${
      cuda ? "the CUDA backend is fp32" : "this CPU lacks oneDNN's avx512_core_bf16"
    }; fp32 only`,
  );
  return ["fp32"];
}

function timeMs(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

/** Peak resident memory of this process, MiB (Linux VmHWM). */
async function peakMiB(): Promise<number | null> {
  const m = /VmHWM:\s+(\d+) kB/.exec(await readProc("/proc/self/status") ?? "");
  return m ? Number(m[1]) / 1024 : null;
}

/** Runs a command to its JSON line on stdout, or null (after saying why) when it fails. */
async function jsonOf<R>(cmd: string, args: string[], say: (s: string) => void): Promise<R | null> {
  try {
    const out = await new Deno.Command(cmd, { args, env: sideEnv }).output();
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

/** How this tool runs itself (as a side's worker, or under the preloaded allocator). */
const SELF = [
  "run",
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  script("bench.ts"),
];

/** This tool again, as a worker for one side. */
const ourWorker = (args: string[]) =>
  jsonOf<Record<string, unknown>>(
    Deno.execPath(),
    [...SELF, ...args],
    (s) => console.error(`bench: ${s}`),
  );

// ---- ops ----

/** PyTorch worker: runs one named op per request. */
class TorchWorker {
  #lines: AsyncIterator<string>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #child: Deno.ChildProcess;
  version = "";
  allocator = "";

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
        env: sideEnv,
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
    ({ torch: w.version, allocator: w.allocator } = JSON.parse(head.value));
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
  const allocators = { ours: await allocatorHere(), PyTorch: torch?.allocator };
  if (json) {
    return console.log(
      JSON.stringify({ threads: threads(), torch: torch?.version, allocators, rows }),
    );
  }
  const f = (v: number | null | undefined, d = 1) => (typeof v === "number" ? v.toFixed(d) : "—");
  console.log(
    `median ms of ${iters} alternating iterations, ${threads()} threads (PyTorch ${
      torch ? `${torch.version} on ${torch.allocator}` : "absent"
    }; ours in this process on ${allocators.ours})`,
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

type Row = Record<string, unknown> & { side: string; runs: number };

/**
 * One row per side: medians of `cols`, the allocator and precision it ran with. PyTorch ran
 * once per memory format (sides "PyTorch nchw", "PyTorch channels-last", and the same with
 * -bf16); its row is the faster format's, naming it and every format's median.
 */
function summarise(results: Map<string, Record<string, unknown>[]>, cols: string[]): Row[] {
  const med = (runs: Record<string, unknown>[], key: string) => {
    const v = runs.map((r) => r[key]).filter((x) => typeof x === "number") as number[];
    return v.length ? median(v) : null;
  };
  const rowOf = (side: string, runs: Record<string, unknown>[]): Row => ({
    side,
    runs: runs.length,
    ...Object.fromEntries(cols.map((k) => [k, med(runs, k)])),
    /** The first column per round, in order, for ratios paired within a round. */
    perRound: runs.map((r) => r[cols[0]]),
    allocator: runs[0]?.allocator ?? null,
    precision: runs[0]?.precision ?? null,
  });
  const rows: Row[] = [];
  const torch = new Map<string, Row[]>();
  for (const [name, runs] of results) {
    const m = /^(PyTorch(?:-bf16)?) (.*)$/.exec(name);
    if (!m) rows.push(rowOf(name, runs));
    else {
      const row = {
        ...rowOf(m[1], runs),
        format: m[2],
        precision: m[1] === "PyTorch" ? "fp32" : "bf16",
      };
      torch.set(m[1], [...torch.get(m[1]) ?? [], row]);
    }
  }
  for (const [side, byFormat] of torch) {
    const ran = byFormat.filter((r) => typeof r[cols[0]] === "number");
    const best = ran.sort((a, b) => (a[cols[0]] as number) - (b[cols[0]] as number))[0] ??
      byFormat[0];
    rows.push({
      ...best,
      side,
      formats: Object.fromEntries(byFormat.map((r) => [r.format, r[cols[0]]])),
    });
  }
  return rows;
}

/** The PyTorch row a side is measured against: the one of its precision. */
const anchorOf = (rows: Row[], r: Row) =>
  rows.find((t) => t.side === (r.precision === "bf16" ? "PyTorch-bf16" : "PyTorch"));

function table(title: string, rows: Row[], cols: [string, string][]): void {
  console.log(title);
  console.log(
    ["side".padEnd(14), "runs", ...cols.map(([, h]) => h), "allocator", "time/PT", "memory/PT"]
      .map((c, i) => (i ? c.padStart(11) : c)).join(" "),
  );
  for (const r of rows) {
    const pt = anchorOf(rows, r);
    const ratio = (k: string) =>
      typeof pt?.[k] === "number" && typeof r[k] === "number"
        ? ((r[k] as number) / (pt[k] as number)).toFixed(2)
        : "—";
    console.log(
      [
        r.side.padEnd(14),
        String(r.runs),
        ...cols.map(([k]) => (typeof r[k] === "number" ? (r[k] as number).toFixed(2) : "—")),
        String(r.allocator ?? "—"),
        ratio(cols[0][0]),
        ratio("peakMiB"),
      ].map((c, i) => (i ? c.padStart(11) : c)).join(" "),
    );
  }
  const key = cols[0][0];
  for (const r of rows.filter((r) => r.formats)) {
    const f = Object.entries(r.formats as Record<string, number | null>)
      .map(([k, v]) => `${k} ${typeof v === "number" ? v.toFixed(2) : "failed"}`).join(", ");
    const ran = Object.values(r.formats as Record<string, number | null>).some((v) => v !== null);
    console.log(
      ran
        ? `${r.side}: ${r.format} was faster (${key}: ${f}); time/PT and memory/PT use it`
        : `${r.side}: every format failed (${f}); no ratios against it`,
    );
  }
  const fp32 = rows.find((r) => r.side === "cpu-dnnl");
  const bf16 = rows.find((r) => r.side === "cpu-dnnl-bf16");
  if (typeof fp32?.[key] === "number" && typeof bf16?.[key] === "number") {
    const mem = typeof fp32.peakMiB === "number" && typeof bf16.peakMiB === "number"
      ? `, ${(bf16.peakMiB / fp32.peakMiB).toFixed(2)}× its peak memory`
      : "";
    // The machine's load drifts between rounds; within one the two sides ran back to back.
    const a = fp32.perRound as unknown[], b = bf16.perRound as unknown[];
    const paired = a.length > 1 && a.length === b.length &&
        [...a, ...b].every((v) => typeof v === "number")
      ? (b as number[]).map((v, i) => v / (a[i] as number))
      : null;
    const rounds = paired
      ? ` (per round ${Math.min(...paired).toFixed(2)}–${Math.max(...paired).toFixed(2)}, ` +
        `median ${median(paired).toFixed(2)})`
      : "";
    console.log(
      `cpu-dnnl-bf16 takes ${((bf16[key] as number) / (fp32[key] as number)).toFixed(2)}× ` +
        `cpu-dnnl's time${rounds}${mem}`,
    );
  }
}

/** FLOPs of a backend call: 2 per multiply-add of a conv pass or GEMM, 0 for the rest. */
function flopsOf(k: string, a: unknown[]): number {
  if (k.startsWith("conv2d")) {
    const g = a[0] as Conv2dGeometry;
    return 2 * g.n * g.cout * g.oh * g.ow * (g.cin / g.groups) * g.kh * g.kw;
  }
  if (k === "gemm") {
    const p = a[0] as Gemm;
    return 2 * p.m * p.n * p.k * p.batch;
  }
  return 0;
}

interface Profile {
  times: Map<string, number>;
  flops: Map<string, number>;
}

/** Wraps the default backend to time every primitive and count conv and GEMM FLOPs. */
function profiled(device: string): Profile {
  const times = new Map<string, number>(), flops = new Map<string, number>();
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
            const n = flopsOf(k, a);
            if (n) flops.set(key, (flops.get(key) ?? 0) + n);
            return r;
          }
          : k === "name"
          ? "profiled"
          : v,
      ]),
    ) as unknown as T.Backend);
  T.setDefaultDevice("profiled");
  return { times, flops };
}

/** A worker's profile: each primitive's share of `totalMs`, and the FLOPs it did. */
function report(p: Profile, totalMs: number, steps: number) {
  const sum = (m: Map<string, number>, conv: boolean) =>
    [...m].filter(([k]) => !conv || k.startsWith("conv2d")).reduce((n, [, v]) => n + v, 0);
  return {
    shares: Object.fromEntries([...p.times].map(([k, ms]) => [k, ms / totalMs])),
    convMs: sum(p.times, true) / steps,
    convFlops: sum(p.flops, true) / steps,
    flops: sum(p.flops, false) / steps,
  };
}

/** Each side's first run split by backend primitive (shares of at least 0.5%), and its rates. */
async function printProfiles(
  results: Map<string, Record<string, unknown>[]>,
  what: string,
  key: string,
): Promise<void> {
  const peak = await cpuPeak(threads());
  for (const [side, runs] of results) {
    const p = runs[0]?.profile as ReturnType<typeof report> | undefined;
    if (!p) continue;
    console.log(`${side}: share of ${what} by primitive`);
    for (const [k, s] of Object.entries(p.shares).sort((a, b) => b[1] - a[1])) {
      if (s >= 0.005) console.log(`  ${k.padEnd(28)} ${(100 * s).toFixed(1).padStart(5)}%`);
    }
    const seconds = median(runs.map((r) => r[key] as number));
    const rate = (flops: number, s: number) => flops / s / 1e9;
    const of = (gflops: number) =>
      peak
        ? ` (${(100 * gflops / peak.fp32).toFixed(0)}% of the fp32 peak${
          peak.bf16 ? `, ${(100 * gflops / peak.bf16).toFixed(0)}% of the bf16 peak` : ""
        })`
        : "";
    const conv = rate(p.convFlops, p.convMs / 1000), all = rate(p.flops, seconds);
    console.log(
      `  convolutions: ${(p.convFlops / 1e9).toFixed(1)} GFLOP in ${p.convMs.toFixed(0)} ms, ` +
        `${conv.toFixed(0)} GFLOP/s${of(conv)}`,
    );
    console.log(
      `  whole ${what}: ${(p.flops / 1e9).toFixed(1)} GFLOP (convs and GEMMs) in ` +
        `${seconds.toFixed(2)} s, ${all.toFixed(0)} GFLOP/s${of(all)}`,
    );
  }
  if (peak) {
    console.log(
      `peak: ${peak.formula} = ${peak.fp32.toFixed(0)} GFLOP/s fp32` +
        (peak.bf16 ? `, ${peak.bf16.toFixed(0)} bf16 (${peak.bf16From})` : ""),
    );
  }
}

/** This process's allocator, from its memory map (tcmalloc or jemalloc when preloaded). */
async function allocatorHere(): Promise<string> {
  const maps = await readProc("/proc/self/maps");
  if (maps === null) return "unknown";
  return ["tcmalloc", "jemalloc"].find((a) => maps.includes(`lib${a}`)) ?? "glibc";
}

async function inferSide(v: Record<string, string | undefined>, device: string): Promise<void> {
  useDevice(device);
  const profile = v.profile ? profiled(device) : null;
  const precision = usePrecision(v.precision!, (s) => console.error(`bench: ${s}`));
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
    allocator: await allocatorHere(),
    precision,
    profile: profile ? report(profile, total, 1) : undefined,
  }));
}

async function trainSide(v: Record<string, string | undefined>, device: string): Promise<void> {
  useDevice(device);
  const profile = v.profile ? profiled(device) : null;
  const precision = usePrecision(v.precision!, (s) => console.error(`bench: ${s}`));
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
    if (i === 1) { // the first step builds primitives and caches
      profile?.times.clear();
      profile?.flops.clear();
    }
    const t = performance.now();
    trainer.trainStep([b]);
    if (i > 0) times.push((performance.now() - t) / 1000);
  }
  const total = 1000 * times.reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({
    step: median(times),
    times,
    peakMiB: await peakMiB(),
    allocator: await allocatorHere(),
    precision,
    profile: profile ? report(profile, total, times.length) : undefined,
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
    precision: {
      type: "string",
      default: "auto",
      arg: "fp32|bf16|auto",
      help: "sides to run (--infer, --train-step): fp32 (cpu-dnnl, cpu-openblas, PyTorch), " +
        "bf16 (cpu-dnnl-bf16, PyTorch-bf16), auto (both where the CPU has bf16)",
    },
    "no-openblas": {
      type: "boolean",
      help:
        "leave out the cpu-openblas side (--infer, --train-step): 3–5× slower than the others, " +
        "most of a whole-model bench's time",
    },
    "torch-format": {
      type: "string",
      default: "best",
      arg: "nchw|channels-last|best",
      help: "PyTorch's memory format; best runs both and keeps the faster",
    },
    allocator: {
      type: "string",
      default: "auto",
      arg: "auto|glibc|FILE",
      help: "malloc preloaded (LD_PRELOAD) into every side's process: auto is tcmalloc or " +
        "jemalloc where installed, glibc none",
    },
    profile: {
      type: "boolean",
      help: "our time by backend primitive and GFLOP/s beside the CPU's peak",
    },
    device: { type: "string", default: "cpu", arg: "cpu|cuda", help: "where the sides run" },
    json: { type: "boolean", help: "machine-readable output" },
    side: { type: "string", arg: "DEVICE", help: "(internal) run one of our sides once" },
    weights: { type: "string", arg: "FILE", help: "(internal) the worker's checkpoint" },
    scene: { type: "string", arg: "DIR", help: "(internal) the worker's scene" },
    crops: { type: "string", arg: "FILE", help: "(internal) the worker's training batch" },
  }, {
    usage: [
      "[--iters N]",
      "--infer WxH [--runs R] [--precision P] [--profile]",
      "--train-step [--batch N] [--precision P] [--profile]",
    ],
    about: "Times our CPU paths (oneDNN and OpenBLAS, fp32 and bf16) beside PyTorch (when\n" +
      "/usr/bin/python3 has torch) as its users run it: tcmalloc preloaded, the same thread\n" +
      "count, the faster of NCHW and channels-last, bf16 through torch.autocast. Sides are\n" +
      "interleaved so all see the same load; prints medians, ratios to PyTorch of the same\n" +
      "precision, peak memory and each side's allocator.",
    examples: [
      "",
      "--infer 512x384 --config paper-literal --precision fp32",
      "--train-step --config small --batch 8 --iters 3 --profile",
    ],
  });
  const say = (s: string) => values.json || console.error(`bench: ${s}`);
  if (values.side) {
    const v = values as unknown as Record<string, string | undefined>;
    return values.infer ? await inferSide(v, values.side) : await trainSide(v, values.side);
  }
  const iters = Number(values.iters), runs = Number(values.runs);
  if (!(iters >= 1 && runs >= 1)) fail("bench", "--iters and --runs must be positive");
  setAllocator(values.allocator, say);
  if (!values.infer && !values["train-step"]) {
    // Our ops run in this process: it too gets the preloaded allocator, by running again.
    if (sideEnv.LD_PRELOAD && await allocatorHere() === "glibc") {
      const child = new Deno.Command(Deno.execPath(), {
        args: [...SELF, ...Deno.args],
        env: sideEnv,
      });
      Deno.exit((await child.spawn().status).code);
    }
    return await benchOps(iters, values.json);
  }

  const cuda = values.device === "cuda";
  const precisions = sidePrecisions(values.precision, cuda, say);
  const formats = values["torch-format"] === "best"
    ? ["nchw", "channels-last"]
    : [values["torch-format"]];
  if (!formats.every((f) => f === "nchw" || f === "channels-last")) {
    fail("bench", `--torch-format must be nchw, channels-last or best, got ${formats[0]}`);
  }
  const ours = precisions.flatMap((p) =>
    cuda ? [{ name: "cuda", device: "cuda", p }] : p === "fp32"
      ? [
        { name: "cpu-dnnl", device: "cpu-dnnl", p },
        ...(values["no-openblas"] ? [] : [{ name: "cpu-openblas", device: "cpu-openblas", p }]),
      ]
      : [{ name: "cpu-dnnl-bf16", device: "cpu-dnnl", p }]
  );
  const torchDevice = cuda ? "cuda" : "cpu";
  const config = configNamed(values.config);
  const dir = await Deno.makeTempDir();
  /** Our sides and PyTorch's (one per precision and memory format), for a worker's args. */
  const sidesFor = (ourArgs: string[], torch: (p: string, f: string) => Side["run"]): Side[] => [
    ...ours.map((o) => ({
      name: o.name,
      run: () =>
        ourWorker([
          ...ourArgs,
          "--side",
          o.device,
          "--precision",
          o.p,
          ...(values.profile ? ["--profile"] : []),
        ]),
    })),
    ...precisions.flatMap((p) =>
      formats.map((f) => ({ name: `PyTorch${p === "bf16" ? "-bf16" : ""} ${f}`, run: torch(p, f) }))
    ),
  ];
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
      const sides = sidesFor(w, (p, f) => () =>
        jsonOf(PYTHON, [
          script("bench_infer_torch.py"),
          `${dir}/s2.safetensors`,
          `${dir}/scene`,
          String(threads()),
          torchDevice,
          "--precision",
          p,
          "--format",
          f,
        ], say));
      const results = await rounds(sides, runs, say);
      const cols: [string, string][] = [["seconds", "seconds"], ["prior", "prior s"], [
        "reconstruction",
        "recon s",
      ], ["peakMiB", "peak MiB"]];
      const rows = summarise(results, cols.map(([k]) => k));
      const title =
        `LF-Diff s2 inference, ${values.config} config, ${values.infer}, ${threads()} ` +
        `threads, medians of ${runs} interleaved runs`;
      if (values.json) {
        return console.log(JSON.stringify({ title, rows, results: Object.fromEntries(results) }));
      }
      table(title, rows, cols);
      if (values.profile) await printProfiles(results, "inference", "seconds");
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
    const sides = sidesFor(w, (p, f) => async () => {
      const r = await jsonOf<{ times: number[]; peakMiB: number; allocator: string }>(PYTHON, [
        script("bench_train_torch.py"),
        `${dir}/s1.safetensors`,
        `${dir}/batch.safetensors`,
        String(threads()),
        String(iters),
        torchDevice,
        "--precision",
        p,
        "--format",
        f,
      ], say);
      return r ? { ...r, step: median(r.times) } : null;
    });
    const results = await rounds(sides, runs, say);
    const cols: [string, string][] = [["step", "step s"], ["peakMiB", "peak MiB"]];
    const rows = summarise(results, cols.map(([k]) => k));
    const title = `stage-1 training step, ${values.config} config, batch ${n} of 128×128, ` +
      `${threads()} threads, median step of ${iters} × ${runs} interleaved runs`;
    if (values.json) {
      return console.log(JSON.stringify({ title, rows, results: Object.fromEntries(results) }));
    }
    table(title, rows, cols);
    if (values.profile) await printProfiles(results, "training step", "step");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
