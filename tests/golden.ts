// Reading the committed PyTorch fixtures (made by tests/make_goldens.py) and the list of
// devices every op test runs on.

import { parseSafetensors, type SafetensorsFile } from "@lfdiff/io/safetensors.ts";
import { getBackend } from "@lfdiff/ops/device.ts";
import { NoCudaDevice } from "@lfdiff/native/cuda.ts";

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

const problems = new Map<string, { reason: string; absent: boolean } | null>();

/**
 * Whether an error from creating `device` only means this machine lacks it. For CUDA that
 * is no driver or no device (NoCudaDevice); a library that is missing or will not load, or
 * a failing call, is a fault the suite must report. oneDNN is optional on any machine.
 */
export function absentHere(device: string, e: unknown): boolean {
  return device === "cuda" ? e instanceof NoCudaDevice : true;
}

function problem(device: string) {
  if (!problems.has(device)) {
    try {
      getBackend(device);
      problems.set(device, null);
    } catch (e) {
      const reason = (e as Error).message, absent = absentHere(device, e);
      problems.set(device, { reason, absent });
      console.error(`tests: ${device} tests ${absent ? "skipped" : "will fail"}: ${reason}`);
    }
  }
  return problems.get(device)!;
}

/** Why `device` cannot run here (said once), or null when it can. */
function unavailable(device: string): string | null {
  return problem(device)?.reason ?? null;
}

/** Why oneDNN's bf16 path cannot run here (said once), or null when it can. */
export function bf16Unavailable(): string | null {
  const why = unavailable("cpu-dnnl") ??
    (getBackend("cpu-dnnl").bf16 ? null : "this CPU lacks oneDNN's avx512_core_bf16 ISA");
  if (why && !bf16Said) console.error(`tests: bf16 tests skipped: ${why}`);
  bf16Said = true;
  return why;
}
let bf16Said = false;

/** Why the CUDA backend cannot run here, or null when it can. */
export const cudaUnavailable = (): string | null => unavailable("cuda");

/** Whether this machine has no CUDA driver or device: CUDA tests are skipped, not failed. */
export const cudaAbsent = (): boolean => problem("cuda")?.absent ?? false;

/**
 * Devices the shared test bodies run on: both CPU paths, and CUDA (ignored without a GPU;
 * any other reason it cannot start fails its tests). CI installs oneDNN, so there cpu-dnnl
 * always runs.
 */
export function testDevices(): { device: string; ignore: boolean }[] {
  return [
    { device: "cpu-dnnl", ignore: unavailable("cpu-dnnl") !== null },
    { device: "cpu-openblas", ignore: false },
    { device: "cuda", ignore: cudaAbsent() },
  ];
}
