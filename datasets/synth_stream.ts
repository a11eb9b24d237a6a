// Training crops from synthetic brackets made as training goes, so a long run never sees the
// same scene twice. Epoch e is the scenes numbered e·N … e·N + N − 1 (N = scenesPerEpoch),
// each made by synthesizeScene from a seed fixed by its number, so the data depend on the
// seed alone, never on timing. An epoch goes window by window (`window` scenes at a time):
// the crops of a window (the stride grid of every scene, each under a random flip/rotation)
// are shuffled and cut into batches, and a remainder smaller than a batch is dropped. A
// worker (./synth_worker.ts) makes the next window's scenes while the current one trains.
// With `shard`, every rank draws the same batches and cuts its share, as CropLoader does.

import { Rng } from "../ops/rng.ts";
import type { Scene } from "./dataset.ts";
import { cameraChoice } from "./synth/camera.ts";
import { assembleBatch, type Batch, cropPositions, type CropRef, shuffleWith } from "./loader.ts";

export interface SynthStreamOptions {
  /** Radiance maps and photographs (files or folders), as `deno task synth --from`. */
  from: string[];
  /** Names of maps to leave out (held out for validation). */
  exclude?: string[];
  width: number;
  height: number;
  evs?: number[] | "mixed";
  bits?: 8 | 16 | "mixed";
  /** The cameras' output curve (./synth/camera.ts; default "gamma", the convention itself). */
  curve?: "gamma" | "srgb";
  /** The cameras' black points (./synth/camera.ts), log-uniform in [lo, hi] per scene; default none. */
  black?: [number, number];
  scenesPerEpoch: number;
  /** Scenes whose crops are shuffled together (default 32). */
  window?: number;
  size: number;
  stride: number;
  batch: number;
  seed: number;
  augment?: boolean;
  device?: string;
  shard?: { rank: number; size: number };
  /** Image decoding limits for the maps. */
  maxPixels?: number;
}

/** What the worker sends back for one scene. */
export interface MadeScene {
  id: number;
  ldrs: { width: number; height: number; bitDepth: number; data: Float32Array }[];
  evs: number[];
  gt: Float32Array;
}

export class SynthStream {
  readonly window: number;
  readonly perWindow: number;
  #worker: Worker | null = null;
  #waiting = new Map<number, (s: MadeScene) => void>();
  #made = new Map<number, Promise<MadeScene>>();
  #ready: Promise<void> | null = null;

  constructor(readonly o: SynthStreamOptions) {
    if (o.width < o.size || o.height < o.size) {
      throw new Error(`synthetic scenes of ${o.width}x${o.height} are smaller than the crop`);
    }
    this.window = Math.min(o.window ?? 32, o.scenesPerEpoch);
    const crops = cropPositions(o.width, o.height, o.size, o.stride).length * this.window;
    this.perWindow = Math.floor(crops / o.batch);
    if (this.perWindow < 1) throw new Error(`a window of scenes holds less than one batch`);
  }

  /** Batches in one epoch. */
  get batchesPerEpoch(): number {
    return Math.floor(this.o.scenesPerEpoch / this.window) * this.perWindow;
  }

  #start(): Promise<void> {
    if (this.#ready) return this.#ready;
    this.#worker = new Worker(new URL("./synth_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.#ready = new Promise((resolve, reject) => {
      this.#worker!.onmessage = (e: MessageEvent) => {
        const m = e.data;
        if (m.ready) resolve();
        else if (m.error) reject(new Error(m.error));
        else {
          this.#waiting.get(m.id)?.(m);
          this.#waiting.delete(m.id);
        }
      };
      this.#worker!.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`synthetic data worker: ${e.message}`));
      };
    });
    const { from, exclude, maxPixels } = this.o;
    this.#worker.postMessage({ init: { from, exclude: exclude ?? [], maxPixels } });
    return this.#ready;
  }

  /** Scene `id`, asked of the worker once. */
  #scene(id: number): Promise<MadeScene> {
    let p = this.#made.get(id);
    if (!p) {
      p = new Promise<MadeScene>((resolve) => this.#waiting.set(id, resolve));
      this.#made.set(id, p);
      const { width, height, evs, bits, seed } = this.o, sceneSeed = seed * 7919 + id;
      const camera = cameraChoice(sceneSeed, this.o);
      this.#worker!.postMessage({
        scene: { id, seed: sceneSeed, width, height, evs, bits, camera },
      });
    }
    return p;
  }

  #ask(epoch: number, w: number): void {
    const first = epoch * this.o.scenesPerEpoch + w * this.window;
    for (let i = 0; i < this.window; i++) this.#scene(first + i);
  }

  /** Batches of epoch `epoch` from batch `from` on (earlier windows are not made at all). */
  async *epoch(epoch: number, from = 0): AsyncGenerator<Batch> {
    await this.#start();
    const windows = Math.floor(this.o.scenesPerEpoch / this.window);
    const first = Math.floor(from / this.perWindow);
    for (let w = first; w < windows; w++) {
      this.#ask(epoch, w);
      if (w + 1 < windows) this.#ask(epoch, w + 1); // made while this window trains
      const base = epoch * this.o.scenesPerEpoch + w * this.window;
      const held = new Map<number, Scene>();
      const rng = new Rng((this.o.seed * 1000003 + epoch) * 4099 + w);
      const pool: CropRef[] = [];
      for (let i = 0; i < this.window; i++) {
        const m = await this.#scene(base + i);
        this.#made.delete(base + i);
        held.set(i, {
          info: {
            dir: "",
            name: `synth#${m.id}`,
            split: "train",
            layout: "kalantari",
            ldrs: [],
            exposure: "",
            gt: null,
          },
          ldrs: m.ldrs.map((l) => ({ ...l, channels: 3 })),
          evs: m.evs,
          gt: { width: this.o.width, height: this.o.height, channels: 3, bitDepth: 32, data: m.gt },
        });
        for (
          const [x0, y0] of cropPositions(this.o.width, this.o.height, this.o.size, this.o.stride)
        ) {
          pool.push({ scene: i, x0, y0, t: this.o.augment === false ? 0 : rng.int(8) });
        }
      }
      shuffleWith(rng, pool);
      for (let b = 0; b < this.perWindow; b++) {
        if (w * this.perWindow + b < from) continue;
        yield assembleBatch(pool.slice(b * this.o.batch, (b + 1) * this.o.batch), held, {
          size: this.o.size,
          device: this.o.device,
          shard: this.o.shard,
        });
      }
    }
  }

  /** Stops the worker (a run's end). */
  close(): void {
    this.#worker?.terminate();
    this.#worker = null;
    this.#ready = null;
    this.#made.clear();
    this.#waiting.clear();
  }
}
