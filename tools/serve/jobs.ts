// The page's job queue: one fusion at a time, the others waiting in order and told their
// place. A job owns a folder (its uploads, then its results) that is removed when the results
// expire, at once when it fails or is cancelled, and at the latest when the server stops.
// Listeners (the page's event streams) hear every change, starting with the latest.

import type { DecodeOptions } from "../../io/image.ts";
import type { ServerModel } from "./options.ts";

/** What a job runs on: files under its folder (server-made names) and checked values. */
export interface JobInput {
  dir: string;
  /** The frames, in the order the page sent them. */
  files: string[];
  /** Server path → the name the client gave the file, shown in messages and results. */
  labels: Record<string, string>;
  /** Exposures in stops, one per frame, any origin (default: EXIF, as infer). */
  evs?: number[];
  values: Record<string, string | boolean>;
  model: ServerModel;
  /** The server's own model flags (device) and decoder limits. */
  device: string;
  decode: DecodeOptions;
}

/** What a finished job reports; its files are RESULT_FILES under `${dir}/out`. */
export interface JobResult {
  width: number;
  height: number;
  evs: number[];
  evSource: string;
  /** The three frames the network saw, by client name, and how each was aligned. */
  frames: { name: string; ev: number; role: string; alignment: string }[];
  /** Index of the reference frame in the job's files. */
  ref: number;
  /** The camera response undone (describeResponse), and whether an estimate was saved. */
  response: string;
  responseSaved: boolean;
  variant: string;
  steps: number;
  seed: number;
  tile: number;
  trained: boolean;
  /** Warnings the tools would print (untrained weights...). */
  notes: string[];
  seconds: { read: number; prior: number; reconstruction: number; write: number; total: number };
  units: "shortest-exposure";
}

/**
 * The result files a client may fetch, by name: their media types, and what a download's
 * name adds to the reference frame's (ev0-hdr.exr; ev0.response.json, as infer names it).
 */
export const RESULT_FILES: Record<string, { type: string; suffix: string }> = {
  "result.exr": { type: "image/x-exr", suffix: "-hdr.exr" },
  "result.hdr": { type: "image/vnd.radiance", suffix: "-hdr.hdr" },
  "reference.png": { type: "image/png", suffix: "-reference.png" },
  "result.response.json": { type: "application/json", suffix: ".response.json" },
};

export type JobEvent =
  | { type: "waiting"; position: number }
  | {
    type: "progress";
    stage: string;
    done: number;
    total: number;
    /** Of the fusion, 0–1, and seconds since the job started and (estimated) left. */
    fraction: number;
    elapsed: number;
    left: number | null;
  }
  | { type: "done"; result: JobResult }
  | { type: "failed"; message: string }
  | { type: "cancelled"; message: string };

/** Runs one job; rejects with a one-line message. Aborting `signal` cancels it. */
export interface Runner {
  run(
    input: JobInput,
    onProgress: (stage: string, done: number, total: number) => void,
    signal: AbortSignal,
  ): Promise<JobResult>;
}

export type JobState = "waiting" | "running" | "done" | "failed" | "cancelled";

export class Job {
  readonly id = crypto.randomUUID();
  state: JobState = "waiting";
  last: JobEvent = { type: "waiting", position: 0 };
  readonly listeners = new Set<(e: JobEvent) => void>();
  readonly abort = new AbortController();
  started = 0;
  /** The fusion's share of the job, from the pipeline's tile/step messages. */
  fraction = 0;

  constructor(readonly input: JobInput) {}

  emit(e: JobEvent): void {
    this.last = e;
    for (const l of this.listeners) l(e);
  }

  /** A progress event from a pipeline message, with an estimate of the time left. */
  progress(stage: string, done: number, total: number): JobEvent {
    const f = fusedFraction(stage, done, total);
    if (f !== null) this.fraction = Math.max(this.fraction, f);
    const elapsed = (performance.now() - this.started) / 1000;
    const left = this.fraction > 0.02 ? (elapsed * (1 - this.fraction)) / this.fraction : null;
    return { type: "progress", stage, done, total, fraction: this.fraction, elapsed, left };
  }
}

/**
 * How far the fusion is, from fuseBracket's messages ("tile 2/4 DDIM step 3/10", "tile 2/4
 * reconstruction block 1/3", "tiles 2/4"): the prior counted as a tenth of a tile (it is
 * less for the shipped model), the reconstruction blocks as the rest. Null for other stages.
 */
export function fusedFraction(stage: string, done: number, total: number): number | null {
  if (stage === "tiles") return done / total;
  const m = /^tile (\d+)\/(\d+) (DDIM step|reconstruction block)$/.exec(stage);
  if (!m) return null;
  const within = m[3] === "DDIM step" ? 0.1 * done / total : 0.1 + 0.9 * done / total;
  return (Number(m[1]) - 1 + within) / Number(m[2]);
}

export class QueueFullError extends Error {}

export class JobQueue {
  readonly #jobs = new Map<string, Job>();
  readonly #waiting: Job[] = [];
  #running: Promise<void> | null = null;
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  #closed = false;

  constructor(
    private readonly runner: Runner,
    private readonly o: { ttlMs: number; maxWaiting: number },
  ) {}

  get(id: string): Job | undefined {
    return this.#jobs.get(id);
  }

  /** Refuses with one line when the queue already holds its maximum of waiting jobs. */
  checkRoom(): void {
    if (this.#closed) throw new QueueFullError("the server is stopping");
    if (this.#waiting.length >= this.o.maxWaiting) {
      throw new QueueFullError(
        `the queue is full (${this.#waiting.length} jobs waiting); try again when one has finished`,
      );
    }
  }

  /** Queues a job whose folder is ready; the queue now owns the folder. */
  submit(input: JobInput): Job {
    this.checkRoom();
    const job = new Job(input);
    this.#jobs.set(job.id, job);
    this.#waiting.push(job);
    this.#tellPositions();
    this.#pump();
    return job;
  }

  /** Calls `fn` with the job's latest event, then with each new one; returns the unsubscribe. */
  subscribe(job: Job, fn: (e: JobEvent) => void): () => void {
    job.listeners.add(fn);
    fn(job.last);
    return () => job.listeners.delete(fn);
  }

  cancel(job: Job, why = "cancelled"): void {
    const i = this.#waiting.indexOf(job);
    if (i >= 0) {
      this.#waiting.splice(i, 1);
      this.#finish(job, "cancelled", { type: "cancelled", message: why });
      this.#tellPositions();
    } else if (job.state === "running") job.abort.abort(new Error(why));
  }

  /** Cancels every job, waits for the running one to stop, and removes every folder. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of [...this.#waiting]) this.cancel(job, "the server is stopping");
    for (const job of this.#jobs.values()) {
      if (job.state === "running") this.cancel(job, "the server is stopping");
    }
    await this.#running;
    for (const t of this.#timers.values()) clearTimeout(t);
    for (const job of this.#jobs.values()) {
      job.listeners.clear();
      await removeDir(job.input.dir);
    }
    this.#jobs.clear();
  }

  #tellPositions(): void {
    this.#waiting.forEach((job, i) => job.emit({ type: "waiting", position: i + 1 }));
  }

  #pump(): void {
    if (this.#running || !this.#waiting.length) return;
    const job = this.#waiting.shift()!;
    this.#tellPositions();
    job.state = "running";
    job.started = performance.now();
    job.emit(job.progress("starting", 0, 1));
    this.#running = this.runner.run(
      job.input,
      (stage, done, total) => job.emit(job.progress(stage, done, total)),
      job.abort.signal,
    ).then(
      (result) => this.#finish(job, "done", { type: "done", result }),
      (e) =>
        job.abort.signal.aborted
          ? this.#finish(job, "cancelled", {
            type: "cancelled",
            message: (job.abort.signal.reason as Error).message,
          })
          : this.#finish(job, "failed", { type: "failed", message: (e as Error).message }),
    ).finally(() => {
      this.#running = null;
      if (!this.#closed) this.#pump();
    });
  }

  /** Ends a job: its folder goes now unless it holds results, its record after the TTL. */
  #finish(job: Job, state: JobState, e: JobEvent): void {
    job.state = state;
    job.emit(e);
    if (state !== "done") removeDir(job.input.dir);
    const t = setTimeout(() => this.#expire(job), this.o.ttlMs);
    Deno.unrefTimer(t);
    this.#timers.set(job.id, t);
  }

  #expire(job: Job): void {
    this.#timers.delete(job.id);
    this.#jobs.delete(job.id);
    job.listeners.clear();
    removeDir(job.input.dir);
  }
}

/** Removes a job's folder; one already gone is fine. */
export function removeDir(dir: string): Promise<void> {
  return Deno.remove(dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) console.error(`serve: cannot remove ${dir}: ${e}`);
  });
}
