// Ops that move values without arithmetic: reshape (a view), permute/transpose, expand,
// slice, concat, split/chunk, pad, pixel (un)shuffle. All are strided copies on the backend,
// and each backward is the inverse movement.

import { record } from "./autograd.ts";
import { sumTo } from "./arith.ts";
import {
  axisOf,
  broadcastShapes,
  broadcastStrides,
  coalesce,
  contiguousStrides,
  fmt,
  sameShape,
  type Shape,
  ShapeError,
  sizeOf,
} from "./shape.ts";
import { promoteDtype } from "./precision.ts";
import { empty, sameDevice, Tensor } from "./tensor.ts";

/** Strided copy with coalesced axes (few long rows rather than many short ones). */
function stridedCopy(
  x: Tensor,
  shape: Shape,
  srcOff: number,
  srcStrides: readonly number[],
  dst: Tensor,
  dstOff: number,
  dstStrides: readonly number[],
): void {
  const c = coalesce(shape, srcStrides, dstStrides);
  x.backend.copy(c.shape, x.buffer, srcOff, c.strides[0], dst.buffer, dstOff, c.strides[1]);
}

/** Same values, new shape (one entry may be -1). Shares the buffer: no copy. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const free = shape.indexOf(-1);
  let s = [...shape];
  if (free >= 0) {
    const known = sizeOf(shape.filter((_, i) => i !== free));
    if (known === 0 || x.size % known !== 0) {
      throw new ShapeError(`reshape: cannot reshape ${fmt(x.shape)} to ${fmt(shape)}`);
    }
    s = s.map((d, i) => (i === free ? x.size / known : d));
  }
  if (sizeOf(s) !== x.size) {
    throw new ShapeError(`reshape: cannot reshape ${fmt(x.shape)} to ${fmt(shape)}`);
  }
  const out = new Tensor(s, x);
  return record(out, "reshape", [x], (g) => [reshape(g, x.shape)], []);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const r = x.rank;
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new ShapeError(
      `permute: ${fmt(perm)} is not a permutation of ${r} axes of ${fmt(x.shape)}`,
    );
  }
  const shape = perm.map((p) => x.shape[p]);
  const xs = contiguousStrides(x.shape);
  const out = empty(shape, x);
  stridedCopy(x, shape, 0, perm.map((p) => xs[p]), out, 0, contiguousStrides(shape));
  const inverse = new Array<number>(r);
  perm.forEach((p, i) => (inverse[p] = i));
  return record(out, "permute", [x], (g) => [permute(g, inverse)], []);
}

export function transpose(x: Tensor, a: number, b: number): Tensor {
  const perm = x.shape.map((_, i) => i);
  const i = axisOf("transpose", a, x.rank), j = axisOf("transpose", b, x.rank);
  [perm[i], perm[j]] = [perm[j], perm[i]];
  return permute(x, perm);
}

/** Broadcasts x to `shape` (a copy). */
export function expand(x: Tensor, shape: Shape): Tensor {
  const target = broadcastShapes("expand", x.shape, shape);
  if (!sameShape(target, shape)) {
    throw new ShapeError(`expand: shapes ${fmt(x.shape)} and ${fmt(shape)} do not broadcast`);
  }
  const out = empty(shape, x);
  stridedCopy(x, shape, 0, broadcastStrides(x.shape, shape), out, 0, contiguousStrides(shape));
  return record(out, "expand", [x], (g) => [sumTo(g, x.shape)], []);
}

/** Copies src into the box of dst starting at `starts` (dst already holds the background). */
function place(src: Tensor, dst: Tensor, starts: readonly number[]): void {
  const ds = contiguousStrides(dst.shape);
  const off = starts.reduce((acc, s, i) => acc + s * ds[i], 0);
  stridedCopy(src, src.shape, 0, contiguousStrides(src.shape), dst, off, ds);
}

/** The box of x at `starts` with `shape`. */
function box(x: Tensor, starts: readonly number[], shape: Shape): Tensor {
  const xs = contiguousStrides(x.shape);
  const off = starts.reduce((acc, s, i) => acc + s * xs[i], 0);
  const out = empty(shape, x);
  stridedCopy(x, shape, off, xs, out, 0, contiguousStrides(shape));
  return out;
}

/** x[..., start:end, ...] along `axis`. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = axisOf("slice", axis, x.rank);
  if (
    !(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end &&
      end <= x.shape[a])
  ) {
    throw new ShapeError(
      `slice: range ${start}:${end} out of bounds for axis ${a} of ${fmt(x.shape)}`,
    );
  }
  const starts = x.shape.map((_, i) => (i === a ? start : 0));
  const shape = x.shape.map((d, i) => (i === a ? end - start : d));
  const out = box(x, starts, shape);
  return record(out, "slice", [x], (g) => {
    const dx = empty(x.shape, x);
    x.backend.fill(dx.buffer, 0);
    place(g, dx, starts);
    return [dx];
  }, []);
}

export function concat(xs: Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new ShapeError("concat: no tensors");
  sameDevice("concat", ...xs);
  const first = xs[0];
  const a = axisOf("concat", axis, first.rank);
  for (const t of xs) {
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new ShapeError(
        `concat: shapes ${fmt(first.shape)} and ${fmt(t.shape)} differ off axis ${a}`,
      );
    }
  }
  const shape = first.shape.map((d, i) => (i === a ? xs.reduce((s, t) => s + t.shape[a], 0) : d));
  const out = empty(shape, first, promoteDtype(...xs));
  const starts: number[][] = [];
  let at = 0;
  for (const t of xs) {
    const st = shape.map((_, i) => (i === a ? at : 0));
    starts.push(st);
    place(t, out, st);
    at += t.shape[a];
  }
  return record(
    out,
    "concat",
    xs,
    (g, needs) => xs.map((t, k) => (needs[k] ? box(g, starts[k], t.shape) : null)),
    [],
  );
}

/** Splits along `axis` into pieces of the given sizes. */
export function split(x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
  const a = axisOf("split", axis, x.rank);
  if (sizes.reduce((s, v) => s + v, 0) !== x.shape[a]) {
    throw new ShapeError(
      `split: sizes ${fmt(sizes)} do not add up to axis ${a} of ${fmt(x.shape)}`,
    );
  }
  let at = 0;
  return sizes.map((n) => {
    const t = slice(x, a, at, at + n);
    at += n;
    return t;
  });
}

/** PyTorch's chunk: pieces of ceil(size/n) along `axis`, the last possibly smaller. */
export function chunk(x: Tensor, n: number, axis: number): Tensor[] {
  const a = axisOf("chunk", axis, x.rank);
  if (!Number.isInteger(n) || n < 1) {
    throw new ShapeError(`chunk: cannot split ${fmt(x.shape)} into ${n} pieces`);
  }
  const step = Math.ceil(x.shape[a] / n);
  const sizes: number[] = [];
  for (let at = 0; at < x.shape[a]; at += step) sizes.push(Math.min(step, x.shape[a] - at));
  return split(x, sizes, a);
}

/**
 * Constant padding of the last axes, F.pad order: [left, right, top, bottom, ...] pairs
 * starting from the last axis.
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (
    pads.length % 2 !== 0 || pads.length / 2 > x.rank ||
    pads.some((p) => !Number.isInteger(p) || p < 0)
  ) {
    throw new ShapeError(`pad: bad padding ${fmt(pads)} for ${fmt(x.shape)}`);
  }
  const starts = x.shape.map(() => 0);
  const shape = [...x.shape];
  for (let k = 0; k < pads.length / 2; k++) {
    const ax = x.rank - 1 - k;
    starts[ax] = pads[2 * k];
    shape[ax] += pads[2 * k] + pads[2 * k + 1];
  }
  const out = empty(shape, x);
  x.backend.fill(out.buffer, value);
  place(x, out, starts);
  return record(out, "pad", [x], (g) => [box(g, starts, x.shape)], []);
}

/** [n, c·r², h, w] → [n, c, h·r, w·r] */
export function pixelShuffle(x: Tensor, r: number): Tensor {
  const [n, c, h, w] = x.shape;
  if (x.rank !== 4 || c % (r * r) !== 0) {
    throw new ShapeError(`pixelShuffle: channels of ${fmt(x.shape)} not divisible by ${r}²`);
  }
  const co = c / (r * r);
  const t = permute(reshape(x, [n, co, r, r, h, w]), [0, 1, 4, 2, 5, 3]);
  return reshape(t, [n, co, h * r, w * r]);
}

/** [n, c, h·r, w·r] → [n, c·r², h, w] */
export function pixelUnshuffle(x: Tensor, r: number): Tensor {
  const [n, c, hr, wr] = x.shape;
  if (x.rank !== 4 || hr % r !== 0 || wr % r !== 0) {
    throw new ShapeError(`pixelUnshuffle: size of ${fmt(x.shape)} not divisible by ${r}`);
  }
  const h = hr / r, w = wr / r;
  const t = permute(reshape(x, [n, c, h, r, w, r]), [0, 1, 3, 5, 2, 4]);
  return reshape(t, [n, c * r * r, h, w]);
}
