// The server's side of fusion_worker.ts: a Runner for the job queue, and the probe the page
// asks about each dropped file. Jobs and probes have a worker each, so a probe is answered
// while a fusion runs. A worker that dies (an uncaught error) fails what it was doing and is
// replaced; the server stays up.

import type { DecodeOptions } from "../../io/image.ts";
import type { JobInput, JobResult, Runner } from "./jobs.ts";
import type { ServerModel } from "./options.ts";

export interface ProbeResult {
  /** Seconds, from EXIF (null when the file has none). */
  exposureTime: number | null;
  width?: number;
  height?: number;
  /** A PNG, when asked for. */
  thumbnail?: Uint8Array;
}

export type WorkerRequest =
  | { type: "job"; input: JobInput; cancel: SharedArrayBuffer }
  | { type: "probe"; bytes: Uint8Array; name: string; thumbnail: boolean; decode: DecodeOptions }
  | { type: "check"; model: ServerModel; device: string };

export type WorkerReply =
  | { type: "progress"; stage: string; done: number; total: number }
  | { type: "done"; result: JobResult }
  | { type: "probed"; result: ProbeResult }
  | { type: "checked"; notes: string[] }
  | { type: "failed"; message: string };

/** One worker doing one thing at a time; requests wait their turn. */
class WorkerSlot {
  #worker: Worker | null = null;
  #turn: Promise<unknown> = Promise.resolve();
  #stop: ((e: Error) => void) | null = null;
  #closed = false;

  /** Sends `req` once the previous request has finished; `onReply` settles it by returning a value. */
  request<T>(req: WorkerRequest, onReply: (m: WorkerReply) => T | undefined): Promise<T> {
    const run = () =>
      new Promise<T>((resolve, reject) => {
        if (this.#closed) return reject(new Error("the server is stopping"));
        this.#stop = reject;
        const w = this.#worker ??= new Worker(
          new URL("./fusion_worker.ts", import.meta.url),
          { type: "module" },
        );
        w.onmessage = (e: MessageEvent<WorkerReply>) => {
          if (e.data.type === "failed") return reject(new Error(e.data.message));
          try {
            const v = onReply(e.data);
            if (v !== undefined) resolve(v);
          } catch (err) {
            reject(err);
          }
        };
        w.onerror = (e: ErrorEvent) => {
          e.preventDefault();
          this.#end(new Error(`the fusion stopped unexpectedly (${e.message})`));
        };
        w.postMessage(req);
      });
    const p = this.#turn.then(run, run);
    this.#turn = p.catch(() => {});
    return p;
  }

  /** Ends the worker (the next request starts another); what it was doing fails with `why`. */
  #end(why: Error): void {
    this.#worker?.terminate();
    this.#worker = null;
    this.#stop?.(why);
  }

  /** Ends the worker for good: what it was doing and every later request fail. */
  close(): void {
    this.#closed = true;
    this.#end(new Error("the server is stopping"));
  }
}

export class Fusion implements Runner {
  readonly #jobs = new WorkerSlot();
  readonly #probes = new WorkerSlot();

  run(
    input: JobInput,
    onProgress: (stage: string, done: number, total: number) => void,
    signal: AbortSignal,
  ): Promise<JobResult> {
    const cancel = new SharedArrayBuffer(4);
    signal.addEventListener("abort", () => Atomics.store(new Int32Array(cancel), 0, 1));
    return this.#jobs.request({ type: "job", input, cancel }, (m) => {
      if (m.type === "progress") onProgress(m.stage, m.done, m.total);
      return m.type === "done" ? m.result : undefined;
    });
  }

  probe(bytes: Uint8Array, name: string, thumbnail: boolean, decode: DecodeOptions) {
    return this.#probes.request(
      { type: "probe", bytes, name, thumbnail, decode },
      (m) => m.type === "probed" ? m.result : undefined,
    );
  }

  /** Loads a model as a job would (in the job worker, which it warms), or fails in one line. */
  check(model: ServerModel, device: string): Promise<string[]> {
    return this.#jobs.request(
      { type: "check", model, device },
      (m) => m.type === "checked" ? m.notes : undefined,
    );
  }

  close(): void {
    this.#jobs.close();
    this.#probes.close();
  }
}
