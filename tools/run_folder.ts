// A training run's folder: config.json, the training and validation logs (log.csv,
// val.csv), their plot (plot.png), the checkpoint (state.safetensors: the weights, the
// optimiser and counters together) and weights.safetensors (the weights alone, loadable by
// infer/eval). `checkpoint()` writes them all, each atomically, logs first and the state
// last: the state is the commit point, and a resume truncates the logs to its step, so a
// run killed at any moment resumes with nothing lost and nothing half-written.

import { writeTextAtomic } from "../io/files.ts";
import { readSafetensors, writeSafetensors } from "../io/safetensors.ts";
import { saveLFDiff } from "../model/checkpoint.ts";
import type { LFDiff } from "../model/lfdiff.ts";
import type { Trainer } from "../model/trainer.ts";
import { plotPng } from "./plot.ts";

/** A CSV log keyed by its first column, the optimiser step. */
export class CsvLog {
  header = "";
  rows: number[][] = [];

  constructor(readonly path: string) {}

  /** Rows up to `step` from an earlier part of this run (a resume keeps the history). */
  async resume(step: number): Promise<void> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch {
      return;
    }
    const [header, ...rows] = text.trim().split("\n");
    this.header = header;
    this.rows = rows.map((r) => r.split(",").map(Number)).filter((r) => r[0] <= step);
  }

  add(row: Record<string, number>): void {
    if (!this.header) this.header = Object.keys(row).join(",");
    this.rows.push(Object.values(row));
  }

  column(name: string): [number, number][] {
    const k = this.header.split(",").indexOf(name);
    return k < 0 ? [] : this.rows.map((r) => [r[0], r[k]]);
  }

  async write(): Promise<void> {
    if (!this.header) return;
    await writeTextAtomic(
      this.path,
      [this.header, ...this.rows.map((r) => r.join(","))].join("\n") + "\n",
    );
  }
}

export class RunFolder {
  readonly log: CsvLog;
  readonly val: CsvLog;
  readonly statePath: string;
  readonly weightsPath: string;

  constructor(readonly dir: string) {
    this.log = new CsvLog(`${dir}/log.csv`);
    this.val = new CsvLog(`${dir}/val.csv`);
    this.statePath = `${dir}/state.safetensors`;
    this.weightsPath = `${dir}/weights.safetensors`;
  }

  /** Whether a checkpoint exists (a run to resume, or one not to overwrite). */
  async hasCheckpoint(): Promise<boolean> {
    try {
      await Deno.stat(this.statePath);
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  }

  async writeConfig(config: unknown): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
    await writeTextAtomic(`${this.dir}/config.json`, JSON.stringify(config, null, 2) + "\n");
  }

  /** Loads the checkpoint into model and trainer, and the logs up to its step. */
  async resume(model: LFDiff, trainer: Trainer): Promise<void> {
    // Temporaries of writes a kill interrupted: never renamed into place, so garbage.
    for await (const e of Deno.readDir(this.dir)) {
      if (e.isFile && e.name.endsWith(".tmp")) await Deno.remove(`${this.dir}/${e.name}`);
    }
    const st = await readSafetensors(this.statePath);
    const weights = new Map(
      [...st.tensors].filter(([k]) => k.startsWith("model.")).map(([k, v]) => [k.slice(6), v]),
    );
    try {
      model.loadStateDict(weights);
    } catch (e) {
      throw new Error(`${this.statePath}: ${(e as Error).message}`);
    }
    trainer.restore(st.tensors, st.metadata);
    await this.log.resume(trainer.step);
    await this.val.resume(trainer.step);
  }

  async checkpoint(model: LFDiff, trainer: Trainer): Promise<void> {
    await this.log.write();
    await this.val.write();
    await plotPng(`${this.dir}/plot.png`, [
      {
        title: "loss",
        log: true,
        series: [
          { label: "training", points: this.log.column("loss"), color: [0.1, 0.3, 0.8] },
          { label: "validation", points: this.val.column("loss"), color: [0.9, 0.4, 0.1] },
        ],
      },
      {
        title: "validation PSNR-mu (dB)",
        series: [{ label: "PSNR-mu", points: this.val.column("psnr_mu"), color: [0.1, 0.6, 0.2] }],
      },
    ], "step");
    const st = trainer.state();
    for (const [n, p] of model.namedParameters()) {
      st.tensors.set(`model.${n}`, { shape: [...p.shape], data: p.toArray() });
    }
    // The state is the commit point: everything else is on disk before it.
    await saveLFDiff(this.weightsPath, model, { step: st.meta.step });
    await writeSafetensors(this.statePath, st.tensors, st.meta);
  }
}
