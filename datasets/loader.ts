// Training crops and a streaming batch loader.
// Crops are size×size windows at `stride` (128 and 64 in the paper), positions
// 0, stride, … ≤ side − size (the remainder at the far edges is not covered, as in the
// usual crop scripts). With `augment` (default on) each crop appears under one of the 8 flips
// and rotations (the dihedral group), chosen at random per crop and epoch.
// Decoded scenes stay in memory up to a budget (`cacheScenes` scenes, or by default as many
// as `cacheBytes` holds). When the whole training set fits, it is decoded once and every
// epoch shuffles the crops of all scenes together; otherwise each epoch visits the scenes in
// a seeded order, one window of scenes at a time, and a batch mixes crops of that window only.
// Crops are cut when their batch is assembled, so memory holds scenes, not overlapping crops.
// With `shard` (data-parallel training) every rank draws the same global batches, crops and
// transforms, and cuts only its share of each (shareOf), so the batches do not depend on
// the number of ranks.
//   batch: x1, x2, x3 [B, 6, s, s] = concat(L_i, H_i);  gt [B, 3, s, s]

import { Rng } from "../ops/rng.ts";
import { tensor } from "../ops/tensor.ts";
import type { Tensor } from "../ops/tensor.ts";
import type { DecodeOptions } from "../io/codecs.ts";
import { loadScene, type Scene, type SceneInfo } from "./dataset.ts";
import { linearise, linearScales } from "../imaging/exposure.ts";
import { type Image, ImageError } from "../io/image.ts";

export interface Batch {
  x: [Tensor, Tensor, Tensor];
  gt: Tensor;
  /** "scene@x,y/t" of each crop, for logs. */
  ids: string[];
  /** With a shard: where these rows sit in the global batch. */
  share?: Share;
}

/** A rank's rows of a global batch: [offset, offset + its count) of `total`. */
export interface Share {
  offset: number;
  total: number;
}

/** The rows of a batch of `total` that `rank` of `size` takes (the first total % size one more). */
export function shareOf(
  total: number,
  rank: number,
  size: number,
): { offset: number; count: number } {
  const base = Math.floor(total / size), extra = total % size;
  return { offset: rank * base + Math.min(rank, extra), count: base + (rank < extra ? 1 : 0) };
}

export function cropPositions(
  width: number,
  height: number,
  size: number,
  stride: number,
): [number, number][] {
  const out: [number, number][] = [];
  for (let y = 0; y + size <= height; y += stride) {
    for (let x = 0; x + size <= width; x += stride) out.push([x, y]);
  }
  return out;
}

/**
 * Planar crop of an interleaved RGB image into dst at `off`: [3, s, s], under dihedral
 * transform t (bit 4 transposes, bit 1 flips horizontally, bit 2 vertically), with
 * H = L^γ·scale when a scale is given. The source pixel of output (i, j) is
 * p0 + i·di + j·dj, so the inner loop does no per-pixel work beyond the copy.
 */
function cutInto(
  img: Image,
  x0: number,
  y0: number,
  s: number,
  t: number,
  dst: Float32Array,
  off: number,
  scale?: number,
): void {
  const w = img.width, d = img.data;
  // (x, y) in the crop as functions of (i, j): x = xi·i + xj·j + xc, likewise y.
  let [xi, xj, xc, yi, yj, yc] = t & 4 ? [0, 1, 0, 1, 0, 0] : [1, 0, 0, 0, 1, 0];
  if (t & 1) [xi, xj, xc] = [-xi, -xj, s - 1 - xc];
  if (t & 2) [yi, yj, yc] = [-yi, -yj, s - 1 - yc];
  const di = 3 * (xi + yi * w), dj = 3 * (xj + yj * w);
  const p0 = 3 * ((y0 + yc) * w + x0 + xc);
  for (let c = 0; c < 3; c++) {
    for (let j = 0; j < s; j++) {
      let p = p0 + j * dj + c, q = off + (c * s + j) * s;
      if (scale === undefined) {
        for (let i = 0; i < s; i++, p += di) dst[q++] = d[p];
      } else {
        for (let i = 0; i < s; i++, p += di) dst[q++] = linearise(d[p], scale);
      }
    }
  }
}

/** A crop not yet cut: scene (a key of the caller's scenes), corner and dihedral transform. */
export interface CropRef {
  scene: number;
  x0: number;
  y0: number;
  t: number;
}

export interface LoaderOptions {
  size?: number;
  stride?: number;
  batch: number;
  seed?: number;
  /** Random flips and rotations of each crop (default true). */
  augment?: boolean;
  /** Scenes held decoded at once; 0 (default): as many as `cacheBytes` holds. */
  cacheScenes?: number;
  /** Memory for decoded scenes when `cacheScenes` is 0 (default 4 GiB). */
  cacheBytes?: number;
  /** Options for the image decoders (a pixel limit). */
  decode?: DecodeOptions;
  device?: string;
  /** This process's rank and the job's size: batches hold the rank's share only. */
  shard?: { rank: number; size: number };
}

/** A crop's network inputs and ground truth, planar. */
function cutCrop(
  scene: Scene,
  r: CropRef,
  s: number,
): { x: Float32Array[]; gt: Float32Array; id: string } {
  const scales = linearScales(scene.evs);
  const x = scene.ldrs.map((img, k) => {
    const a = new Float32Array(6 * s * s);
    cutInto(img, r.x0, r.y0, s, r.t, a, 0);
    cutInto(img, r.x0, r.y0, s, r.t, a, 3 * s * s, scales[k]);
    return a;
  });
  const gt = new Float32Array(3 * s * s);
  cutInto(scene.gt!, r.x0, r.y0, s, r.t, gt, 0);
  return { x, gt, id: `${scene.info.name}@${r.x0},${r.y0}/${r.t}` };
}

/** How a batch is cut: crop size, the device its tensors go to, and the rank's share. */
export interface BatchShape {
  size: number;
  device?: string;
  shard?: { rank: number; size: number };
}

/** The rank's rows of a global batch of crops, cut from the scenes held. */
export function assembleBatch(all: CropRef[], held: Map<number, Scene>, o: BatchShape): Batch {
  const { rank, size } = o.shard ?? { rank: 0, size: 1 };
  const { offset, count } = shareOf(all.length, rank, size);
  const refs = all.slice(offset, offset + count), s = o.size, b = refs.length;
  const items = refs.map((r) => cutCrop(held.get(r.scene)!, r, s));
  const xs = [0, 1, 2].map((k) => {
    const a = new Float32Array(b * 6 * s * s);
    items.forEach((it, i) => a.set(it.x[k], i * 6 * s * s));
    return tensor(a, [b, 6, s, s], { device: o.device });
  }) as [Tensor, Tensor, Tensor];
  const g = new Float32Array(b * 3 * s * s);
  items.forEach((it, i) => g.set(it.gt, i * 3 * s * s));
  return {
    x: xs,
    gt: tensor(g, [b, 3, s, s], { device: o.device }),
    ids: items.map((it) => it.id),
    ...(o.shard && { share: { offset, total: all.length } }),
  };
}

/** A seeded Fisher–Yates shuffle. */
export function shuffleWith<T>(rng: Rng, a: T[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
}

const sceneBytes = (s: Scene) => [...s.ldrs, s.gt!].reduce((n, img) => n + img.data.byteLength, 0);

export class CropLoader {
  readonly size: number;
  readonly stride: number;
  readonly batch: number;
  readonly augment: boolean;
  readonly seed: number;
  readonly device?: string;
  readonly shard?: { rank: number; size: number };
  readonly #cacheScenes: number;
  readonly #cacheBytes: number;
  readonly #decode: DecodeOptions;
  /** Decoded scenes kept across epochs, when the whole set fits. */
  #resident: (Scene | undefined)[] = [];

  constructor(readonly scenes: SceneInfo[], o: LoaderOptions) {
    if (scenes.length === 0) throw new ImageError("dataset", "no scenes to load");
    const missing = scenes.find((s) => !s.gt);
    if (missing) throw new ImageError(missing.dir, "has no ground-truth HDR, needed for training");
    this.size = o.size ?? 128;
    this.stride = o.stride ?? 64;
    this.batch = o.batch;
    this.augment = o.augment ?? true;
    this.seed = o.seed ?? 0;
    this.device = o.device;
    this.shard = o.shard;
    this.#cacheScenes = Math.max(0, o.cacheScenes ?? 0);
    this.#cacheBytes = o.cacheBytes ?? 4 * 2 ** 30;
    this.#decode = o.decode ?? {};
  }

  async #load(i: number): Promise<Scene> {
    const scene = this.#resident[i] ?? await loadScene(this.scenes[i], this.#decode);
    const s = this.size, { width, height } = scene.ldrs[1];
    if (width < s || height < s) {
      throw new ImageError(scene.info.dir, `is ${width}x${height}, smaller than the ${s}px crop`);
    }
    return scene;
  }

  /**
   * Scenes held at once: `cacheScenes`, or what the budget holds at the size of the first
   * scene (a fixed scene, so the order of an epoch does not depend on what was loaded).
   */
  async window(): Promise<number> {
    if (this.#cacheScenes > 0) return Math.min(this.#cacheScenes, this.scenes.length);
    const first = await this.#load(0);
    const n = Math.floor(this.#cacheBytes / sceneBytes(first));
    if (n >= this.scenes.length) this.#resident[0] = first;
    return Math.max(1, Math.min(n, this.scenes.length));
  }

  /**
   * Batches of one epoch, in an order fixed by (seed, epoch), from batch `from` on (the
   * ones before are drawn but not cut: a resumed run's place). The last batch may be
   * smaller. `onScene` reports progress through the scenes.
   */
  async *epoch(
    epoch: number,
    from = 0,
    onScene?: (done: number, total: number) => void,
  ): AsyncGenerator<Batch> {
    const rng = new Rng(this.seed * 1000003 + epoch);
    const shuffle = <T>(a: T[]) => shuffleWith(rng, a);
    const window = await this.window();
    const keep = window >= this.scenes.length;
    const order = this.scenes.map((_, i) => i);
    shuffle(order);
    const held = new Map<number, Scene>();
    let pool: CropRef[] = [];
    let loaded = 0, made = 0;
    for (let w = 0; w < order.length; w += window) {
      for (const i of order.slice(w, w + window)) {
        const scene = await this.#load(i);
        if (keep) this.#resident[i] = scene;
        held.set(i, scene);
        const { width, height } = scene.ldrs[1];
        for (const [x0, y0] of cropPositions(width, height, this.size, this.stride)) {
          pool.push({ scene: i, x0, y0, t: this.augment ? rng.int(8) : 0 });
        }
        onScene?.(++loaded, order.length);
      }
      shuffle(pool);
      const last = w + window >= order.length;
      while (pool.length >= this.batch || (last && pool.length > 0)) {
        if (made++ >= from) yield assembleBatch(pool.slice(0, this.batch), held, this);
        pool = pool.slice(this.batch);
      }
      // Scenes with no crop left in the pool are let go.
      const needed = new Set(pool.map((r) => r.scene));
      for (const i of held.keys()) if (!needed.has(i)) held.delete(i);
    }
  }
}
