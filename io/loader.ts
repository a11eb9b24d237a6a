// Training crops and a streaming batch loader.
// Crops are size×size windows at `stride` (128 and 64 in the paper), positions
// 0, stride, … ≤ side − size (the remainder at the far edges is not covered, as in the
// usual crop scripts). With augmentation each crop appears under one of the 8 flips and
// rotations (the dihedral group), chosen at random per crop and epoch.
// The loader visits scenes in a seeded shuffled order, a window of `cacheScenes` decoded
// scenes at a time, and shuffles the crops within the window: memory holds at most that
// many scenes, at the cost that one batch mixes crops from at most that many scenes.
//   batch: x1, x2, x3 [B, 6, s, s] = concat(L_i, H_i);  gt [B, 3, s, s]

import { Rng } from "../ops/rng.ts";
import { tensor } from "../ops/tensor.ts";
import type { Tensor } from "../ops/tensor.ts";
import { GAMMA, loadScene, type Scene, type SceneInfo } from "./dataset.ts";
import { type Image, ImageError } from "./image.ts";

export interface Batch {
  x: [Tensor, Tensor, Tensor];
  gt: Tensor;
  /** "scene@x,y/t" of each crop, for logs. */
  ids: string[];
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

/** Source coordinates of output (i, j) of a size×size crop under dihedral transform t. */
function dihedral(t: number, i: number, j: number, s: number): [number, number] {
  let x = i, y = j;
  if (t & 4) [x, y] = [y, x]; // transpose
  if (t & 1) x = s - 1 - x; // flip horizontally
  if (t & 2) y = s - 1 - y; // flip vertically
  return [x, y];
}

/** Planar crop of an interleaved RGB image into dst at `off`: [3, s, s]. */
function cutInto(
  img: Image,
  x0: number,
  y0: number,
  s: number,
  t: number,
  dst: Float32Array,
  off: number,
  map?: (v: number) => number,
): void {
  const w = img.width;
  for (let j = 0; j < s; j++) {
    for (let i = 0; i < s; i++) {
      const [sx, sy] = dihedral(t, i, j, s);
      const p = ((y0 + sy) * w + x0 + sx) * 3;
      for (let c = 0; c < 3; c++) {
        const v = img.data[p + c];
        dst[off + (c * s + j) * s + i] = map ? map(v) : v;
      }
    }
  }
}

interface Pending {
  x: Float32Array[]; // 3 × [6, s, s]
  gt: Float32Array; // [3, s, s]
  id: string;
}

export interface LoaderOptions {
  size?: number;
  stride?: number;
  batch: number;
  seed?: number;
  augment?: boolean;
  cacheScenes?: number;
  device?: string;
}

export class CropLoader {
  readonly size: number;
  readonly stride: number;
  readonly batch: number;
  readonly augment: boolean;
  readonly cacheScenes: number;
  readonly seed: number;
  readonly device?: string;

  constructor(readonly scenes: SceneInfo[], o: LoaderOptions) {
    if (scenes.length === 0) throw new ImageError("dataset", "no scenes to load");
    const missing = scenes.find((s) => !s.gt);
    if (missing) throw new ImageError(missing.dir, "has no ground-truth HDR, needed for training");
    this.size = o.size ?? 128;
    this.stride = o.stride ?? 64;
    this.batch = o.batch;
    this.augment = o.augment ?? true;
    this.cacheScenes = Math.max(1, o.cacheScenes ?? 8);
    this.seed = o.seed ?? 0;
    this.device = o.device;
  }

  /** Crops of one scene, extracted as arrays (the scene itself is then let go). */
  #crops(scene: Scene, rng: Rng): Pending[] {
    const s = this.size, { ldrs, evs, gt } = scene;
    if (ldrs[1].width < s || ldrs[1].height < s) {
      throw new ImageError(
        scene.info.dir,
        `is ${ldrs[1].width}x${ldrs[1].height}, smaller than the ${s}px crop`,
      );
    }
    const scales = evs.map((ev) => Math.pow(2, -ev));
    return cropPositions(ldrs[1].width, ldrs[1].height, s, this.stride).map(([x0, y0]) => {
      const t = this.augment ? rng.int(8) : 0;
      const x = ldrs.map((img, k) => {
        const a = new Float32Array(6 * s * s);
        cutInto(img, x0, y0, s, t, a, 0);
        cutInto(img, x0, y0, s, t, a, 3 * s * s, (v) => Math.pow(v, GAMMA) * scales[k]);
        return a;
      });
      const g = new Float32Array(3 * s * s);
      cutInto(gt!, x0, y0, s, t, g, 0);
      return { x, gt: g, id: `${scene.info.name}@${x0},${y0}/${t}` };
    });
  }

  #assemble(items: Pending[]): Batch {
    const s = this.size, b = items.length;
    const xs = [0, 1, 2].map((k) => {
      const a = new Float32Array(b * 6 * s * s);
      items.forEach((it, i) => a.set(it.x[k], i * 6 * s * s));
      return tensor(a, [b, 6, s, s], { device: this.device });
    }) as [Tensor, Tensor, Tensor];
    const g = new Float32Array(b * 3 * s * s);
    items.forEach((it, i) => g.set(it.gt, i * 3 * s * s));
    return {
      x: xs,
      gt: tensor(g, [b, 3, s, s], { device: this.device }),
      ids: items.map((it) => it.id),
    };
  }

  /**
   * Batches of one epoch, in an order fixed by (seed, epoch). The last batch may be
   * smaller. `onScene` reports progress through the scenes.
   */
  async *epoch(
    epoch: number,
    onScene?: (done: number, total: number) => void,
  ): AsyncGenerator<Batch> {
    const rng = new Rng(this.seed * 1000003 + epoch);
    const order = this.scenes.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    let pool: Pending[] = [];
    let loaded = 0;
    for (let w = 0; w < order.length; w += this.cacheScenes) {
      for (const idx of order.slice(w, w + this.cacheScenes)) {
        pool.push(...this.#crops(await loadScene(this.scenes[idx]), rng));
        onScene?.(++loaded, order.length);
      }
      for (let i = pool.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [pool[i], pool[j]] = [pool[j], pool[i]];
      }
      const last = w + this.cacheScenes >= order.length;
      while (pool.length >= this.batch || (last && pool.length > 0)) {
        yield this.#assemble(pool.slice(0, this.batch));
        pool = pool.slice(this.batch);
      }
    }
  }
}
