// LF-Diff checkpoints: the parameters as safetensors, with the configuration they were made
// for in the metadata ("lfdiff.config", JSON), so a checkpoint rebuilds its own model and a
// checkpoint for another configuration is refused with one line naming both.

import { type LFDiffConfig, PAPER } from "./config.ts";
import { LFDiff } from "./lfdiff.ts";
import {
  type HostTensor,
  readSafetensors,
  type StoredType,
  writeSafetensors,
} from "../io/safetensors.ts";
import type { Module } from "./nn/module.ts";

export async function saveLFDiff(
  path: string,
  model: LFDiff,
  extra: Record<string, string> = {},
  dtype: StoredType = "F32",
): Promise<void> {
  await saveModule(path, model, { ...extra, "lfdiff.config": JSON.stringify(model.config) }, dtype);
}

/** Builds the model a checkpoint describes and loads it; `expect` pins the configuration. */
export async function loadLFDiff(path: string, expect?: Partial<LFDiffConfig>): Promise<LFDiff> {
  const file = await readSafetensors(path);
  const stored = file.metadata["lfdiff.config"];
  if (!stored) throw new Error(`${path}: not an lfdiff checkpoint (no lfdiff.config metadata)`);
  let config: LFDiffConfig;
  try {
    config = { ...PAPER, ...JSON.parse(stored) };
  } catch {
    throw new Error(`${path}: lfdiff.config metadata is not valid JSON`);
  }
  for (const [k, v] of Object.entries(expect ?? {})) {
    if (JSON.stringify((config as unknown as Record<string, unknown>)[k]) !== JSON.stringify(v)) {
      throw new Error(
        `${path}: checkpoint is for ${k}=${
          JSON.stringify((config as unknown as Record<string, unknown>)[k])
        }, asked for ${JSON.stringify(v)}`,
      );
    }
  }
  const model = new LFDiff(config);
  try {
    model.loadStateDict(file.tensors);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  return model;
}

export async function saveModule(
  path: string,
  module: Module,
  metadata: Record<string, string> = {},
  dtype: StoredType = "F32",
): Promise<void> {
  const tensors = new Map<string, HostTensor>();
  for (const [name, t] of module.namedParameters()) {
    tensors.set(name, { shape: [...t.shape], data: t.toArray() });
  }
  await writeSafetensors(path, tensors, metadata, dtype);
}

/** Loads a checkpoint into the module; shape or name mismatches name the file and tensor. */
export async function loadModule(
  path: string,
  module: Module,
  strict = true,
): Promise<Record<string, string>> {
  const file = await readSafetensors(path);
  try {
    module.loadStateDict(file.tensors, strict);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  return file.metadata;
}
