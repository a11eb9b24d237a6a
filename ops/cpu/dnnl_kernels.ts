// The oneDNN backend's plumbing: the library, the primitive cache (one primitive per
// shape, its memory objects re-pointed at our buffers on each call), temporaries and
// scratchpads from the CPU arena (a scratchpad lives for one call: a 1024² conv's takes
// 192 MiB that would otherwise stay resident), reorders between layouts, and bfloat16
// buffers: a Uint16Array view of arena memory, converted by reorders (which round to
// nearest even, as every oneDNN kernel that writes bf16 does).

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

  return { d, s, build, kernel, run, tmp, release, bf16, reorderTo, convert, widen };
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
