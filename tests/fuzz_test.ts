// Hostile input: truncated and bit-flipped versions of every fixture image either decode to
// a sane image or fail with ImageError ("<file>: <problem>"), never another exception, and
// never take long. Seeded, so a failure reproduces.

import { decodeImage } from "@lfdiff/io/codecs.ts";
import { ImageError } from "@lfdiff/io/image.ts";
import { Rng } from "@lfdiff/ops/rng.ts";
import { assert } from "./assert.ts";

const dir = new URL("./fixtures/images/", import.meta.url);
const files = JSON.parse(Deno.readTextFileSync(new URL("manifest.json", dir))).map((
  e: { file: string },
) => e.file);

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
