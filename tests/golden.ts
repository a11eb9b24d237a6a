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

const problems = new Map<string, string | null>();

/** Why `device` cannot run here (said once), or null when it can. */
function unavailable(device: string): string | null {
  if (!problems.has(device)) {
    try {
      getBackend(device);
      problems.set(device, null);
    } catch (e) {
      problems.set(device, (e as Error).message);
      console.error(`tests: ${device} tests skipped: ${(e as Error).message}`);
    }
  }
  return problems.get(device)!;
}

/** Why the CUDA backend cannot run here, or null when it can. */
export const cudaUnavailable = (): string | null => unavailable("cuda");

/**
 * Devices the shared test bodies run on: both CPU paths, and CUDA (ignored without a GPU).
 * CI installs oneDNN, so there cpu-dnnl always runs.
 */
export function testDevices(): { device: string; ignore: boolean }[] {
  return [
    { device: "cpu-dnnl", ignore: unavailable("cpu-dnnl") !== null },
    { device: "cpu-openblas", ignore: false },
    { device: "cuda", ignore: unavailable("cuda") !== null },
  ];
}
