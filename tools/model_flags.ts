// Flags every model-running tool shares (infer, eval) and the model they select.

import { loadLFDiff } from "../model/checkpoint.ts";
import { CONFIGS, type LFDiffConfig, type Variant } from "../model/config.ts";
import { LFDiff } from "../model/lfdiff.ts";
import { getBackend, setDefaultDevice } from "../ops/device.ts";
import { type Precision, setPrecision } from "../ops/precision.ts";
import { Rng } from "../ops/rng.ts";
import { type Flags, MAX_PIXELS_FLAG } from "./cli.ts";

export const MODEL_FLAGS = {
  weights: {
    type: "string",
    arg: "FILE",
    help:
      "LF-Diff weights (.safetensors, carrying their configuration; default: the shipped model)",
  },
  config: {
    type: "string",
    default: "paper",
    arg: "NAME",
    help: `configuration for --untrained and --summary: ${Object.keys(CONFIGS).join(", ")}`,
  },
  untrained: {
    type: "boolean",
    help: "random weights instead of a trained model (for timing and tests; not a reconstruction)",
  },
  variant: { type: "string", arg: "V", help: "baseline, s1, s2-no-dm or s2 (Table 3)" },
  steps: {
    type: "string",
    arg: "S",
    help: "DDIM steps of the diffusion prior (default: the model's)",
  },
  seed: { type: "string", default: "0", arg: "N", help: "seed of the diffusion prior's noise" },
  tile: {
    type: "string",
    default: "auto",
    arg: "N|auto",
    help: "tile side in pixels, 0 = whole image, auto = 1024 above 2.6 MP",
  },
  device: { type: "string", default: "cpu", arg: "cpu|cuda", help: "where the network runs" },
  precision: {
    type: "string",
    default: "fp32",
    arg: "fp32|bf16|auto",
    help: "bf16: convs and matmuls in bfloat16 with fp32 accumulation where the CPU has it " +
      "(ops/precision.ts); auto: bf16 where available",
  },
  "max-pixels": MAX_PIXELS_FLAG,
} satisfies Flags;

/**
 * Sets the precision `--precision` asks for, on the default device: bf16 where that device
 * computes in bf16, else fp32 (said in one line when bf16 was asked for by name).
 */
export function usePrecision(flag: string, warn: (s: string) => void): Precision {
  if (flag !== "fp32" && flag !== "bf16" && flag !== "auto") {
    throw new Error(`--precision must be fp32, bf16 or auto, got ${flag}`);
  }
  const b = getBackend();
  const p = flag !== "fp32" && b.bf16 ? "bf16" : "fp32";
  if (flag === "bf16" && p === "fp32") {
    warn(
      `--precision bf16: ${b.name} has no bf16 compute here (on a CPU, oneDNN's avx512_core_bf16 ISA); running fp32`,
    );
  }
  setPrecision(p);
  return p;
}

/** The model `infer` and `eval` use when no --weights are given. */
export const SHIPPED = new URL("../weights/lfdiff-small.safetensors", import.meta.url).pathname;

export interface ModelChoice {
  model: LFDiff;
  trained: boolean;
  /** DDIM steps S (the model's default unless --steps). */
  steps: number;
  seed: number;
  /** Tile side for fuseBracket (0 = whole image). */
  tileFor: (width: number, height: number) => number;
  /** The arithmetic in effect (--precision, resolved for the device). */
  precision: Precision;
}

/** A named configuration (CONFIGS), or one line listing them. */
export function configNamed(name: string): LFDiffConfig {
  const c = CONFIGS[name];
  if (!c) {
    throw new Error(`--config must be one of ${Object.keys(CONFIGS).join(", ")}, got ${name}`);
  }
  return c;
}

/** Makes `device` the default for new tensors, or fails with one line saying why it can't. */
export function useDevice(device: string): void {
  try {
    getBackend(device);
  } catch (e) {
    throw new Error(`--device ${device}: ${(e as Error).message}`);
  }
  setDefaultDevice(device);
}

/** Images up to this many pixels run whole; larger ones in 1024-pixel tiles. */
export const WHOLE_MAX_PIXELS = 2_600_000;

/** The tile side `--tile` asks for, for a width×height image. */
export function tileFor(tile: string, width: number, height: number): number {
  return tile === "auto" ? (width * height > WHOLE_MAX_PIXELS ? 1024 : 0) : Number(tile);
}

export async function chooseModel(
  v: { [K in keyof typeof MODEL_FLAGS]?: string | boolean },
  warn: (s: string) => void,
): Promise<ModelChoice> {
  const base = configNamed(String(v.config));
  const variant = v.variant as Variant | undefined;
  let model: LFDiff;
  let trained = false;
  if (v.untrained && v.weights) throw new Error("--weights and --untrained exclude each other");
  if (!v.untrained) {
    const path = typeof v.weights === "string" ? v.weights : SHIPPED;
    if (!v.weights && !(await Deno.stat(path).then(() => true, () => false))) {
      throw new Error(
        `the shipped model ${path} is missing; pass --weights FILE (or --untrained for random weights)`,
      );
    }
    model = await loadLFDiff(path, variant ? { variant } : undefined);
    trained = true;
  } else {
    model = new LFDiff({ ...base, ...(variant ? { variant } : {}) }, new Rng(0));
    warn(
      "--untrained: the network has UNTRAINED random weights, so its output is not a real HDR reconstruction",
    );
  }
  let steps: number;
  try {
    steps = model.samplingSteps(v.steps === undefined ? undefined : Number(v.steps));
  } catch (e) {
    throw new Error(`--steps: ${(e as Error).message}`);
  }
  const seed = Number(v.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${v.seed}`);
  const tile = String(v.tile);
  if (tile !== "auto" && !(Number.isInteger(Number(tile)) && Number(tile) >= 0)) {
    throw new Error(`--tile must be auto, 0 (whole image) or a size in pixels, got ${tile}`);
  }
  const precision = usePrecision(String(v.precision ?? "fp32"), warn);
  return { model, trained, steps, seed, tileFor: (w, h) => tileFor(tile, w, h), precision };
}
