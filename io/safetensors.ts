// safetensors files: an 8-byte little-endian header length, a JSON header mapping names to
// {dtype, shape, data_offsets}, then raw little-endian data. We read F32, F16, BF16 and F64
// (converted to float32) and write F32 or F16. Every inconsistency is an error naming the file.

import { FileError, writeFileAtomic } from "./files.ts";
import { floatToHalf, halfToFloat } from "./half.ts";

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
const MAX_HEADER = 100 * 1024 * 1024;

function decode(dtype: string, bytes: Uint8Array): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / BYTES[dtype];
  const out = new Float32Array(n);
  switch (dtype) {
    case "F32":
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      break;
    case "F64":
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      break;
    case "F16":
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
      break;
    case "BF16": {
      const u = new Uint32Array(1), f = new Float32Array(u.buffer);
      for (let i = 0; i < n; i++) {
        u[0] = dv.getUint16(2 * i, true) << 16;
        out[i] = f[0];
      }
      break;
    }
  }
  return out;
}

export function parseSafetensors(bytes: Uint8Array, label = "safetensors"): SafetensorsFile {
  const fail = (why: string): never => {
    throw new FileError(label, why);
  };
  if (bytes.byteLength < 8) fail("too short for a safetensors header");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = Number(dv.getBigUint64(0, true));
  if (len > MAX_HEADER || 8 + len > bytes.byteLength) fail(`header length ${len} exceeds the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  } catch {
    return fail("header is not valid JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("header is not a JSON object");
  }
  const data = bytes.subarray(8 + len);
  const tensors = new Map<string, HostTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: string; shape?: number[]; data_offsets?: number[] };
    const dtype = e?.dtype ?? "?";
    if (!(dtype in BYTES)) {
      fail(`tensor "${name}" has dtype ${dtype}; only F32, F16, BF16, F64 are read`);
    }
    const shape = e.shape, off = e.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor "${name}" has a bad shape`);
    }
    if (
      !Array.isArray(off) || off.length !== 2 ||
      !(0 <= off[0] && off[0] <= off[1] && off[1] <= data.byteLength)
    ) {
      fail(`tensor "${name}" data offsets ${JSON.stringify(off)} lie outside the file`);
    }
    const count = shape!.reduce((a, b) => a * b, 1);
    if (off![1] - off![0] !== count * BYTES[dtype]) {
      fail(`tensor "${name}" has ${off![1] - off![0]} bytes for shape [${shape}] of ${dtype}`);
    }
    tensors.set(name, { shape: shape!, data: decode(dtype, data.subarray(off![0], off![1])) });
  }
  return { tensors, metadata };
}

/** Stored element types: float32, or IEEE half (round to nearest even) for compact files. */
export type StoredType = "F32" | "F16";

export function serializeSafetensors(
  tensors: Map<string, HostTensor>,
  metadata: Record<string, string> = {},
  dtype: StoredType = "F32",
): Uint8Array {
  const width = BYTES[dtype];
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let at = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype, shape: t.shape, data_offsets: [at, at + t.data.length * width] };
    at += t.data.length * width;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength + at);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let pos = 8 + json.byteLength;
  for (const t of tensors.values()) {
    if (dtype === "F32") {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    } else {for (let i = 0; i < t.data.length; i++) {
        view.setUint16(pos + 2 * i, floatToHalf(t.data[i]), true);
      }}
    pos += t.data.length * width;
  }
  return out;
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new FileError(path, `cannot read (${(e as Error).message})`);
  }
  return parseSafetensors(bytes, path);
}

/** Writes atomically (a temporary sibling, then a rename). */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, HostTensor>,
  metadata: Record<string, string> = {},
  dtype: StoredType = "F32",
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata, dtype));
}
