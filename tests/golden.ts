// Reading the committed PyTorch fixtures (made by tests/make_goldens.py) and the list of
// devices every op test runs on.

import { parseSafetensors, type SafetensorsFile } from "@lfdiff/model/safetensors.ts";

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

/** Devices the shared test bodies run on. */
export function testDevices(): string[] {
  return ["cpu"];
}
