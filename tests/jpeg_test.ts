// JPEG beyond the decoder fixtures: a truncated scan is refused where its data ends (not
// after decoding the rest of the image from zeros); the one-pass path (a file ending in EOI)
// gives the same pixels as the path that holds every coefficient (a file without EOI); the
// encoder writes cjpeg's bytes, its quality shows in the round trip, and its EXIF exposure
// time is read back.

import { decodeImage, encodeImage } from "@lfdiff/io/codecs.ts";
import { exposureTime } from "@lfdiff/io/exif.ts";
import { type Image, ImageError, newImage } from "@lfdiff/io/image.ts";
import { encodeJpeg, jpegRoundTrip, type Subsampling } from "@lfdiff/io/jpeg_encode.ts";
import { psnr } from "@lfdiff/imaging/metrics.ts";
import { assert, assertEquals, assertRejectsOneLine, strictEqual } from "./assert.ts";

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

/** The pixels tests/make_jpeg_fixtures.py gives cjpeg: ramps and a checkerboard, or gray. */
function jpegSource(gray: boolean): Image {
  const W = 21, H = 19, img = newImage(W, H, gray ? 1 : 3, 8);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * img.channels;
      if (gray) img.data[o] = ((x * 9 + y * 5) % 256) / 255;
      else {
        img.data[o] = Math.floor((x * 255) / (W - 1)) / 255;
        img.data[o + 1] = Math.floor((y * 255) / (H - 1)) / 255;
        img.data[o + 2] = (((Math.floor(x / 4) + Math.floor(y / 4)) % 2) * 200 + 20) / 255;
      }
    }
  }
  return img;
}

const fixture = (name: string) =>
  Deno.readFileSync(new URL(`./fixtures/images/${name}`, import.meta.url));

Deno.test("encodeJpeg writes the bytes cjpeg -baseline writes", () => {
  const cases: [string, boolean, number, Subsampling][] = [
    ["cjpeg_q75_420.jpg", false, 75, "4:2:0"],
    ["cjpeg_q95_444.jpg", false, 95, "4:4:4"],
    ["cjpeg_q10_420.jpg", false, 10, "4:2:0"],
    ["cjpeg_q50_gray.jpg", true, 50, "4:2:0"],
  ];
  for (const [file, gray, quality, subsampling] of cases) {
    assertEquals(encodeJpeg(jpegSource(gray), { quality, subsampling }), fixture(file), file);
  }
});

/** 96×64 RGB: smooth shading, hard edges and fine texture, as photographs mix them. */
function scene(): Image {
  const img = newImage(96, 64, 3, 8);
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 96; x++) {
      const edge = x > 40 && y > 20 && x < 70 ? 0.35 : 0;
      const texture = 0.08 * Math.sin(x * 1.3) * Math.cos(y * 0.9);
      for (let c = 0; c < 3; c++) {
        const v = 0.2 + 0.5 * ((x + 2 * y + 17 * c) / 230) + edge * (c === 1 ? -1 : 1) + texture;
        img.data[(y * 96 + x) * 3 + c] = Math.min(Math.max(v, 0), 1);
      }
    }
  }
  return img;
}

Deno.test("JPEG round trip: PSNR rises with quality, and 4:4:4 keeps more than 4:2:0", () => {
  const src = scene();
  for (const sub of ["4:2:0", "4:4:4"] as const) {
    const scores = [30, 60, 85, 95].map((q) => psnr(jpegRoundTrip(src, q, sub).data, src.data));
    for (let i = 1; i < scores.length; i++) assert(scores[i] > scores[i - 1], `${sub} ${scores}`);
    // 4:2:0 halves the chroma of the scene's red-green edge; 4:4:4 keeps climbing.
    assert(scores[0] > 25 && scores[3] > (sub === "4:4:4" ? 42 : 30), `${sub}: ${scores}`);
  }
  const at = (sub: Subsampling) => psnr(jpegRoundTrip(src, 95, sub).data, src.data);
  assert(at("4:4:4") > at("4:2:0") + 1, "the chroma edges lose detail at 4:2:0");
  const gray = jpegRoundTrip(jpegSource(true), 90);
  strictEqual(gray.channels, 1);
});

Deno.test("JPEG EXIF: the exposure time written is the one io/exif.ts reads", async () => {
  for (const t of [1 / 4000, 1 / 250, 0.3, 1 / 3, 2, 30]) {
    const bytes = encodeJpeg(scene(), { exposureTime: t });
    const read = exposureTime(bytes)!;
    assert(Math.abs(read / t - 1) < 1e-6, `wrote ${t} s, read ${read} s`);
    strictEqual((await decodeImage(bytes, "exif.jpg")).width, 96);
  }
  strictEqual(exposureTime(encodeJpeg(scene())), undefined);
});

Deno.test("JPEG through encodeImage: .jpg and .jpeg, quality 92 unless given", async () => {
  const img = scene();
  assertEquals(await encodeImage(img, "a.jpg"), encodeJpeg(img, { quality: 92 }));
  assertEquals(
    await encodeImage(img, "b.JPEG", { quality: 70, subsampling: "4:4:4", exposureTime: 0.5 }),
    encodeJpeg(img, { quality: 70, subsampling: "4:4:4", exposureTime: 0.5 }),
  );
});
