// Decoders against other tools: every fixture in tests/fixtures/images/ decodes to what the
// tool that made it decodes (manifest.json; references are float32 RGB, plus alpha).

import { decodeImage, type DecodeOptions, encodeImage } from "@lfdiff/io/codecs.ts";
import { toRgb } from "@lfdiff/io/image.ts";
import { assertClose, assertEquals, strictEqual } from "./assert.ts";
import { OUTPUTS, outputSource } from "./codec_outputs.ts";

interface Entry {
  file: string;
  width: number;
  height: number;
  channels: number;
  bitDepth: number;
  tol: number;
  tool: string;
  alpha?: boolean;
  /** Bit for bit: float formats, whose reference is the tool's own float decode. */
  exact?: boolean;
  options?: DecodeOptions;
  suffix?: string; // of the reference files, for entries with options
}

const dir = new URL("./fixtures/images/", import.meta.url);
const manifest: Entry[] = JSON.parse(Deno.readTextFileSync(new URL("manifest.json", dir)));
const floats = (name: string) => new Float32Array(Deno.readFileSync(new URL(name, dir)).buffer);

for (const e of manifest) {
  const how = e.options ? ` with ${JSON.stringify(e.options)}` : "";
  Deno.test(`decode ${e.file}${how} as ${e.tool} does`, async () => {
    const img = await decodeImage(Deno.readFileSync(new URL(e.file, dir)), e.file, e.options);
    strictEqual(img.width, e.width);
    strictEqual(img.height, e.height);
    strictEqual(img.channels, e.channels);
    strictEqual(img.bitDepth, e.bitDepth);
    const ref = (kind: string) => floats(`${e.file}${e.suffix ?? ""}.${kind}`);
    const check = (got: Float32Array, want: Float32Array, what: string) => {
      // Float formats: identical bits. Integer formats: within half a 16-bit step of the
      // tool's 16-bit export.
      if (e.exact) assertEquals(new Uint8Array(got.buffer), new Uint8Array(want.buffer), what);
      else assertClose(got, want, Math.max(e.tol, 0.5 / 65535), what);
    };
    check(toRgb(img).data, ref("ref"), `${e.file} RGB`);
    if (e.alpha) {
      const a = new Float32Array(e.width * e.height);
      for (let i = 0; i < a.length; i++) a[i] = img.data[i * img.channels + img.channels - 1];
      check(a, ref("alpha"), `${e.file} alpha`);
    }
  });
}

Deno.test("OpenEXR windows: the data window is returned with both windows as metadata", async () => {
  const img = await decodeImage(Deno.readFileSync(new URL("window.exr", dir)), "window.exr");
  assertEquals(img.dataWindow, { xMin: -3, yMin: 4, xMax: 30, yMax: 25 });
  assertEquals(img.displayWindow, { xMin: 0, yMin: 0, xMax: 39, yMax: 29 });
});

// Our encoders: the other tool's decode of the committed file matches the source image to
// the format's precision; today's encoder writes the same bytes (uncompressed formats) or
// the same pixels (zlib formats, whose bytes depend on the zlib build).
const ours: { file: string; tool: string }[] = JSON.parse(
  Deno.readTextFileSync(new URL("ours.json", dir)),
);
const PRECISION: Record<string, number> = { hdr: 1 / 128, exr: 1e-3, tif: 1 / 65535, png: 1 / 255 };

for (const o of ours) {
  Deno.test(`${o.tool} reads our ${o.file} as written`, async () => {
    const spec = OUTPUTS.find((x) => x.file === o.file)!;
    const src = outputSource(spec.hdr);
    const ref = floats(`${o.file}.ref`);
    const ext = o.file.split(".").pop()!;
    const float32 = o.file.includes("float");
    // RGBE keeps 8 bits relative to a pixel's largest channel; half floats ~11 bits per
    // value; integer formats half a code.
    for (let i = 0; i < src.data.length; i++) {
      const p = i - (i % 3);
      const pixelMax = Math.max(src.data[p], src.data[p + 1], src.data[p + 2]);
      const want = ext === "hdr"
        ? pixelMax / 128
        : ext === "exr"
        ? Math.abs(src.data[i]) * (float32 ? 1e-7 : PRECISION.exr)
        : PRECISION[ext] * 0.51;
      if (!(Math.abs(ref[i] - src.data[i]) <= want)) {
        throw new Error(
          `${o.file}: ${o.tool} decodes value ${i} as ${ref[i]}, written ${src.data[i]}`,
        );
      }
    }
    const now = await encodeImage(src, o.file, spec.options);
    if (ext === "hdr" || ext === "tif") {
      assertEquals(now, Deno.readFileSync(new URL(o.file, dir)));
    }
    const back = await decodeImage(now, o.file);
    assertClose(toRgb(back).data, ref, 1e-7, `${o.file} re-encoded`);
  });
}
