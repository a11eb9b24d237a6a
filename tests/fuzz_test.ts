// Hostile input: truncated and bit-flipped versions of every fixture image either decode to
// a sane image or fail with ImageError ("<file>: <problem>"), never another exception, and
// never take long. Seeded, so a failure reproduces.

import { decodeImage } from "@lfdiff/io/codecs.ts";
import { ImageError } from "@lfdiff/io/image.ts";
import { PNG_SIGNATURE } from "@lfdiff/io/png.ts";
import { Rng } from "@lfdiff/ops/rng.ts";
import { assert } from "./assert.ts";

const dir = new URL("./fixtures/images/", import.meta.url);
const files: string[] = [
  ...new Set<string>(
    JSON.parse(Deno.readTextFileSync(new URL("manifest.json", dir))).map((e: { file: string }) =>
      e.file
    ),
  ),
];

async function tryDecode(bytes: Uint8Array, label: string): Promise<string> {
  const t = performance.now();
  let outcome = "ok";
  try {
    const img = await decodeImage(bytes, label);
    assert(
      img.width > 0 && img.height > 0 && img.data.length === img.width * img.height * img.channels,
    );
  } catch (e) {
    if (!(e instanceof ImageError)) {
      throw new Error(`${label}: escaped as ${(e as Error).name}: ${(e as Error).message}`);
    }
    if (!e.message.startsWith(`${label}: `)) {
      throw new Error(`${label}: message does not name the file: ${e.message}`);
    }
    outcome = "error";
  }
  const ms = performance.now() - t;
  if (ms > 2000) throw new Error(`${label}: took ${ms.toFixed(0)} ms`);
  return outcome;
}

for (const file of files) {
  Deno.test(`fuzz ${file}: truncations and bit flips end in our error or a valid image`, async () => {
    const orig = Deno.readFileSync(new URL(file, dir));
    const rng = new Rng(orig.length);
    const counts = { ok: 0, error: 0 };
    // Truncations: every length in the header region, then spread over the file.
    const cuts = new Set<number>();
    for (let n = 0; n < Math.min(64, orig.length); n++) cuts.add(n);
    for (let i = 0; i < 24; i++) cuts.add(rng.int(orig.length));
    for (const n of cuts) {
      counts[await tryDecode(orig.subarray(0, n), `${file}[:${n}]`) as "ok" | "error"]++;
    }
    // Bit flips: 1–8 random bits, half of them aimed at the first 256 bytes (headers).
    for (let i = 0; i < 40; i++) {
      const b = orig.slice();
      const flips = 1 + rng.int(8);
      for (let k = 0; k < flips; k++) {
        const at = i % 2 ? rng.int(Math.min(256, b.length)) : rng.int(b.length);
        b[at] ^= 1 << rng.int(8);
      }
      counts[await tryDecode(b, `${file}~${i}`) as "ok" | "error"]++;
    }
    assert(counts.error > 0, "some corruptions must be detected");
  });
}

// Decompression bombs: ~40 kB files whose headers claim 16384×16384 (and 12000×12000, under
// the default pixel limit) with too little data behind them. Each must be refused in one
// line naming the claimed size, quickly, before any large allocation: under the default limit
// and with the limit raised past the claim (then the data checks must catch it).
const le32 = (v: number) => [v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255];
const be16 = (v: number) => [(v >> 8) & 255, v & 255];
const be32 = (v: number) => [(v >>> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255];
const ascii = (t: string) => [...new TextEncoder().encode(t)];
const BOMB_BYTES = 40_000;
const pad = (head: number[], fill = 0) => {
  const b = new Uint8Array(Math.max(BOMB_BYTES, head.length)).fill(fill);
  b.set(head);
  return b;
};

function exrBomb(w: number, h: number, dwa = false): Uint8Array {
  const attr = (name: string, type: string, body: number[]) => [
    ...ascii(name),
    0,
    ...ascii(type),
    0,
    ...le32(body.length),
    ...body,
  ];
  const box = [...le32(0), ...le32(0), ...le32(w - 1), ...le32(h - 1)];
  const ch = (n: string) => [...ascii(n), 0, ...le32(1), ...le32(0), ...le32(1), ...le32(1)];
  const head = [
    ...le32(20000630),
    ...le32(2),
    ...attr("channels", "chlist", [...ch("A"), ...ch("B"), ...ch("G"), ...ch("R"), 0]),
    ...attr("compression", "compression", [dwa ? 8 : 3]),
    ...attr("dataWindow", "box2i", box),
    ...attr("displayWindow", "box2i", box),
    ...attr("lineOrder", "lineOrder", [0]),
    0,
  ];
  // ZIP: 16 lines a chunk, each a 16-byte chunk after the table. DWAA: 32 lines a chunk, each
  // a DWA header (version 2, no data) and the rules OpenEXR writes for half A (RLE) and R,G,B
  // (lossy, one colour set): the file is a little over 40 kB.
  const rule = (name: string, v: number) => [...ascii(name), 0, v, 1];
  const rules = [...rule("R", 0x14), ...rule("G", 0x24), ...rule("B", 0x34), ...rule("A", 0x08)];
  const body = dwa
    ? [2, ...new Array(87).fill(0), rules.length + 2, 0, ...rules]
    : [0, 0, 0, 0, 0, 0, 0, 0];
  const lines = dwa ? 32 : 16, size = 8 + body.length;
  const n = Math.ceil(h / lines), tableEnd = head.length + 8 * n;
  const b = new Uint8Array(Math.max(BOMB_BYTES, tableEnd + size * n));
  b.set(head);
  const dv = new DataView(b.buffer);
  for (let k = 0; k < n; k++) {
    const at = tableEnd + size * k;
    dv.setBigUint64(head.length + 8 * k, BigInt(at), true);
    dv.setInt32(at, lines * k, true);
    dv.setInt32(at + 4, body.length, true);
    b.set(body, at + 8);
  }
  return b;
}

function tiffBomb(w: number, h: number, bits: 8 | 16, compression: 1 | 8): Uint8Array {
  const entries: [number, number, number, number][] = [
    [256, 4, 1, w],
    [257, 4, 1, h],
    [258, 3, 1, bits],
    [259, 3, 1, compression],
    [262, 3, 1, 2],
    [273, 4, 1, 200],
    [277, 3, 1, 4],
    [278, 4, 1, h],
    [279, 4, 1, BOMB_BYTES - 200],
    [338, 3, 1, 2],
  ];
  const head = [0x49, 0x49, 42, 0, ...le32(8), entries.length, 0];
  for (const [tag, type, count, value] of entries) {
    head.push(tag & 255, tag >> 8, type, 0, ...le32(count));
    head.push(...(type === 3 ? [value & 255, value >> 8, 0, 0] : le32(value)));
  }
  const b = pad(head);
  // Deflate: a valid stream of zeros as the strip (stored blocks would need more bytes).
  if (compression === 8) b.set([0x78, 0x9c, 0x63, 0x60, 0x18, 0x05, 0xa3, 0x60], 200);
  return b;
}

function jpegBomb(w: number, h: number): Uint8Array {
  const seg = (m: number, body: number[]) => [0xff, m, ...be16(body.length + 2), ...body];
  const head = [
    0xff,
    0xd8,
    ...seg(0xdb, [0, ...new Array(64).fill(1)]),
    // One 1-bit code per table: DC category 0, AC end-of-block.
    ...seg(0xc4, [0x00, 1, ...new Array(15).fill(0), 0]),
    ...seg(0xc4, [0x10, 1, ...new Array(15).fill(0), 0]),
    ...seg(0xc0, [8, ...be16(h), ...be16(w), 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]),
    ...seg(0xda, [3, 1, 0, 2, 0, 3, 0, 0, 63, 0]),
  ];
  const b = pad(head); // an all-zero scan: every block is DC 0 then EOB
  b.set([0xff, 0xd9], b.length - 2);
  return b;
}

function pngBomb(w: number, h: number): Uint8Array {
  const crc = (bytes: number[]) => {
    let c = 0xffffffff;
    for (const x of bytes) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (name: string, body: number[]) => {
    const typed = [...ascii(name), ...body];
    return [...be32(body.length), ...typed, ...be32(crc(typed))];
  };
  const idat = [0x78, 0x9c, 0x63, 0x60, 0x18, 0x05, 0xa3, 0x60, ...new Array(BOMB_BYTES).fill(0)];
  return new Uint8Array([
    ...PNG_SIGNATURE,
    ...chunk("IHDR", [...be32(w), ...be32(h), 8, 6, 0, 0, 0]),
    ...chunk("IDAT", idat),
    ...chunk("IEND", []),
  ]);
}

const radianceBomb = (w: number, h: number) =>
  pad(ascii(`#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y ${h} +X ${w}\n`), 2);

const BOMBS: [string, (w: number, h: number) => Uint8Array][] = [
  ["exr-zip-rgba", (w, h) => exrBomb(w, h)],
  ["exr-dwaa-rgba", (w, h) => exrBomb(w, h, true)],
  ["tiff8-rgba", (w, h) => tiffBomb(w, h, 8, 1)],
  ["tiff16-rgba", (w, h) => tiffBomb(w, h, 16, 1)],
  ["tiff8-deflate", (w, h) => tiffBomb(w, h, 8, 8)],
  ["jpeg-zero-scan", jpegBomb],
  ["png-rgba", pngBomb],
  ["radiance", radianceBomb],
];

for (const [name, make] of BOMBS) {
  Deno.test(`bomb ${name}: refused in one line naming the claimed size`, async () => {
    for (const [w, h] of [[16384, 16384], [12000, 12000]]) {
      const bytes = make(w, h);
      for (const options of [{}, { maxPixels: 2 ** 31 }]) {
        const label = `${name}-${w}`;
        const t = performance.now();
        let err: unknown;
        try {
          await decodeImage(bytes, label, options);
        } catch (e) {
          err = e;
        }
        const ms = performance.now() - t;
        assert(err instanceof ImageError, `${label}: ${err}`);
        const msg = (err as Error).message;
        assert(msg.startsWith(`${label}: `) && !msg.includes("\n"), msg);
        assert(msg.includes(`${w}x${h}`), `${label}: does not name the size: ${msg}`);
        assert(ms < 2000, `${label}: took ${ms.toFixed(0)} ms`);
      }
    }
  });
}
