// Reading the committed PyTorch fixtures (made by tests/make_goldens.py) and the list of
// devices every op test runs on.

import { parseSafetensors, type SafetensorsFile } from "@lfdiff/io/safetensors.ts";
import { getBackend } from "@lfdiff/ops/device.ts";

const cache = new Map<string, SafetensorsFile>();

export function fixture(name: string): SafetensorsFile {
  let f = cache.get(name);
  if (!f) {
    const url = new URL(`./fixtures/${name}.safetensors`, import.meta.url);
    f = parseSafetensors(Deno.readFileSync(url), url.pathname);
    cache.set(name, f);
  }
  return f;
}

export function get(f: SafetensorsFile, key: string) {
  const t = f.tensors.get(key);
  if (!t) throw new Error(`fixture lacks ${key}`);
  return t;
}

let cudaProblem: string | null | undefined;

/** Why the CUDA backend cannot run here, or null when it can (asked once). */
export function cudaUnavailable(): string | null {
  if (cudaProblem === undefined) {
    try {
      getBackend("cuda");
      cudaProblem = null;
    } catch (e) {
      cudaProblem = (e as Error).message;
      console.error(`tests: CUDA tests skipped: ${cudaProblem}`);
    }
  }
  return cudaProblem;
}

/** Devices the shared test bodies run on; CUDA's are skipped (shown as ignored) without a GPU. */
export function testDevices(): { device: string; ignore: boolean }[] {
  return [{ device: "cpu", ignore: false }, { device: "cuda", ignore: cudaUnavailable() !== null }];
}
