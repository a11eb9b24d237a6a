// The oneDNN backend's plumbing: the library, the primitive cache (one primitive per
// shape, its memory objects re-pointed at our buffers on each call), temporaries and
// scratchpads from the CPU arena (a scratchpad lives for one call: a 1024² conv's takes
// 192 MiB that would otherwise stay resident), and reorders between layouts.

import {
  arg,
  type Dnnl,
  type MemoryDesc,
  openDnnl,
  type Primitive,
  query,
} from "../../native/dnnl.ts";
import type { Backend, DeviceBuffer } from "../backend.ts";

export const f = (b: DeviceBuffer) => b as Float32Array;

/** A cached primitive with one memory object per argument, re-pointed on each call. */
export interface Kernel {
  p: Primitive;
  args: number[];
  mems: Deno.PointerValue[];
  scratch: Deno.PointerValue | null;
}

export type DnnlContext = ReturnType<typeof dnnlContext>;

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

  const ptr = (buf: Float32Array, off = 0) => {
    const p = Deno.UnsafePointer.of(buf)!;
    return off ? Deno.UnsafePointer.offset(p, off * 4) : p;
  };

  /** Runs k on buffers given in the order of its arguments ([buffer, element offset]). */
  function run(k: Kernel, bufs: (Float32Array | [Float32Array, number])[]): void {
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
  const tmp = (bytes: number) => f(base.alloc(Math.ceil(bytes / 4)));
  const release = (b: Float32Array) => base.free(b);

  function reorderTo(
    src: MemoryDesc,
    dst: MemoryDesc,
    key: string,
    from: Float32Array,
    to: Float32Array,
  ): void {
    const k = kernel(
      `reorder ${key}`,
      () => build(d.reorder(src, dst), [[arg.src, src], [arg.dst, dst]]),
    );
    run(k, [from, to]);
  }

  return { d, s, build, kernel, run, tmp, release, reorderTo };
}
