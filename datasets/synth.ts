// Synthetic handheld brackets with ground truth, for training, tests and demos: the parts
// live in datasets/synth/ (maps, procedural scene, resampling, moving objects, camera, scene,
// writing); this is their public face.

export { type RadianceMap, readMaps, toRadianceMap } from "./synth/maps.ts";
export {
  EV_SETS,
  synthesizeScene,
  type SynthMeta,
  type SynthOptions,
  type SynthScene,
} from "./synth/scene.ts";
export { writeScene, writeSynthSet } from "./synth/write.ts";
