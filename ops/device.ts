// Backend registry and the default device. Backends register a factory by name and are
// created on first use, so merely importing lfdiff never opens a native library.

import type { Backend } from "./backend.ts";
import { createCpuBackend, createOpenBlasBackend } from "./cpu/backend.ts";
import { createDnnlBackend } from "./cpu/dnnl_backend.ts";
import { createCudaBackend } from "./cuda/backend.ts";

// "cpu" is oneDNN where it loads, else OpenBLAS; "cpu-dnnl" and "cpu-openblas" name the
// two paths (the tests run every op on both). "cuda" opens the driver, NVRTC, cuBLAS and
// cuDNN only when first asked for.
const factories = new Map<string, () => Backend>([
  ["cpu", () => createCpuBackend("cpu")],
  ["cpu-dnnl", () => createDnnlBackend("cpu-dnnl", createOpenBlasBackend("cpu-dnnl"))],
  ["cpu-openblas", () => createOpenBlasBackend("cpu-openblas")],
  ["cuda", createCudaBackend],
]);
const live = new Map<string, Backend>();
let defaultName = "cpu";

export function registerBackend(name: string, factory: () => Backend): void {
  factories.set(name, factory);
  live.delete(name);
}

export function getBackend(name: string = defaultName): Backend {
  let b = live.get(name);
  if (b) return b;
  const make = factories.get(name);
  if (!make) {
    throw new Error(`unknown device "${name}" (known: ${[...factories.keys()].join(", ")})`);
  }
  b = make();
  live.set(name, b);
  return b;
}

export function setDefaultDevice(name: string): void {
  getBackend(name);
  defaultName = name;
}

export function defaultDevice(): string {
  return defaultName;
}
