// One worker thread of threads.ts: waits for the next task on the shared control block,
// runs its part on views of the caller's buffers (by address), reports, and waits again.

import { workerData } from "node:worker_threads";
import { finishPart, readTask, SEQ, sharedViews, workerReady } from "./threads.ts";
import { runTask } from "./tasks.ts";

const { sab, index } = workerData as { sab: SharedArrayBuffer; index: number };
const shared = sharedViews(sab);
const view = (ptr: number, n: number) =>
  new Float32Array(
    Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(BigInt(ptr))!, 4 * n),
  );

let seen = 0;
workerReady(shared);
for (;;) {
  // Spin a little (tasks come in bursts), then sleep until the generation changes.
  for (let spin = 0; Atomics.load(shared.ctrl, SEQ) === seen && spin < 20000; spin++);
  Atomics.wait(shared.ctrl, SEQ, seen);
  seen = Atomics.load(shared.ctrl, SEQ);
  let err: unknown = null;
  try {
    const { task, bufs, params, lo, hi } = readTask(shared, index, view);
    if (hi > lo) runTask(task, bufs, params, lo, hi);
  } catch (e) {
    err = e;
  }
  finishPart(shared, err);
}
