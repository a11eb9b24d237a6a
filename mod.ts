// lfdiff's public API: the engine (tensors, autograd, ops) and the model building blocks.

export * from "./ops/mod.ts";
export * from "./model/mod.ts";
