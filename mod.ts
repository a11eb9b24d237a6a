// lfdiff's public API.
//   Engine: tensors, autograd, ops (ops/mod.ts).  Building blocks: nn layers, Adam,
//   safetensors (model/mod.ts).  LF-Diff: configs, the model, checkpoints, fusion.
//   Images and data: codecs, brackets, datasets, tone mapping, metrics, synthesis.

export * from "./ops/mod.ts";
export * from "./model/mod.ts";

export { type LFDiffConfig, PAPER, TINY, type Variant, withVariant } from "./model/config.ts";
export { type ForwardOptions, LFDiff, type Prior } from "./model/lfdiff.ts";
export { loadLFDiff, saveLFDiff } from "./model/checkpoint.ts";
export { bracketInputs } from "./model/inputs.ts";
export { fuseBracket, type FuseOptions, type FuseTimings, type Pixels } from "./model/fuse.ts";
export {
  type Anchorings,
  fuseFiles,
  fusePrepared,
  type FusionResult,
  type PipelineOptions,
  readBracket,
} from "./model/pipeline.ts";

export {
  type Image,
  ImageError,
  imageToTensor,
  newImage,
  tensorToImage,
  toRgb,
} from "./io/image.ts";
export { decodeImage, encodeImage, readImage, writeImage } from "./io/codecs.ts";
export { type Bracket, loadBracket, loadBracketFolder } from "./io/bracket.ts";
export { decodeRaw, isRaw, type RawFrame } from "./io/raw.ts";
export { chooseFrames, type FrameChoice } from "./imaging/frames.ts";
export { prepareBracket, type PreparedBracket, type PrepareOptions } from "./imaging/prepare.ts";
export { findScenes, loadScene, type Scene, type SceneInfo } from "./datasets/dataset.ts";
export { CropLoader, cropPositions } from "./datasets/loader.ts";
export { ldrToLinear, normaliseEvs } from "./imaging/exposure.ts";
export { mergeBracket } from "./imaging/merge.ts";
export { type HdrMetrics, hdrMetrics, psnr, ssim } from "./imaging/metrics.ts";
export { muLaw, previewImage } from "./imaging/tonemap.ts";
export { synthesizeScene, writeScene } from "./datasets/synth.ts";
