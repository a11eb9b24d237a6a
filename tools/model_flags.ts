// Flags every model-running tool shares (infer, eval) and the model they select:
//   --weights FILE.safetensors   (absent: untrained PyTorch-default weights, said loudly)
//   --config paper|tiny  --variant baseline|s1|s2-no-dm|s2  --steps S  --seed N
//   --tile N|auto  --device cpu

import { loadLFDiff } from "../model/checkpoint.ts";
import { type LFDiffConfig, PAPER, TINY, type Variant } from "../model/config.ts";
import { LFDiff } from "../model/lfdiff.ts";
import { getBackend, setDefaultDevice } from "../ops/device.ts";
import { Rng } from "../ops/rng.ts";
import type { Options } from "./cli.ts";

export const MODEL_FLAGS = {
  weights: { type: "string" },
  config: { type: "string", default: "paper" },
  variant: { type: "string" },
  steps: { type: "string" },
  seed: { type: "string", default: "0" },
  tile: { type: "string", default: "auto" },
  device: { type: "string", default: "cpu" },
} satisfies Options;

export interface ModelChoice {
  model: LFDiff;
  trained: boolean;
  steps: number;
  seed: number;
  /** Tile side for fuseBracket (0 = whole image). */
  tileFor: (width: number, height: number) => number;
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
const WHOLE_MAX_PIXELS = 2_600_000;

export async function chooseModel(
  v: Record<string, string | boolean | undefined>,
  warn: (s: string) => void,
): Promise<ModelChoice> {
  useDevice(String(v.device));
  const base: Record<string, LFDiffConfig> = { paper: PAPER, tiny: TINY };
  if (!(String(v.config) in base)) {
    throw new Error(`--config must be paper or tiny, got ${v.config}`);
  }
  const variant = v.variant as Variant | undefined;
  let model: LFDiff;
  let trained = false;
  if (v.weights) {
    model = await loadLFDiff(String(v.weights), variant ? { variant } : undefined);
    trained = true;
  } else {
    model = new LFDiff({ ...base[String(v.config)], ...(variant ? { variant } : {}) }, new Rng(0));
    warn(
      "no --weights given: the network has UNTRAINED random weights, so its output is not a real HDR reconstruction (train with deno task train, or pass --weights)",
    );
  }
  const steps = v.steps === undefined ? model.config.samplingSteps : Number(v.steps);
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= model.config.timesteps)) {
    throw new Error(`--steps must be an integer in 1..${model.config.timesteps}`);
  }
  const seed = Number(v.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${v.seed}`);
  const tile = String(v.tile);
  if (tile !== "auto" && !(Number.isInteger(Number(tile)) && Number(tile) >= 0)) {
    throw new Error(`--tile must be auto, 0 (whole image) or a size in pixels, got ${tile}`);
  }
  const tileFor = (
    w: number,
    h: number,
  ) => (tile === "auto" ? (w * h > WHOLE_MAX_PIXELS ? 1024 : 0) : Number(tile));
  return { model, trained, steps, seed, tileFor };
}
