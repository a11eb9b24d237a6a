// Data-parallel training under Open MPI's mpirun, end to end on a synthetic set of three
// 96×64 scenes (45 crops an epoch, so each epoch ends on a batch of one crop that rank 1
// has no share of): two ranks of local batch 2 follow one process of batch 4 over 20
// stage-1 steps of `tiny` (losses and weights within float summation's drift); a job killed
// at random moments resumes to the uninterrupted job's logs and weights, byte for byte; and
// a run resumed at another number of ranks stays on the same course. Skipped, in one line,
// where mpirun or Open MPI's library is missing.

import { writeSynthSet } from "@lfdiff/datasets/synth.ts";
import { readSafetensors } from "@lfdiff/io/safetensors.ts";
import { mpiLaunched } from "@lfdiff/native/mpi.ts";
import { MPI_LIBRARY } from "@lfdiff/native/mpi.ts";
import * as T from "@lfdiff/ops/mod.ts";
import { assert, assertEquals, strictEqual } from "./assert.ts";
import { runTool, toolArgs } from "./run_tool.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const LR = 1e-3, STEPS = 20;

/** Why the MPI tests cannot run here, or null. */
function mpiMissing(): string | null {
  try {
    new Deno.Command("mpirun", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
  } catch {
    return "no mpirun on PATH (apt-get install openmpi-bin libopenmpi3)";
  }
  try {
    Deno.dlopen(MPI_LIBRARY.names[0], {}).close();
  } catch {
    return `${MPI_LIBRARY.what} does not load (apt-get install libopenmpi3)`;
  }
  return null;
}

const missing = mpiMissing();
if (missing) console.error(`tests: MPI tests skipped: ${missing}`);

/** `mpirun -np N` of tools/train.ts, one thread per rank, as root where the tests run so. */
function mpirun(np: number, args: string[], o: Deno.CommandOptions = {}): Deno.Command {
  return new Deno.Command("mpirun", {
    args: ["--oversubscribe", "-np", String(np), Deno.execPath(), ...toolArgs("train", args)],
    cwd: ROOT,
    env: {
      OMP_NUM_THREADS: "1",
      OMPI_ALLOW_RUN_AS_ROOT: "1",
      OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1",
    },
    stdout: "piped",
    stderr: "piped",
    ...o,
  });
}

async function train(np: number, args: string[]): Promise<string> {
  const r = np === 1 ? await runTool("train", args) : await mpirun(np, args).output().then((o) => ({
    code: o.code,
    err: new TextDecoder().decode(o.stderr) + new TextDecoder().decode(o.stdout),
  }));
  strictEqual(r.code, 0, r.err);
  return r.err;
}

const losses = async (run: string) =>
  (await Deno.readTextFile(`${run}/log.csv`)).trim().split("\n").slice(1).map((l) =>
    l.split(",").map(Number)
  );

/** Waits until no process (a rank orphaned by a kill) names `run` on its command line. */
async function ranksGone(run: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const found = await new Deno.Command("pgrep", { args: ["-f", run], stdout: "null" }).output();
      if (!found.success) return;
    } catch {
      return void await new Promise((r) => setTimeout(r, 3000)); // no pgrep: Open MPI takes ~1 s
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`ranks of ${run} outlived their killed job`);
}

/** Largest |a − b| over the weights of two runs. */
async function weightGap(a: string, b: string): Promise<number> {
  const [x, y] = await Promise.all([a, b].map((r) => readSafetensors(`${r}/weights.safetensors`)));
  let gap = 0;
  for (const [k, t] of x.tensors) {
    const u = y.tensors.get(k)!.data;
    for (let i = 0; i < u.length; i++) gap = Math.max(gap, Math.abs(u[i] - t.data[i]));
  }
  return gap;
}

/** Same steps; every loss within `rel` of the other run's. */
function assertLossesClose(a: number[][], b: number[][], rel: number): void {
  strictEqual(b.length, a.length);
  a.forEach((row, i) => {
    strictEqual(b[i][0], row[0]);
    const [u, v] = [row[3], b[i][3]];
    assert(Math.abs(u - v) <= rel * Math.abs(u), `step ${row[0]}: loss ${u} against ${v}`);
  });
}

Deno.test("a launcher is recognised from Open MPI's and PMIx's variables only", () => {
  const env = (vars: Record<string, string>) => (k: string) => vars[k];
  assert(mpiLaunched(env({ OMPI_COMM_WORLD_SIZE: "2" })));
  assert(mpiLaunched(env({ PMIX_RANK: "0" })));
  assert(!mpiLaunched(env({ PMI_RANK: "0", SLURM_PROCID: "0" })));
});

Deno.test({
  name: "data-parallel training over mpirun",
  ignore: missing !== null,
  async fn(t) {
    const dir = await Deno.makeTempDir();
    try {
      await writeSynthSet(`${dir}/data`, 4, { width: 96, height: 64, seed: 200, shake: 2 });
      const cfg = `${dir}/tiny.json`;
      await Deno.writeTextFile(
        cfg,
        JSON.stringify({
          name: "dp",
          data: `${dir}/data`,
          stage: 1,
          model: "tiny",
          crop: 32,
          stride: 16,
          batch: 4,
          lr: LR,
          epochs: 100,
          valEvery: 10,
          valScenes: 1,
          valCrop: 32,
          checkpointEvery: 2,
          cacheScenes: 3,
          seed: 3,
        }),
      );
      const steps = ["--max-steps", String(STEPS)];
      const two = `${dir}/two`, one = `${dir}/one`;

      await t.step("two ranks of batch 2 follow one process of batch 4 for 20 steps", async () => {
        const err = await train(2, ["--config", cfg, "--out", two, ...steps]);
        assert(err.includes("data-parallel over Open MPI"), err);
        await train(1, ["--config", cfg, "--out", one, ...steps]);
        const [a, b] = [await losses(one), await losses(two)];
        assertLossesClose(a, b, 1e-3);
        // Adam moves a weight by about lr a step; summation order may flip a few steps of
        // near-zero gradients, never a whole step's worth.
        const gap = await weightGap(one, two);
        assert(gap < LR, `weights differ by ${gap}`);
      });

      await t.step(
        "a job killed at random moments resumes to the same logs and weights",
        async () => {
          const run = `${dir}/killed`, rng = new T.Rng(5);
          const checkpointed = () =>
            readSafetensors(`${run}/state.safetensors`).then(
              (st) => Number(st.metadata.step),
              () => 0,
            );
          const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
          let kills = 0;
          for (let finished = false; !finished;) {
            const at = await checkpointed();
            const resume = at > 0 ? ["--resume"] : [];
            const job = mpirun(2, ["--config", cfg, "--out", run, ...steps, ...resume], {
              stdout: "null",
              stderr: "null",
            }).spawn();
            let ended = false;
            const status = job.status.then((s) => (ended = true, s));
            if (kills < 3 && at < STEPS - 2) {
              // Kill within a step after a random checkpoint: timed by progress, not the
              // clock, since other work on the machine stretches the steps.
              const target = Math.min(at + 1 + Math.floor(rng.float() * 5), STEPS - 2);
              while (!ended && await checkpointed() < target) await sleep(20);
              await sleep(300 * rng.float());
              if (!ended) job.kill("SIGKILL");
            }
            const { signal, code } = await status;
            if (signal === "SIGKILL") kills++, await ranksGone(run);
            else finished = code === 0;
            assert(finished || signal === "SIGKILL", `the job failed with ${code}`);
          }
          assert(kills >= 1, "no kill landed");
          assertEquals(await losses(run), await losses(two));
          assertEquals(
            await Deno.readTextFile(`${run}/val.csv`),
            await Deno.readTextFile(`${two}/val.csv`),
          );
          assertEquals(
            await Deno.readFile(`${run}/weights.safetensors`),
            await Deno.readFile(`${two}/weights.safetensors`),
          );
        },
      );

      await t.step("a run resumed at another number of ranks stays on course", async () => {
        const run = `${dir}/switched`;
        await train(2, ["--config", cfg, "--out", run, "--max-steps", "10"]);
        const err = await train(1, ["--config", cfg, "--out", run, ...steps, "--resume"]);
        assert(err.includes("resumed at step 10"), err);
        assertLossesClose(await losses(one), await losses(run), 1e-3);
        assert(await weightGap(one, run) < LR);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
