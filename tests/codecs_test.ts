// Decoders against other tools: every fixture in tests/fixtures/images/ decodes to what the
// tool that made it decodes (manifest.json; references are float32 RGB, plus alpha).

import { decodeImage } from "@lfdiff/io/codecs.ts";
import { toRgb } from "@lfdiff/io/image.ts";
import { assertClose, strictEqual } from "./assert.ts";

interface Entry {
  file: string;
  width: number;
  height: number;
  channels: number;
  bitDepth: number;
  tol: number;
  tool: string;
  alpha?: boolean;
}

const dir = new URL("./fixtures/images/", import.meta.url);
const manifest: Entry[] = JSON.parse(Deno.readTextFileSync(new URL("manifest.json", dir)));
const floats = (name: string) => new Float32Array(Deno.readFileSync(new URL(name, dir)).buffer);

for (const e of manifest) {
  Deno.test(`decode ${e.file} as ${e.tool} does`, async () => {
    const img = await decodeImage(Deno.readFileSync(new URL(e.file, dir)), e.file);
    strictEqual(img.width, e.width);
    strictEqual(img.height, e.height);
    strictEqual(img.channels, e.channels);
    strictEqual(img.bitDepth, e.bitDepth);
    // Exact decoders: within half a 16-bit step of the tool's 16-bit export.
    assertClose(
      toRgb(img).data,
      floats(`${e.file}.ref`),
      Math.max(e.tol, 0.5 / 65535),
      `${e.file} RGB`,
    );
    if (e.alpha) {
      const a = new Float32Array(e.width * e.height);
      for (let i = 0; i < a.length; i++) a[i] = img.data[i * img.channels + img.channels - 1];
      assertClose(a, floats(`${e.file}.alpha`), Math.max(e.tol, 0.5 / 65535), `${e.file} alpha`);
    }
  });
}
