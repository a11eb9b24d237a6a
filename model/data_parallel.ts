// Data-parallel training: N processes (ranks) train one model. Every rank draws the same
// global batch and computes the loss and gradient of its share of it; the gradients are
// summed over the ranks (ops/collectives.ts) in buckets of a few MB, and every rank takes
// the same Adam step. A rank's loss is weighted by its share of the global batch (its crops
// over all crops) before the backward, so the summed gradient is the gradient of the global
// batch's mean loss whatever the shares' sizes, and a run on N ranks differs from a single
// process only in the order of float sums. Rank 0's weights, optimiser state and counters
// reach every rank at the start (syncFromRoot), so only rank 0 reads a checkpoint.

import type { Communicator } from "../ops/collectives.ts";
import { keep } from "../ops/scope.ts";
import { sizeOf } from "../ops/shape.ts";
import { type Tensor, zeros } from "../ops/tensor.ts";
import type { HostTensor } from "../io/safetensors.ts";
import type { Module } from "./nn/module.ts";
import type { LossTerms, Trainer } from "./trainer.ts";

/** Floats per gradient bucket: 4 MiB, a message long enough to run at the link's bandwidth. */
export const BUCKET_FLOATS = 1 << 20;
/** Loss terms a step may report (their sums travel in one fixed-size vector). */
const MAX_TERMS = 16;

export class DataParallel {
  constructor(readonly comm: Communicator, readonly bucketFloats = BUCKET_FLOATS) {}

  get rank(): number {
    return this.comm.rank;
  }

  get size(): number {
    return this.comm.size;
  }

  /** Rank 0 writes the logs, validation and checkpoints. */
  get isRoot(): boolean {
    return this.comm.rank === 0;
  }

  /**
   * Sums the gradients of `params` and the (share-weighted) loss terms over the ranks. A
   * parameter with a gradient on any rank gets one on every rank (zeros where a rank's share
   * was empty), so all take the same step. Rank 0, whose share is never empty, names the
   * terms; a rank that saw no crops returns the sums under no names.
   */
  reduce(params: Tensor[], terms: LossTerms): LossTerms {
    const names = Object.keys(terms);
    if (names.length > MAX_TERMS) throw new Error(`more than ${MAX_TERMS} loss terms`);
    const host = new Float64Array(params.length + MAX_TERMS);
    params.forEach((p, i) => host[i] = p.grad ? 1 : 0);
    names.forEach((k, i) => host[params.length + i] = terms[k]);
    this.comm.allreduceHost(host);
    const withGrad = params.filter((_, i) => host[i] > 0);
    for (const p of withGrad) p.grad ??= keep(zeros(p.shape, { device: p.device }));
    this.#sumGradients(withGrad);
    return Object.fromEntries(names.map((k, i) => [k, host[params.length + i]]));
  }

  /**
   * Sums the gradients bucket by bucket: parameters in order, each bucket filled up to
   * `bucketFloats` (a larger gradient travels alone, in place), copied into one buffer,
   * summed and copied back.
   */
  #sumGradients(params: Tensor[]): void {
    let bucket: Tensor[] = [], floats = 0;
    const flush = () => {
      if (bucket.length === 1) {
        const g = bucket[0].grad!;
        this.comm.allreduce(g.backend, g.buffer, g.size);
      } else if (bucket.length > 1) {
        const backend = bucket[0].grad!.backend, buf = backend.alloc(floats);
        let at = 0;
        for (const p of bucket) {
          backend.copy([p.size], p.grad!.buffer, 0, [1], buf, at, [1]);
          at += p.size;
        }
        this.comm.allreduce(backend, buf, floats);
        at = 0;
        for (const p of bucket) {
          backend.copy([p.size], buf, at, [1], p.grad!.buffer, 0, [1]);
          at += p.size;
        }
        backend.free(buf);
      }
      bucket = [];
      floats = 0;
    };
    for (const p of params) {
      if (floats + p.size > this.bucketFloats || (bucket.length && p.device !== bucket[0].device)) {
        flush();
      }
      bucket.push(p);
      floats += p.size;
    }
    flush();
  }

  /** Whether `flag` holds on any rank: a stop must happen at the same step on all. */
  any(flag: boolean): boolean {
    if (this.size === 1) return flag;
    const v = new Float64Array([flag ? 1 : 0]);
    this.comm.allreduceHost(v);
    return v[0] > 0;
  }

  /** Rank 0's JSON-able value on every rank. */
  broadcastJson<T>(value: T): T {
    if (this.size === 1) return value;
    const bytes = this.isRoot ? new TextEncoder().encode(JSON.stringify(value)) : new Uint8Array();
    const length = new Uint32Array([bytes.length]);
    this.comm.broadcastHost(new Uint8Array(length.buffer));
    const all = this.isRoot ? bytes : new Uint8Array(length[0]);
    this.comm.broadcastHost(all);
    return JSON.parse(new TextDecoder().decode(all));
  }

  /**
   * Rank 0's weights, optimiser state, counters and RNG state on every rank, passed as a
   * checkpoint would be (Trainer.state/restore), so a resume reads the run folder on rank 0
   * only and the ranks start from identical parameters.
   */
  syncFromRoot(model: Module, trainer: Trainer): void {
    if (this.size === 1) return;
    let st: ReturnType<Trainer["state"]> | null = null;
    if (this.isRoot) {
      st = trainer.state();
      for (const [n, p] of model.namedParameters()) {
        st.tensors.set(`model.${n}`, { shape: [...p.shape], data: p.toArray() });
      }
    }
    const header = this.broadcastJson(
      st && { meta: st.meta, shapes: [...st.tensors].map(([k, t]) => [k, t.shape]) },
    ) as { meta: Record<string, string>; shapes: [string, number[]][] };
    const tensors = new Map<string, HostTensor>();
    for (const [name, shape] of header.shapes) {
      const data = st ? st.tensors.get(name)!.data : new Float32Array(sizeOf(shape));
      this.comm.broadcastHost(data);
      tensors.set(name, { shape, data });
    }
    if (this.isRoot) return;
    model.loadStateDict(
      new Map(
        [...tensors].filter(([k]) => k.startsWith("model.")).map(([k, v]) => [k.slice(6), v]),
      ),
    );
    trainer.restore(tensors, header.meta);
  }
}
