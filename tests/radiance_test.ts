// Radiance files from the wild: header lines before the "#?RADIANCE" magic (Debevec's
// memorial.hdr opens with a VIEW= line) are read as Radiance's own tools read them; a copy
// that went through a CR LF conversion is refused in one line; sniffing stays strict.

import { decodeImage } from "@lfdiff/io/codecs.ts";
import { ImageError, newImage } from "@lfdiff/io/image.ts";
import { encodeRadiance } from "@lfdiff/io/radiance.ts";
import { assert, assertEquals, assertRejectsOneLine } from "./assert.ts";

function source() {
  const img = newImage(16, 5, 3, 32);
  for (let i = 0; i < img.data.length; i++) img.data[i] = 0.01 * ((i * 37) % 101) + (i % 7);
  return img;
}
const ascii = (t: string) => new TextEncoder().encode(t);
const join = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};
/** What a text-mode transfer does: every LF becomes CR LF, pixel bytes included. */
const crlf = (b: Uint8Array) => Uint8Array.from([...b].flatMap((x) => x === 0x0a ? [0x0d, x] : x));

const plain = encodeRadiance(source());

Deno.test("Radiance: header lines before #?RADIANCE are read as header lines", async () => {
  const want = await decodeImage(plain, "plain.hdr");
  for (
    const lead of [
      "VIEW= -vtv -vh 90 -vv 150\n",
      "# made by a test\nEXPOSURE=1.0\n\tpfilt -x 512 -y 768\n",
      "x\n".repeat(16),
    ]
  ) {
    const img = await decodeImage(join(ascii(lead), plain), "lead.hdr");
    assertEquals([img.width, img.height], [want.width, want.height]);
    assertEquals(img.data, want.data, JSON.stringify(lead));
  }
});

Deno.test("Radiance: a FORMAT line before the magic still counts", async () => {
  const lead = ascii("FORMAT=32-bit_rle_xyze\n");
  await assertRejectsOneLine(
    decodeImage(join(lead, plain), "xyze.hdr"),
    ImageError,
    /^xyze\.hdr: unsupported pixel format 32-bit_rle_xyze/,
  );
});

Deno.test("Radiance: sniffing refuses text that only looks like a header", async () => {
  const cases: [string, Uint8Array][] = [
    ["too many lines", join(ascii("x\n".repeat(17)), plain)],
    ["blank line before the magic", join(ascii("VIEW= -vtv\n\n"), plain)],
    ["control byte in a lead line", join(ascii("VIEW=\x01\n"), plain)],
    ["magic without a program name", join(ascii("VIEW=\n#?\n"), plain)],
    ["plain text", ascii("hello\nworld\n")],
  ];
  for (const [what, bytes] of cases) {
    await assertRejectsOneLine(decodeImage(bytes, what), ImageError, /: unrecognised image format/);
  }
});

Deno.test("Radiance: a CRLF-converted copy is refused in one line saying so", async () => {
  // The pixel data must hold LF bytes for the conversion to damage it.
  assert(plain.subarray(plain.indexOf(0x2d)).includes(0x0a));
  for (const bytes of [crlf(plain), crlf(join(ascii("VIEW= -vtv -vh 90 -vv 150\n"), plain))]) {
    await assertRejectsOneLine(
      decodeImage(bytes, "memorial.hdr"),
      ImageError,
      /^memorial\.hdr: looks CRLF-converted \(damaged in transfer\)/,
    );
  }
});
