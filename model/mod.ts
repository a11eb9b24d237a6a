// Layers, optimisers and checkpoints.

export { Module, parameter } from "./nn/module.ts";
export { Conv2d, type Conv2dConfig, LayerNorm2d, Linear } from "./nn/layers.ts";
export { fanIn, uniformInit } from "./nn/init.ts";
export { Adam, type AdamOptions } from "./optim/adam.ts";
export { StepLR } from "./optim/step_lr.ts";
export { loadModule, saveModule } from "./checkpoint.ts";
export {
  type HostTensor,
  parseSafetensors,
  readSafetensors,
  type SafetensorsFile,
  serializeSafetensors,
  writeSafetensors,
} from "../io/safetensors.ts";
