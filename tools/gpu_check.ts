// `deno task gpu-check`: what a first run on a GPU must confirm, in one command. The CUDA op
// suite with TF32 off (held to 1e-5) and on (GEMM-backed ops to 1e-3), the CUDA smoke tests,
// then `bench --device cuda` for a 1500×1000 inference and a batch-16 training step beside
// PyTorch; on a machine with two GPUs or more, 20 stage-1 steps of `tiny` as two NCCL
// ranks (mpirun) against one GPU; one summary table at the end. Exit codes: 0 all passed,
// 1 something failed (or the CUDA libraries are there but broken: the one-line reason), 2 no
// GPU here (no NVIDIA driver or no device), said in one line with nothing run.

import { writeSynthSet } from "../datasets/synth.ts";
import { Cuda, NoCudaDevice } from "../native/cuda.ts";
import { getBackend } from "../ops/device.ts";
import { flags, run } from "./cli.ts";

const NO_GPU = 2;
const ROOT = new URL("..", import.meta.url).pathname;
const TEST_FLAGS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-env", "--allow-run"];

interface Row {
  step: string;
  ok: boolean;
  result: string;
  ours?: string;
  torch?: string;
  ratio?: string;
}

async function exec(command: string, args: string[], env: Record<string, string | undefined>) {
  const vars: Record<string, string> = { ...Deno.env.toObject(), NO_COLOR: "1" };
  for (const [k, v] of Object.entries(env)) v === undefined ? delete vars[k] : vars[k] = v;
  const out = await new Deno.Command(command, {
    args,
    env: vars,
    clearEnv: true,
    cwd: ROOT,
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

const deno = (args: string[], env: Record<string, string | undefined>) =>
  exec(Deno.execPath(), args, env);

/** The tail of a failed step's output, on stderr, before the table. */
function show(step: string, output: string): void {
  console.error(`gpu-check: ${step} failed; its last lines:`);
  console.error(output.trimEnd().split("\n").slice(-30).join("\n"));
}

/** Runs test files filtered to `filter`; ok only if some ran, none failed and none skipped. */
async function tests(
  step: string,
  files: string[],
  filter: string | null,
  tf32: boolean,
): Promise<Row> {
  const r = await deno(
    ["test", ...TEST_FLAGS, ...(filter ? ["--filter", filter] : []), ...files],
    { LFDIFF_TF32: tf32 ? "1" : undefined },
  );
  const all = r.stdout + r.stderr;
  const m = /^(?:ok|FAILED) \| (\d+) passed[^|]*\| (\d+) failed(?: \| (\d+) ignored)?/m.exec(all);
  const [passed, failed, ignored] = m ? [m[1], m[2], m[3] ?? "0"].map(Number) : [0, 0, 0];
  const ok = r.code === 0 && m !== null && passed > 0 && ignored === 0;
  if (!ok) show(step, all);
  const result = m
    ? `${passed} passed, ${failed} failed${ignored ? `, ${ignored} skipped` : ""}`
    : `no summary (exit ${r.code})`;
  return { step, ok, result };
}

/** Runs `deno task bench --device cuda --json` and reads the median seconds of both sides. */
async function bench(step: string, args: string[]): Promise<Row> {
  const r = await deno(["task", "-q", "bench", "--device", "cuda", "--json", ...args], {});
  let rows: { side: string; seconds?: number | null; step?: number | null }[];
  try {
    rows = JSON.parse(r.stdout.trim().split("\n").pop() ?? "").rows;
  } catch {
    show(step, r.stdout + r.stderr);
    return { step, ok: false, result: `no JSON report (exit ${r.code})` };
  }
  const seconds = (side: string) => {
    const r = rows.find((x) => x.side === side);
    return r?.seconds ?? r?.step ?? undefined; // --train-step reports its median step
  };
  const ours = seconds("cuda"), torch = seconds("PyTorch");
  const ok = r.code === 0 && ours !== undefined;
  if (!ok) show(step, r.stdout + r.stderr);
  const s = (v?: number) => (v === undefined ? "—" : `${v.toFixed(2)} s`);
  return {
    step,
    ok,
    result: ok ? "ok" : `exit ${r.code}, ours ${ours === undefined ? "missing" : "ran"}`,
    ours: s(ours),
    torch: s(torch),
    ratio: ours !== undefined && torch !== undefined ? (ours / torch).toFixed(2) : "—",
  };
}

/**
 * Two GPUs: 20 stage-1 steps of `tiny` on a synthetic set as two ranks of batch 2 summing
 * gradients with NCCL, against one GPU with batch 4: the losses agree within 1e-3.
 */
async function dataParallel(gpus: number): Promise<Row> {
  const step = "2 GPUs, data-parallel (NCCL)";
  if (gpus < 2) return { step, ok: true, result: `skipped: ${gpus} GPU` };
  const dir = await Deno.makeTempDir();
  try {
    await writeSynthSet(`${dir}/data`, 4, { width: 96, height: 64, seed: 200, shake: 2 });
    const config = `${dir}/tiny.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        name: "dp",
        data: `${dir}/data`,
        stage: 1,
        model: "tiny",
        crop: 32,
        stride: 16,
        batch: 4,
        lr: 1e-3,
        valEvery: 1000,
        checkpointEvery: 1000,
        seed: 3,
      }),
    );
    const train = (out: string) => [
      "run",
      ...TEST_FLAGS,
      "tools/train.ts",
      ...["--config", config, "--out", `${dir}/${out}`, "--device", "cuda", "--max-steps", "20"],
    ];
    const one = await deno(train("one"), {});
    if (one.code !== 0) {
      show(step, one.stderr);
      return { step, ok: false, result: `one GPU: exit ${one.code}` };
    }
    let two;
    try {
      two = await exec("mpirun", ["-np", "2", Deno.execPath(), ...train("two")], {
        OMPI_ALLOW_RUN_AS_ROOT: "1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1",
      });
    } catch {
      return { step, ok: false, result: "no mpirun (apt-get install openmpi-bin libopenmpi3)" };
    }
    if (two.code !== 0 || !two.stderr.includes("data-parallel over NCCL")) {
      show(step, two.stdout + two.stderr);
      return { step, ok: false, result: `two ranks: exit ${two.code}, NCCL not used` };
    }
    const loss = async (out: string) =>
      (await Deno.readTextFile(`${dir}/${out}/log.csv`)).trim().split("\n").slice(1)
        .map((l) => Number(l.split(",")[3]));
    const [a, b] = [await loss("one"), await loss("two")];
    const gap = Math.max(...a.map((v, i) => Math.abs(v - b[i]) / Math.abs(v)));
    const ok = a.length === 20 && b.length === 20 && gap <= 1e-3;
    return { step, ok, result: `losses within ${gap.toExponential(1)} of one GPU's` };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function table(rows: Row[]): string {
  const head = ["step", "result", "ours", "PyTorch", "ours/PyTorch"];
  const cells = rows.map((r) => [r.step, r.result, r.ours ?? "", r.torch ?? "", r.ratio ?? ""]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i])).join(" | ")} |`;
  return [line(head), line(w.map((n) => "-".repeat(n))), ...cells.map(line)].join("\n");
}

await run("gpu-check", async () => {
  flags("gpu-check", {}, {
    usage: [""],
    about:
      "Checks the CUDA backend on this machine's GPU: the op suite with TF32 off (1e-5) and\n" +
      "on (1e-3 for conv/matmul/linear), the CUDA smoke tests, and bench --device cuda\n" +
      "(--infer 1500x1000, --train-step --batch 16) beside PyTorch, and with two GPUs,\n" +
      "data-parallel training over NCCL against one GPU; ends in one table.\n" +
      "Exit 0: all passed; 1: a step failed or the CUDA libraries are broken; 2: no GPU here.",
    examples: [""],
  });
  let device: string, gpus: number;
  try {
    const cuda = new Cuda();
    device = `${cuda.name} (sm_${cuda.computeCapability.join("")}, ${cuda.path})`;
    gpus = cuda.deviceCount;
    cuda.close();
  } catch (e) {
    if (!(e instanceof NoCudaDevice)) throw e;
    console.log(`gpu-check: no GPU here, nothing run: ${e.message}`);
    Deno.exit(NO_GPU);
  }
  getBackend("cuda"); // every library loads and the kernels compile, or one line says why
  console.error(`gpu-check: ${device}`);
  const suite = ["tests/ops_test.ts", "tests/backend_edges_test.ts"];
  const rows = [
    await tests("ops on cuda, TF32 off (1e-5)", suite, "on cuda", false),
    await tests("ops on cuda, TF32 on (1e-3)", suite, "on cuda", true),
    await tests("smoke (tests/cuda_test.ts)", ["tests/cuda_test.ts"], null, false),
    await bench("infer 1500x1000 (median)", ["--infer", "1500x1000"]),
    await bench("train step, batch 16 (median)", ["--train-step", "--batch", "16"]),
    await dataParallel(gpus),
  ];
  console.log(`gpu-check on ${device}`);
  console.log(table(rows));
  if (rows.some((r) => !r.ok)) Deno.exit(1);
});
