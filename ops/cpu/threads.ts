// The CPU's TypeScript kernels on every core. A task (tasks.ts) works on a range [lo, hi)
// of its items over float buffers and numeric parameters; `parallel` splits the items
// between this thread and T − 1 worker threads and returns when all parts are done.
// Workers see the same memory by address: every buffer handed over lives off the JS heap and
// stays where it is while the caller waits. They wait on a shared control block with
// Atomics (spinning briefly, then sleeping), so a dispatch costs microseconds, not a message;
// they are unref'd, so they never keep a program alive. Each task partitions its outputs, so
// results do not depend on the thread count unless a task says otherwise.
// Threads: OMP_NUM_THREADS (the knob oneDNN and OpenBLAS read too), else every core. Without
// --allow-ffi (workers build their views through Deno.UnsafePointerView) everything runs here.

import { Worker } from "node:worker_threads";
import { runTask, type TaskName, TASKS } from "./tasks.ts";

export type { TaskName };

/** Items of work (roughly: elements touched) below which a task runs on this thread alone. */
const MIN_SPLIT_WORK = 1 << 15;
const MAX_BUFFERS = 8, MAX_PARAMS = 32, MAX_THREADS = 64;
/**
 * Buffers shorter than this go to the workers through a staging copy: they may be small
 * typed arrays that V8 keeps on its heap, where a collection on this thread could move them.
 */
const STAGE_BELOW = 1024;
/**
 * Int32 control words: generation, workers still running, task, buffer and parameter counts,
 * error, workers started.
 */
const enum C {
  Seq,
  Pending,
  Task,
  Buffers,
  Params,
  Error,
  Ready,
  Words,
}
/** Float64 argument slots: [pointer, length] per buffer, the parameters, then [lo, hi] per thread. */
const ARG_PARAMS = 2 * MAX_BUFFERS, ARG_RANGES = ARG_PARAMS + MAX_PARAMS;
const ERROR_BYTES = 1024;

export interface Shared {
  ctrl: Int32Array;
  args: Float64Array;
  error: Uint8Array;
}

/** The control block: control words, then (8-byte aligned) the arguments, then an error text. */
const ARGS_AT = Math.ceil(C.Words / 2) * 8, ARGS_LEN = ARG_RANGES + 2 * MAX_THREADS;
const SHARED_BYTES = ARGS_AT + 8 * ARGS_LEN + ERROR_BYTES;

/** The control block's views, shared with thread_worker.ts. */
export function sharedViews(sab: SharedArrayBuffer): Shared {
  return {
    ctrl: new Int32Array(sab, 0, C.Words),
    args: new Float64Array(sab, ARGS_AT, ARGS_LEN),
    error: new Uint8Array(sab, ARGS_AT + 8 * ARGS_LEN, ERROR_BYTES),
  };
}

const smallInt = (v: number) =>
  Number.isInteger(v) && Math.abs(v) < 2 ** 30 && !Object.is(v, -0) ? v | 0 : v;

/** What a worker reads for its part of the current task. */
export function readTask(s: Shared, index: number, view: (ptr: number, n: number) => Float32Array) {
  const nb = s.ctrl[C.Buffers], np = s.ctrl[C.Params];
  const bufs: Float32Array[] = [];
  for (let i = 0; i < nb; i++) bufs.push(view(s.args[2 * i], s.args[2 * i + 1]));
  // Whole numbers as small integers, as the caller passed them: V8 compiles a kernel's index
  // arithmetic on doubles 1.8× slower.
  const params = Array.from(s.args.subarray(ARG_PARAMS, ARG_PARAMS + np), smallInt);
  const lo = smallInt(s.args[ARG_RANGES + 2 * index]),
    hi = smallInt(s.args[ARG_RANGES + 2 * index + 1]);
  return { task: s.ctrl[C.Task], bufs, params, lo, hi };
}

/** A worker's report: the first error message wins; the last one out wakes the caller. */
export function finishPart(s: Shared, err: unknown): void {
  if (err !== null && Atomics.compareExchange(s.ctrl, C.Error, 0, 1) === 0) {
    const msg = new TextEncoder().encode(String((err as Error)?.stack ?? err));
    s.error.set(msg.subarray(0, ERROR_BYTES - 1));
    s.error[Math.min(msg.length, ERROR_BYTES - 1)] = 0;
  }
  if (Atomics.sub(s.ctrl, C.Pending, 1) === 1) Atomics.notify(s.ctrl, C.Pending);
}

export const SEQ = C.Seq;

/** A worker's first act: counted as started, so the pool knows every worker will answer. */
export function workerReady(s: Shared): void {
  Atomics.add(s.ctrl, C.Ready, 1);
  Atomics.notify(s.ctrl, C.Ready);
}

/** How long the pool waits for its workers to start before running on this thread alone. */
const START_MS = 20_000;

interface Pool {
  shared: Shared;
  threads: number;
  stage: Float32Array;
}

let pool: Pool | null | undefined;
let splits = 0;

/** Tasks split over the threads so far. */
export function poolInfo(): { splits: number } {
  return { splits };
}

/** Threads the CPU kernels use (this one included). */
export function threadCount(): number {
  let n = 0;
  try {
    n = Number(Deno.env.get("OMP_NUM_THREADS"));
  } catch { /* no --allow-env */ }
  // Never more than the cores: a worker without one of its own delays every split.
  const cores = navigator.hardwareConcurrency || 1;
  return Math.max(1, Math.min(MAX_THREADS, cores, Number.isInteger(n) && n > 0 ? n : cores));
}

/**
 * Starts the workers and waits until every one has started, so that each answers every
 * task; without the permissions they need (ffi for their views, read for their module), or
 * if one does not start, the kernels run on this thread.
 */
function startPool(): Pool | null {
  const threads = threadCount();
  if (threads < 2) return null;
  const module = new URL("./thread_worker.ts", import.meta.url);
  try {
    const granted = (d: Deno.PermissionDescriptor) =>
      Deno.permissions.querySync(d).state === "granted";
    if (!granted({ name: "ffi" }) || !granted({ name: "read", path: module })) return null;
  } catch {
    return null;
  }
  const sab = new SharedArrayBuffer(SHARED_BYTES);
  const shared = sharedViews(sab);
  try {
    for (let i = 1; i < threads; i++) {
      new Worker(module, { workerData: { sab, index: i } }).unref();
    }
  } catch (e) {
    console.error(`lfdiff: worker threads failed to start (${(e as Error).message}); one thread`);
    return null;
  }
  const deadline = performance.now() + START_MS;
  for (let n; (n = Atomics.load(shared.ctrl, C.Ready)) < threads - 1;) {
    const left = deadline - performance.now();
    if (left <= 0) {
      console.error("lfdiff: worker threads did not start; the CPU kernels run on one thread");
      return null;
    }
    Atomics.wait(shared.ctrl, C.Ready, n, left);
  }
  return { shared, threads, stage: new Float32Array(MAX_BUFFERS * STAGE_BELOW) };
}

const address = (b: Float32Array) => Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));

/**
 * Runs `task` over items [0, n), split between the threads when `work` (elements touched,
 * default n) is worth it. Buffers must be off the JS heap (arena blocks, large arrays).
 */
export function parallel(
  task: TaskName,
  n: number,
  bufs: Float32Array[],
  params: readonly number[] = [],
  work = n,
): void {
  if (n <= 0) return;
  if (pool === undefined) pool = work >= MIN_SPLIT_WORK && n > 1 ? startPool() : undefined;
  const t = pool ? Math.min(pool.threads, n) : 1;
  if (
    !pool || t < 2 || work < MIN_SPLIT_WORK || bufs.some((b) => b.length === 0) ||
    bufs.length > MAX_BUFFERS || params.length > MAX_PARAMS
  ) {
    return runTask(TASKS.indexOf(task), bufs, params, 0, n);
  }
  const { ctrl, args, error } = pool.shared;
  // One staging copy per distinct small buffer: a buffer passed twice (a bias-free layer
  // norm's dw standing in for db) must stay one buffer.
  const stagedOf = new Map<Float32Array, Float32Array>();
  const staged = bufs.map((b, i) => {
    if (b.length >= STAGE_BELOW) return b;
    let s = stagedOf.get(b);
    if (!s) {
      stagedOf.set(b, s = pool!.stage.subarray(i * STAGE_BELOW, i * STAGE_BELOW + b.length));
      s.set(b);
    }
    return s;
  });
  staged.forEach((b, i) => {
    args[2 * i] = address(b);
    args[2 * i + 1] = b.length;
  });
  args.set(params, ARG_PARAMS);
  // Workers 1..t−1 take the later parts; a worker beyond t gets an empty range.
  const bound = (k: number) => Math.floor((n * k) / t);
  for (let k = 1; k < pool.threads; k++) {
    args[ARG_RANGES + 2 * k] = k < t ? bound(k) : 0;
    args[ARG_RANGES + 2 * k + 1] = k < t ? bound(k + 1) : 0;
  }
  splits++;
  ctrl[C.Task] = TASKS.indexOf(task);
  ctrl[C.Buffers] = bufs.length;
  ctrl[C.Params] = params.length;
  ctrl[C.Error] = 0;
  Atomics.store(ctrl, C.Pending, pool.threads - 1);
  Atomics.add(ctrl, C.Seq, 1);
  Atomics.notify(ctrl, C.Seq);
  let mine: unknown = null;
  try {
    runTask(ctrl[C.Task], staged, params, 0, bound(1));
  } catch (e) {
    mine = e;
  }
  for (let spin = 0; Atomics.load(ctrl, C.Pending) !== 0; spin++) {
    if (spin > 2000) {
      const left = Atomics.load(ctrl, C.Pending);
      if (left !== 0) Atomics.wait(ctrl, C.Pending, left, 1000);
    }
  }
  for (const [b, s] of stagedOf) b.set(s);
  if (mine) throw mine;
  if (ctrl[C.Error]) {
    const end = error.indexOf(0);
    throw new Error(
      `parallel ${task}: ${new TextDecoder().decode(error.slice(0, end < 0 ? undefined : end))}`,
    );
  }
}
