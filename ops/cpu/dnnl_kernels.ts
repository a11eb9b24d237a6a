// The oneDNN backend's plumbing: the library, the primitive cache (one primitive per
// shape, its memory objects re-pointed at our buffers on each call), temporaries and
// scratchpads from the CPU arena (a scratchpad lives for one call: a 1024² conv's takes
// 192 MiB that would otherwise stay resident), reorders between layouts, bfloat16 buffers
// (a Uint16Array view of arena memory, converted by reorders, which round to nearest even
// as every oneDNN kernel that writes bf16 does), and channels-last buffers.
//
// Channels-last: oneDNN's convs run on [n, h, w, c] (nhwc) activations, as PyTorch's
// channels-last does, and a conv writes its output that way straight into the tensor's
// buffer, which is then marked (`nhwc`). The ops never see it: a primitive that knows the
// layout (conv, eltwise, binary, layer norm, average pooling, sums over h and w, resampling,
// copies of a box of the tensor) reads the buffer as it is and marks what it writes; any
// other puts the buffer back in plain order first (`plain`, in place). So a chain of convs,
// activations, residual adds, norms and concats runs with no reorder between its convs;
// before, each conv reordered its input into oneDNN's layout and its output back (a quarter
// of a bf16 training step, a tenth in fp32).

import {
  arg,
  type DataType,
  dataType,
  type Dnnl,
  type MemoryDesc,
  openDnnl,
  type Primitive,
  query,
} from "../../native/dnnl.ts";
import type { Backend, DeviceBuffer } from "../backend.ts";

/** A buffer of the CPU backends: float32, or bfloat16 held as its upper 16 bits. */
export type Buf = Float32Array | Uint16Array;

export const f = (b: DeviceBuffer) => b as Buf;

/** oneDNN's name for a buffer's element type. */
export const dtOf = (b: Buf): DataType => b instanceof Uint16Array ? dataType.bf16 : dataType.f32;

/** A cached primitive with one memory object per argument, re-pointed on each call. */
export interface Kernel {
  p: Primitive;
  args: number[];
  mems: Deno.PointerValue[];
  scratch: Deno.PointerValue | null;
}

export type DnnlContext = ReturnType<typeof dnnlContext>;

/** Below this many elements a conversion is a plain loop rather than a primitive. */
const SMALL = 4096;

export function dnnlContext(base: Backend) {
  const d: Dnnl = openDnnl();
  const s = d.symbols;
  const kernels = new Map<string, Kernel>();

  function build(p: Primitive, mds: [number, MemoryDesc][]): Kernel {
    const sp = d.queryMd(p.pd, query.scratchpadMd);
    return {
      p,
      args: mds.map(([a]) => a),
      mems: mds.map(([, md]) => d.memory(md)),
      scratch: p.scratchpadBytes ? d.memory(sp!) : null,
    };
  }

  function kernel(key: string, make: () => Kernel): Kernel {
    let k = kernels.get(key);
    if (!k) kernels.set(key, k = make());
    return k;
  }

  const ptr = (buf: Buf, off = 0) => {
    const p = Deno.UnsafePointer.of(buf)!;
    return off ? Deno.UnsafePointer.offset(p, off * buf.BYTES_PER_ELEMENT) : p;
  };

  /** Runs k on buffers given in the order of its arguments ([buffer, element offset]). */
  function run(k: Kernel, bufs: (Buf | [Buf, number])[]): void {
    const args: [number, Deno.PointerValue][] = [];
    bufs.forEach((b, i) => {
      const [buf, off] = Array.isArray(b) ? b : [b, 0];
      d.setHandle(k.mems[i], ptr(buf, off));
      args.push([k.args[i], k.mems[i]]);
    });
    const scratch = k.scratch ? tmp(k.p.scratchpadBytes) : null;
    if (scratch) {
      d.setHandle(k.scratch, ptr(scratch));
      args.push([arg.scratchpad, k.scratch]);
    }
    try {
      d.execute(k.p, args);
    } finally {
      if (scratch) release(scratch);
    }
  }

  // Temporary buffers (blocked layouts, scratchpads) come from and return to the base pool.
  const tmp = (bytes: number) => base.alloc(Math.ceil(bytes / 4)) as Float32Array;
  const release = (b: Buf) => base.free(b instanceof Uint16Array ? floatsOf(b) : b);

  /** A bf16 buffer of n elements: arena floats seen as halves. */
  const bf16 = (n: number) => halvesOf(base.alloc(Math.ceil(n / 2)) as Float32Array, n);
  /** A buffer of n elements of type dt (release it). */
  const temporary = (n: number, dt: DataType): Buf => dt === dataType.bf16 ? bf16(n) : tmp(4 * n);

  function reorderTo(
    src: MemoryDesc,
    dst: MemoryDesc,
    key: string,
    from: Buf,
    to: Buf,
  ): void {
    const k = kernel(
      `reorder ${key}`,
      () => build(d.reorder(src, dst), [[arg.src, src], [arg.dst, dst]]),
    );
    run(k, [from, to]);
  }

  /** Copies n elements between buffers of either dtype, rounding to nearest even. */
  function convert(from: Buf, to: Buf, n = to.length): void {
    if (n < SMALL) return convertSmall(from, to, n);
    const a = d.md([n], undefined, dtOf(from)), b = d.md([n], undefined, dtOf(to));
    reorderTo(a, b, `convert ${n} ${dtOf(from)} ${dtOf(to)}`, from, to);
  }

  /** b itself when float32, else a float32 temporary holding its values (release it). */
  function widen(b: Buf): Float32Array {
    if (b instanceof Float32Array) return b;
    const t = tmp(4 * b.length);
    convert(b, t);
    return t;
  }

  // ---- Channels-last buffers ----
  const channelsLast = new WeakMap<Buf, readonly number[]>();
  /**
   * Buffers not yet written (made by alloc) or holding one constant (fill), dropped on any
   * other write that passes here: a copy may lay one out channels-last, as nothing else in it
   * can be plain.
   */
  const fresh = new WeakSet<Buf>();
  /** [n, c, h, w] laid out as [n, h, w, c], of element type dt. */
  const nhwcMd = (dims: readonly number[], dt: DataType) =>
    d.md(dims, [dims[1] * dims[2] * dims[3], 1, dims[3] * dims[1], dims[1]], dt);
  /** The dims of the [n, c, h, w] tensor b holds channels-last, or undefined (plain). */
  const nhwcDims = (b: Buf) => channelsLast.get(b);
  /** Says b now holds a [n, c, h, w] tensor channels-last (where that differs from plain). */
  const markNhwc = (b: Buf, dims: readonly number[]) => {
    fresh.delete(b);
    if (dims[1] > 1 && dims[2] * dims[3] > 1) channelsLast.set(b, dims);
    else channelsLast.delete(b);
  };
  const unmark = (b: Buf) => {
    fresh.delete(b);
    channelsLast.delete(b);
  };

  /** Reorders b's [n, c, h, w] values (nhwc if `fromNhwc`, else plain) into nhwc dt in `to`. */
  function toNhwc(b: Buf, dims: readonly number[], fromNhwc: boolean, to: Buf): void {
    const src = fromNhwc ? nhwcMd(dims, dtOf(b)) : d.md(dims, undefined, dtOf(b));
    reorderTo(
      src,
      nhwcMd(dims, dtOf(to)),
      `nhwc ${dims} ${fromNhwc} ${dtOf(b)} ${dtOf(to)}`,
      b,
      to,
    );
  }

  /** Puts b's values back in plain order, in place, if it holds them channels-last. */
  function plain(...bs: Buf[]): void {
    for (const b of bs) {
      fresh.delete(b);
      const dims = channelsLast.get(b);
      if (!dims) continue;
      channelsLast.delete(b);
      const bytes = b.length * b.BYTES_PER_ELEMENT, t = tmp(bytes);
      const dt = dtOf(b);
      reorderTo(nhwcMd(dims, dt), d.md(dims, undefined, dt), `plain ${dims} ${dt}`, b, t);
      new Uint8Array(b.buffer, b.byteOffset, bytes).set(
        new Uint8Array(t.buffer, t.byteOffset, bytes),
      );
      release(t);
    }
  }

  /**
   * b's values as a [n, c, h, w] tensor channels-last in element type dt: b itself when it
   * already holds them so, else a temporary (release it when it is not b).
   */
  function nhwcOf(b: Buf, dims: readonly number[], dt: DataType): Buf {
    const have = channelsLast.get(b);
    if (have && have.join() !== dims.join()) plain(b);
    const marked = channelsLast.has(b);
    if (marked && dtOf(b) === dt) return b;
    const n = dims.reduce((x, y) => x * y, 1);
    const t = temporary(n, dt);
    toNhwc(b, dims, marked, t);
    return t;
  }

  /**
   * b's values as a [n, c, h, w] tensor laid out as `want` (nhwc, or a blocked layout a
   * primitive chose): b itself when it already is, else a temporary (release it when not b).
   */
  function asLayout(b: Buf, dims: readonly number[], want: MemoryDesc): Buf {
    const m = channelsLast.get(b);
    if (m && m.join() !== dims.join()) plain(b);
    const marked = channelsLast.has(b);
    const have = marked ? nhwcMd(dims, dtOf(b)) : d.md(dims, undefined, dtOf(b));
    if (d.mdEqual(have, want)) return b;
    const t = tmp(d.mdSize(want));
    reorderTo(have, want, `layout ${dims} ${marked} ${dtOf(b)} ${ids(want)}`, b, t);
    return t;
  }
  /** A number per memory descriptor object (those of cached primitives), for kernel keys. */
  const mdIds = new WeakMap<MemoryDesc, number>();
  let nextMdId = 0;
  const ids = (md: MemoryDesc) => {
    let id = mdIds.get(md);
    if (id === undefined) mdIds.set(md, id = nextMdId++);
    return id;
  };

  return {
    fresh,
    asLayout,
    d,
    s,
    build,
    kernel,
    run,
    tmp,
    release,
    bf16,
    temporary,
    reorderTo,
    convert,
    widen,
    nhwcMd,
    nhwcDims,
    markNhwc,
    unmark,
    plain,
    nhwcOf,
  };
}

/** The float32 view a bf16 buffer was carved from (what the arena handed out). */
function floatsOf(b: Uint16Array): Float32Array {
  return new Float32Array(b.buffer, b.byteOffset, Math.ceil(b.length / 2));
}

function halvesOf(b: Float32Array, n: number): Uint16Array {
  return new Uint16Array(b.buffer, b.byteOffset, n);
}

const scratch32 = new Float32Array(1), bits32 = new Uint32Array(scratch32.buffer);

/** float32 → bfloat16 bits, rounding to nearest even (NaN stays a quiet NaN). */
export function toBf16(v: number): number {
  scratch32[0] = v;
  const u = bits32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x40;
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

function convertSmall(from: Buf, to: Buf, n: number): void {
  if (from instanceof Float32Array && to instanceof Float32Array) {
    to.set(from.subarray(0, n));
  } else if (from instanceof Uint16Array && to instanceof Uint16Array) {
    to.set(from.subarray(0, n));
  } else if (to instanceof Uint16Array) {
    for (let i = 0; i < n; i++) to[i] = toBf16(from[i]);
  } else {
    const u = new Uint32Array(to.buffer, to.byteOffset, n);
    for (let i = 0; i < n; i++) u[i] = from[i] << 16;
  }
}
