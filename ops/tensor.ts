// Tensor: a contiguous, row-major (NCHW for images) array on one device, of float32 or, under
// bf16 precision on a backend that has it, bfloat16 (ops/precision.ts). Views made by
// reshape share the device buffer through a reference count.

import type { Backend, DeviceBuffer, DType } from "./backend.ts";
import { runBackward } from "./autograd.ts";
import { getBackend } from "./device.ts";
import { keep, track } from "./scope.ts";
import { checkShape, fmt, type Shape, ShapeError, sizeOf } from "./shape.ts";
import { defaultRng, type Rng } from "./rng.ts";

/** Storage the garbage collector takes without a dispose() still gives its buffer back. */
const orphans = new FinalizationRegistry<{ backend: Backend; buf: DeviceBuffer }>(
  ({ backend, buf }) => backend.free(buf),
);

class Storage {
  refs = 1;
  constructor(readonly backend: Backend, readonly buf: DeviceBuffer) {
    orphans.register(this, { backend, buf }, this);
  }
  release(): void {
    if (--this.refs > 0) return;
    orphans.unregister(this);
    this.backend.free(this.buf);
  }
}

/** How a tensor was computed: its inputs and the vector–Jacobian product of the op. */
export interface GradNode {
  op: string;
  inputs: Tensor[];
  /** The tensors whose values `backward` reads (inputs, the output, private state). */
  saved: Tensor[];
  /** Gradients w.r.t. the inputs; `needs[i]` false means that entry may be null. */
  backward(g: Tensor, needs: boolean[]): (Tensor | null)[];
}

let nextId = 1;

export class Tensor {
  /** Creation order; an op's output always has a larger id than its inputs. */
  readonly id = nextId++;
  readonly shape: Shape;
  readonly size: number;
  readonly backend: Backend;
  readonly dtype: DType;
  requiresGrad = false;
  grad: Tensor | null = null;
  node: GradNode | null = null;
  /** Set by Module on registered parameters. */
  isParameter = false;
  /** Graph nodes whose backward reads this tensor's values (ops/autograd.ts). */
  saves = 0;
  /**
   * Made by a module that has returned without returning it: only the graph holds it, so its
   * buffer goes once no backward reads it (ops/autograd.ts).
   */
  internal = false;
  #storage: Storage | null;
  #released = false;

  /**
   * Wraps a device buffer of `dtype` (taking ownership) or shares another tensor's storage
   * (and dtype).
   */
  constructor(
    shape: Shape,
    source: DeviceBuffer | Tensor,
    backend?: Backend,
    dtype: DType = "float32",
  ) {
    checkShape("tensor", shape);
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    if (source instanceof Tensor) {
      const st = source.#live();
      st.refs++;
      this.#storage = st;
      this.backend = st.backend;
      this.dtype = source.dtype;
    } else {
      this.backend = backend ?? getBackend();
      this.#storage = new Storage(this.backend, source);
      this.dtype = dtype;
    }
    if (this.#storage.buf.length < this.size) {
      throw new ShapeError(
        `tensor: buffer of ${this.#storage.buf.length} too small for ${fmt(shape)}`,
      );
    }
    track(this);
  }

  #live(): Storage {
    if (!this.#storage) {
      throw new Error(
        `tensor #${this.id} ${fmt(this.shape)} used after ${
          this.#released ? "its buffer was freed (no backward reads it)" : "dispose"
        }`,
      );
    }
    return this.#storage;
  }

  get buffer(): DeviceBuffer {
    return this.#live().buf;
  }

  get device(): string {
    return this.backend.name;
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.#storage === null;
  }

  /** Copies the values to the host. */
  toArray(): Float32Array {
    const all = this.backend.download(this.buffer);
    return all.length === this.size ? all : all.slice(0, this.size);
  }

  item(): number {
    if (this.size !== 1) {
      throw new ShapeError(`item: tensor has shape ${fmt(this.shape)}, not one element`);
    }
    return this.toArray()[0];
  }

  /** Frees the device memory (idempotent). The gradient, if any, is freed too. */
  dispose(): void {
    if (!this.#storage) return;
    this.#storage.release();
    this.#storage = null;
    this.node = null;
    this.grad?.dispose();
    this.grad = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * Gives back the values while the tensor stays in the graph (its node, shape and dtype):
   * for intermediates no backward reads, as PyTorch frees them by reference count.
   */
  releaseBuffer(): void {
    if (!this.#storage) return;
    this.#storage.release();
    this.#storage = null;
    this.#released = true;
  }

  /** Backpropagates from this tensor; gradients accumulate in the leaves' `.grad`. */
  backward(grad?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    runBackward(this, grad, opts.retainGraph ?? false);
  }

  /** A tensor sharing this one's values but cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.shape, this);
  }

  /** Marks this tensor as a leaf that collects gradients. */
  requireGrad(on = true): this {
    if (this.node) throw new Error("requireGrad: only leaf tensors can be made to require grad");
    this.requiresGrad = on;
    return this;
  }

  /** Excludes this tensor from every open scope (its owner disposes it). */
  keep(): this {
    return keep(this);
  }

  toString(): string {
    return `Tensor(${fmt(this.shape)}, ${this.device}${this.dtype === "float32" ? "" : ", bf16"})`;
  }
}

export interface TensorOptions {
  device?: string;
  requiresGrad?: boolean;
}

function make(
  shape: Shape,
  fillFn: (b: Backend, buf: DeviceBuffer) => void,
  o: TensorOptions,
): Tensor {
  checkShape("tensor", shape);
  const backend = getBackend(o.device);
  const buf = backend.alloc(sizeOf(shape));
  fillFn(backend, buf);
  const t = new Tensor(shape, buf, backend);
  if (o.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A tensor holding a copy of `data`. */
export function tensor(data: ArrayLike<number>, shape?: Shape, o: TensorOptions = {}): Tensor {
  const s = shape ?? [data.length];
  if (sizeOf(s) !== data.length) {
    throw new ShapeError(`tensor: ${data.length} values do not fill shape ${fmt(s)}`);
  }
  const arr = data instanceof Float32Array ? data : Float32Array.from(data);
  return make(s, (b, buf) => b.upload(buf, arr), o);
}

export function zeros(shape: Shape, o: TensorOptions = {}): Tensor {
  return make(shape, (b, buf) => b.fill(buf, 0), o);
}

export function full(shape: Shape, value: number, o: TensorOptions = {}): Tensor {
  return make(shape, (b, buf) => b.fill(buf, value), o);
}

export function ones(shape: Shape, o: TensorOptions = {}): Tensor {
  return full(shape, 1, o);
}

export function randn(shape: Shape, rng: Rng = defaultRng(), o: TensorOptions = {}): Tensor {
  return tensor(rng.normal(sizeOf(shape)), shape, o);
}

export function rand(
  shape: Shape,
  rng: Rng = defaultRng(),
  lo = 0,
  hi = 1,
  o: TensorOptions = {},
): Tensor {
  return tensor(rng.uniform(sizeOf(shape), lo, hi), shape, o);
}

/**
 * An uninitialised tensor on the same device as `like` and of its dtype unless given: for
 * op outputs, which write it all.
 */
export function empty(shape: Shape, like: Tensor, dtype: DType = like.dtype): Tensor {
  if (dtype !== "float32" && !like.backend.bf16) {
    throw new Error(`${like.backend.name} holds float32 only, not ${dtype}`);
  }
  return new Tensor(shape, like.backend.alloc(sizeOf(shape), dtype), like.backend, dtype);
}

export function sameDevice(op: string, ...ts: Tensor[]): Backend {
  const b = ts[0].backend;
  for (const t of ts) {
    if (t.backend !== b) throw new Error(`${op}: tensors on ${b.name} and ${t.backend.name}`);
  }
  return b;
}
