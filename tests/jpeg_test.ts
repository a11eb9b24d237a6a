// JPEG beyond the fixtures: a truncated scan is refused where its data ends (not after
// decoding the rest of the image from zeros), and the one-pass path (a file ending in EOI)
// gives the same pixels as the path that holds every coefficient (a file without EOI).

import { decodeImage } from "@lfdiff/io/codecs.ts";
import { ImageError } from "@lfdiff/io/image.ts";
import { assert, assertEquals, assertRejectsOneLine } from "./assert.ts";

const be16 = (v: number) => [(v >> 8) & 255, v & 255];
const seg = (m: number, body: number[]) => [0xff, m, ...be16(body.length + 2), ...body];

/**
 * A gray baseline JPEG whose Huffman codes are all 2 bits: DC category 0 or 1 ("00", "01"),
 * AC end-of-block or a ±1 ("00", "01"). `scan` is the entropy-coded data.
 */
function grayJpeg(w: number, h: number, scan: Uint8Array, eoi: boolean): Uint8Array {
  const twoBit = [0, 2, ...new Array(14).fill(0)];
  const head = [
    0xff,
    0xd8,
    ...seg(0xdb, [0, ...new Array(64).fill(40)]),
    ...seg(0xc4, [0x00, ...twoBit, 0, 1]),
    ...seg(0xc4, [0x10, ...twoBit, 0x00, 0x01]),
    ...seg(0xc0, [8, ...be16(h), ...be16(w), 1, 1, 0x11, 0]),
    ...seg(0xda, [1, 1, 0, 0, 63, 0]),
  ];
  const out = new Uint8Array(head.length + scan.length + (eoi ? 2 : 0));
  out.set(head);
  out.set(scan, head.length);
  if (eoi) out.set([0xff, 0xd9], out.length - 2);
  return out;
}

Deno.test("JPEG: a truncated scan is refused in the MCU row where its data ends", async () => {
  // 4 bits a block (DC 0, EOB): the data covers the first half of the 256 block rows, and
  // passes the 2-bits-a-block check made before anything is allocated.
  const blocks = 256 * 256;
  const file = grayJpeg(2048, 2048, new Uint8Array(blocks / 4), false);
  const t = performance.now();
  await assertRejectsOneLine(
    decodeImage(file, "cut.jpg"),
    ImageError,
    /^cut\.jpg: truncated entropy-coded data \(the scan ends in MCU row 129 of 256\)$/,
  );
  assert(performance.now() - t < 2000, "refused without decoding the rest");
});

Deno.test("JPEG: the one-pass path and the whole-coefficient path decode alike", async () => {
  // 40×24 gray, 15 blocks: DC steps of +1 and −1 (category 1), some AC ±1 before EOB.
  const bits: number[] = [];
  for (let b = 0; b < 15; b++) {
    bits.push(0, 1, b % 3 ? 1 : 0); // DC category 1, then its one magnitude bit
    for (let k = 0; k < b % 4; k++) bits.push(0, 1, k & 1); // AC run 0, size 1, ±1
    bits.push(0, 0); // EOB
  }
  while (bits.length % 8) bits.push(1);
  const scan = Uint8Array.from(
    { length: bits.length / 8 },
    (_, i) => bits.slice(8 * i, 8 * i + 8).reduce((a, b) => 2 * a + b, 0),
  );
  assert(!scan.includes(0xff));
  const oneNoEoi = await decodeImage(grayJpeg(40, 24, scan, false), "a.jpg");
  const onePass = await decodeImage(grayJpeg(40, 24, scan, true), "b.jpg");
  assertEquals(onePass.data, oneNoEoi.data);
  // Not flat: the blocks differ, and the AC terms vary within blocks.
  assert(new Set(onePass.data).size > 15);
});
