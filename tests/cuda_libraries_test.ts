// The CUDA path without a GPU: finding cuDNN, cuBLAS and NVRTC in NVIDIA's pip wheels and
// the folders users name, keeping the loader's reason when a file will not load, preloading
// NVRTC's builtins, the rule that skips CUDA tests only without a driver or device, cuDNN's
// algorithm choice, the reduction plan, gpu-check's one line, and NCCL's discovery and calls.
// Fake libraries are copies of libm (it loads, but lacks every CUDA symbol) or, where a C
// compiler is installed, the stand-ins of tests/fake_nvidia.c. A real NVRTC is used when one is found (CUDA_LIB_DIRS,
// the toolkit folders or a wheel).

import { planReduce } from "@lfdiff/ops/cuda/backend.ts";
import { chooseAlgo, CUDNN_LIBRARY, readPerf } from "@lfdiff/native/cudnn.ts";
import { CUBLAS_LIBRARY } from "@lfdiff/native/cublas.ts";
import { NVRTC_LIBRARY } from "@lfdiff/native/nvrtc.ts";
import { Nccl, NCCL_LIBRARY, NCCL_UNIQUE_ID_BYTES, ncclVersionName } from "@lfdiff/native/nccl.ts";
import { NcclCommunicator } from "@lfdiff/ops/collectives.ts";
import { getBackend } from "@lfdiff/ops/device.ts";
import type { DeviceBuffer } from "@lfdiff/ops/backend.ts";
import { Cuda, CudaError, NoCudaDevice, openCudaLibrary } from "@lfdiff/native/cuda.ts";
import {
  envDirs,
  LibraryLoadError,
  LibraryNotFound,
  sitePackages,
} from "@lfdiff/native/library.ts";
import { assert, assertEquals } from "./assert.ts";
import { absentHere, cudaAbsent } from "./golden.ts";
import { cCompiler } from "./c_probe.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** A symbol no real library has: every candidate that exists fails to load, in order. */
const MISSING = { lfdiffNoSuchSymbol: { parameters: [], result: "void" } } as const;

const LIBM = [
  "/lib/x86_64-linux-gnu/libm.so.6",
  "/usr/lib/x86_64-linux-gnu/libm.so.6",
  "/lib64/libm.so.6",
  "/usr/lib64/libm.so.6",
  "/lib/aarch64-linux-gnu/libm.so.6",
].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
})!;

function place(path: string, bytes: Uint8Array = Deno.readFileSync(LIBM)): string {
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  Deno.writeFileSync(path, bytes);
  return path;
}

/** libm with its libc.so.6 dependency renamed: loading it fails on a missing library. */
function withMissingDependency(): Uint8Array {
  const bytes = Deno.readFileSync(LIBM);
  const from = new TextEncoder().encode("\0libc.so.6\0"), to = "\0libLt.so\0\0";
  const at = bytes.findIndex((_, i) => from.every((b, j) => bytes[i + j] === b));
  assert(at >= 0, "libm names no libc.so.6");
  bytes.set(new TextEncoder().encode(to), at);
  return bytes;
}

/** Runs fn with environment variables set (undefined: unset), restoring them after. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const set = (v: Record<string, string | undefined>) =>
    Object.entries(v).forEach(([k, x]) =>
      x === undefined ? Deno.env.delete(k) : Deno.env.set(k, x)
    );
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

function failure(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a failure");
}

/** Runs a deno subcommand in the repository with the environment changed; all its output. */
async function deno(args: string[], env: Record<string, string | undefined>) {
  const vars: Record<string, string> = { ...Deno.env.toObject(), NO_COLOR: "1" };
  for (const [k, v] of Object.entries(env)) v === undefined ? delete vars[k] : vars[k] = v;
  const r = await new Deno.Command(Deno.execPath(), { args, env: vars, clearEnv: true, cwd: ROOT })
    .output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout) + d.decode(r.stderr) };
}

Deno.test("CUDA libraries are found in NVIDIA's wheels: virtualenv, conda, pyenv, python3 on PATH", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const sp = (root: string, py: string) => `${tmp}/${root}/lib/${py}/site-packages`;
    const cudnn = place(`${sp("venv", "python3.12")}/nvidia/cudnn/lib/libcudnn.so.9`);
    const nvrtc = place(`${sp("conda", "python3.10")}/nvidia/cuda_nvrtc/lib/libnvrtc.so.12`);
    const cublas13 = place(
      `${sp("home/.pyenv/versions/3.11.7", "python3.11")}/nvidia/cu13/lib/libcublas.so.13`,
    );
    const cublas12 = place(`${sp("opt/py", "python3.13")}/nvidia/cublas/lib/libcublas.so.12`);
    place(`${tmp}/opt/py/bin/python3`, new Uint8Array());
    await withEnv({
      VIRTUAL_ENV: `${tmp}/venv`,
      CONDA_PREFIX: `${tmp}/conda`,
      HOME: `${tmp}/home`,
      PATH: `${tmp}/opt/py/bin:${Deno.env.get("PATH")}`,
      CUDA_LIB_DIRS: undefined,
      CUDNN_PATH: undefined,
    }, () => {
      const packages = sitePackages();
      for (const root of ["venv", "conda", "home/.pyenv/versions/3.11.7", "opt/py"]) {
        assert(packages.some((p) => p.startsWith(`${tmp}/${root}/lib/`)), `${root}: ${packages}`);
      }
      for (
        const [lib, path] of [
          [CUDNN_LIBRARY, cudnn],
          [NVRTC_LIBRARY, nvrtc],
          [CUBLAS_LIBRARY, cublas13],
          [CUBLAS_LIBRARY, cublas12],
        ] as const
      ) {
        const e = failure(() => openCudaLibrary(lib, MISSING));
        assert(e instanceof LibraryLoadError, e.message);
        assert(e.message.includes(`${path}: undefined symbol: lfdiffNoSuchSymbol`), e.message);
      }
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("CUDA_LIB_DIRS and CUDNN_PATH come first; failures keep the loader's reason, on one line", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const short = place(`${tmp}/a/libcublas.so.13`, Deno.readFileSync(LIBM).subarray(0, 100));
    const needs = place(`${tmp}/b/libcublas.so.12`, withMissingDependency());
    const cudnn = place(`${tmp}/cudnn/lib64/libcudnn.so.9`);
    await withEnv({ CUDA_LIB_DIRS: `${tmp}/a:${tmp}/b`, CUDNN_PATH: `${tmp}/cudnn` }, () => {
      let e = failure(() => openCudaLibrary(CUBLAS_LIBRARY, MISSING));
      assert(e instanceof LibraryLoadError, e.message);
      assert(!e.message.includes("\n"), e.message);
      assert(e.message.startsWith(`cuBLAS could not be loaded: ${short}: `), e.message);
      assert(
        e.message.includes(`${needs}: libLt.so: cannot open shared object file`),
        e.message,
      );
      // Named folders before the loader's own search.
      assert(e.message.includes(`(tried ${short}, `), e.message);
      assert(e.message.indexOf(`${needs},`) < e.message.indexOf(" libcublas.so.13,"), e.message);
      assert(
        /Python site-packages searched for nvidia\/cu13\/lib or nvidia\/cublas\/lib: /.test(
          e.message,
        ),
      );

      e = failure(() => openCudaLibrary(CUDNN_LIBRARY, MISSING));
      assert(e.message.includes(`${cudnn}: undefined symbol: lfdiffNoSuchSymbol`), e.message);
      assert(e.message.includes(`(tried ${tmp}/cudnn/libcudnn.so.9, `), e.message);

      e = failure(() =>
        openCudaLibrary({
          what: "libnothing",
          names: ["libnothing.so.1"],
          wheels: ["nvidia/nothing/lib"],
          hint: "install nothing",
        }, {})
      );
      assert(e instanceof LibraryNotFound, e.message);
      assert(
        e.message.startsWith(
          `libnothing not found (tried ${tmp}/a/libnothing.so.1, ${tmp}/b/libnothing.so.1, libnothing.so.1, /usr/local/cuda/lib64/libnothing.so.1`,
        ),
        e.message,
      );
      assert(
        /; install nothing \(Python site-packages searched for nvidia\/nothing\/lib: /.test(
          e.message,
        ),
      );
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

// --- NVRTC's builtins -------------------------------------------------------------------------

const compiler = await cCompiler();

/** Builds one stand-in of tests/fake_nvidia.c as `path` (its soname is its file name). */
async function build(kind: string, path: string): Promise<void> {
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const name = path.slice(path.lastIndexOf("/") + 1);
  const out = await new Deno.Command(compiler!, {
    args: [
      "-shared",
      "-fPIC",
      `-DFAKE_${kind}`,
      `-Wl,-soname,${name}`,
      "-o",
      path,
      `${ROOT}tests/fake_nvidia.c`,
      "-ldl",
    ],
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
}

/** A folder holding a real NVRTC and its builtins, if this machine has one anywhere we look. */
function realNvrtc(): { dir: string; nvrtc: string; builtins: string } | null {
  const dirs = [
    ...envDirs("CUDA_LIB_DIRS"),
    "/usr/local/cuda/lib64",
    "/usr/lib/x86_64-linux-gnu",
    ...sitePackages().flatMap((sp) => NVRTC_LIBRARY.wheels.map((w) => `${sp}/${w}`)),
  ];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = [...Deno.readDirSync(dir)].map((e) => e.name);
    } catch {
      continue;
    }
    const nvrtc = NVRTC_LIBRARY.names.find((n) => names.includes(n) && n !== "libnvrtc.so");
    const builtins = names.find((n) => NVRTC_LIBRARY.companions!.test(n));
    if (nvrtc && builtins) return { dir, nvrtc, builtins };
  }
  return null;
}
const real = realNvrtc();

/**
 * In a subprocess with only `venv` to search (and no compile cache): compile with our Nvrtc,
 * or (raw) dlopen the wheel's libnvrtc ourselves and compile without preloading anything.
 */
async function compileIn(venv: string, lib: string, raw: boolean) {
  const script = `${venv}/probe.ts`;
  Deno.writeTextFileSync(
    script,
    raw
      ? `const l = Deno.dlopen(${JSON.stringify(lib)}, {
           nvrtcCreateProgram: { parameters: ["buffer", "buffer", "buffer", "i32", "pointer", "pointer"], result: "i32" },
           nvrtcCompileProgram: { parameters: ["pointer", "i32", "pointer"], result: "i32" },
         }).symbols;
         const p = new BigUint64Array(1), e = new TextEncoder();
         l.nvrtcCreateProgram(p, e.encode('extern "C" __global__ void k() {}\\0'), e.encode("k.cu\\0"), 0, null, null);
         console.log("status", l.nvrtcCompileProgram(Deno.UnsafePointer.create(p[0]), 0, null));`
      : `import { Nvrtc } from "${ROOT}native/nvrtc.ts";
         import { KERNELS } from "${ROOT}ops/cuda/kernels.ts";
         const n = new Nvrtc();
         console.log("path", n.path);
         const cubin = n.compile(KERNELS, "lfdiff_kernels.cu", [8, 0]);
         console.log("cubin", cubin.length, new TextDecoder().decode(cubin.subarray(0, 10)));`,
  );
  return await deno(["run", "-A", "--no-config", script], {
    VIRTUAL_ENV: venv,
    HOME: venv,
    CONDA_PREFIX: undefined,
    CUDA_LIB_DIRS: undefined,
    LD_LIBRARY_PATH: undefined,
    LFDIFF_CACHE: `${venv}/cache`,
  });
}

/** The wheel tree of `lib` in a fresh virtualenv: nvidia/<wheel>/lib. */
function wheelDir(venv: string, wheel: string): string {
  const dir = `${venv}/lib/python3.12/site-packages/${wheel}`;
  Deno.mkdirSync(dir, { recursive: true });
  return dir;
}

async function checkPreload(
  setup: (dir: string) => Promise<{ nvrtc: string; builtins: string }>,
  wheel: string,
  expectCubin: (out: string) => boolean,
): Promise<void> {
  const venv = await Deno.makeTempDir();
  try {
    const dir = wheelDir(venv, wheel);
    const { nvrtc } = await setup(dir);
    const ours = await compileIn(venv, `${dir}/${nvrtc}`, false);
    assertEquals(ours.code, 0, ours.out);
    assert(expectCubin(ours.out), ours.out);
    const found = /^path (.*)$/m.exec(ours.out)![1];
    if (!found.startsWith("/")) console.error(`(an NVRTC on the loader path was used: ${found})`);
    else assertEquals(found, `${dir}/${nvrtc}`);
    // The premise: without the preload, the same library cannot compile from that folder.
    const bare = await compileIn(venv, `${dir}/${nvrtc}`, true);
    assertEquals(bare.code, 0, bare.out);
    if (/status 0/.test(bare.out)) console.error("(its builtins are on the loader path here)");
    else assert(/status 7/.test(bare.out), bare.out); // NVRTC_ERROR_BUILTIN_OPERATION_FAILURE
  } finally {
    await Deno.remove(venv, { recursive: true });
  }
}

Deno.test({
  name: `a real NVRTC in a wheel folder compiles the kernels: its builtins are preloaded${
    real ? ` (${real.dir})` : ""
  }`,
  ignore: real === null,
}, async () => {
  await checkPreload(
    async (dir) => {
      for (const f of [real!.nvrtc, real!.builtins]) {
        await Deno.symlink(`${real!.dir}/${f}`, `${dir}/${f}`);
      }
      return real!;
    },
    "nvidia/cuda_nvrtc/lib",
    (out) => /^cubin [1-9]\d* /m.test(out),
  );
});

Deno.test({
  name: "a fake NVRTC in a wheel folder compiles: its builtins are preloaded (C compiler)",
  ignore: compiler === null,
}, async () => {
  await checkPreload(
    async (dir) => {
      await build("NVRTC", `${dir}/libnvrtc.so.13`);
      await build("BUILTINS", `${dir}/libnvrtc-builtins.so.13.0`);
      return { nvrtc: "libnvrtc.so.13", builtins: "libnvrtc-builtins.so.13.0" };
    },
    "nvidia/cu13/lib",
    (out) => /^cubin 10 FAKE_CUBIN$/m.test(out),
  );
});

Deno.test({
  name: "NVRTC without its builtins fails in one line, without the log's NUL",
  ignore: real === null && compiler === null,
}, async () => {
  const venv = await Deno.makeTempDir();
  try {
    const dir = wheelDir(venv, real ? "nvidia/cuda_nvrtc/lib" : "nvidia/cu13/lib");
    const nvrtc = real ? real.nvrtc : "libnvrtc.so.13";
    if (real) await Deno.symlink(`${real.dir}/${nvrtc}`, `${dir}/${nvrtc}`);
    else await build("NVRTC", `${dir}/${nvrtc}`);
    const r = await compileIn(venv, `${dir}/${nvrtc}`, false);
    if (/^cubin /m.test(r.out)) return console.error("(its builtins are on the loader path here)");
    const line = r.out.split("\n").find((l) => l.includes("could not compile"));
    assert(line !== undefined, r.out);
    assert(!line.includes("\0"), JSON.stringify(line));
    assert(line.includes(`NVRTC (${dir}/${nvrtc}) could not compile lfdiff_kernels.cu: `), line);
    assert(
      /NVRTC_ERROR_BUILTIN_OPERATION_FAILURE: .*builtins.* installed correctly\.$/.test(line),
      line,
    );
  } finally {
    await Deno.remove(venv, { recursive: true });
  }
});

// --- When CUDA tests are skipped ---------------------------------------------------------------

Deno.test("CUDA tests are skipped only for a missing driver or device", () => {
  assert(absentHere("cuda", new NoCudaDevice("no CUDA device found")));
  assert(
    !absentHere("cuda", new LibraryLoadError("cuBLAS", ["x: undefined symbol: y"], ["x"], "")),
  );
  assert(!absentHere("cuda", new LibraryNotFound("cuDNN", ["libcudnn.so.9"], "")));
  assert(!absentHere("cuda", new CudaError("cuInit failed: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH")));
  assert(absentHere("cpu-dnnl", new LibraryNotFound("oneDNN", ["libdnnl.so.2"], "")));
});

Deno.test({
  name: "a driver that will not load fails the CUDA tests instead of skipping them",
  ignore: !cudaAbsent(), // a real driver would load after the broken one
}, async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const driver = place(`${tmp}/libcuda.so.1`);
    await withEnv({ CUDA_LIB_DIRS: tmp }, () => {
      const e = failure(() => new Cuda());
      assert(e instanceof LibraryLoadError && !absentHere("cuda", e), e.message);
      assert(e.message.includes(`${driver}: undefined symbol: `), e.message);
    });
    const r = await deno(
      ["test", "-A", "--no-check", "tests/cuda_test.ts", "--filter", "agree with the CPU"],
      { CUDA_LIB_DIRS: tmp },
    );
    assert(r.code !== 0 && /FAILED \| 0 passed \| 1 failed/.test(r.out), r.out);
    assert(r.out.includes("could not be loaded"), r.out);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name:
    "a driver without a device skips; with a device but no cuBLAS/cuDNN/NVRTC fails (C compiler)",
  ignore: compiler === null || !cudaAbsent(),
}, async () => {
  const tmp = await Deno.makeTempDir();
  try {
    // In subprocesses: once loaded, the fake would answer for libcuda.so.1 in this process.
    await build("DRIVER", `${tmp}/libcuda.so.1`); // lacks cuEventElapsedTime_v2, like old drivers
    const test = [
      "test",
      "-A",
      "--no-check",
      "tests/cuda_test.ts",
      "--filter",
      "agree with the CPU",
    ];
    let r = await deno(test, { CUDA_LIB_DIRS: tmp, FAKE_CUINIT: "100" });
    assert(r.code === 0 && /ok \| 0 passed \| 0 failed \| 1 ignored/.test(r.out), r.out);
    assert(r.out.includes("cuda tests skipped: cuInit: CUDA_ERROR_NO_DEVICE"), r.out);
    r = await deno(test, { CUDA_LIB_DIRS: tmp, FAKE_CUINIT: "0", FAKE_DEVICES: "0" });
    assert(r.code === 0 && /1 ignored/.test(r.out), r.out); // no device: skipped too
    r = await deno(test, { CUDA_LIB_DIRS: tmp, FAKE_CUINIT: "0" });
    assert(r.code !== 0 && /FAILED \| 0 passed \| 1 failed/.test(r.out), r.out);
    assert(/cuda tests will fail: (cuBLAS|cuDNN|NVRTC)/.test(r.out), r.out);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name: "gpu-check without a GPU says so in one line and exits 2",
  ignore: !cudaAbsent(),
}, async () => {
  const r = await deno(["run", "-A", "tools/gpu_check.ts"], {});
  assertEquals(r.code, 2, r.out);
  const lines = r.out.trim().split("\n");
  assertEquals(lines.length, 1, r.out);
  assert(lines[0].startsWith("gpu-check: no GPU here, nothing run: "), lines[0]);
});

// --- cuDNN's algorithm choice ------------------------------------------------------------------

Deno.test("cuDNN: the fastest successful algorithm whose workspace fits, with its math type", () => {
  const FMA = 3, TENSOR_OP = 1;
  // cudnnConvolutionFwdAlgoPerf_t: algo, status, time, pad, memory (8 bytes), determinism, mathType.
  const perf = new Uint8Array(48 * 4), dv = new DataView(perf.buffer);
  [[1, 0, TENSOR_OP], [6, 0, FMA], [0, 3, FMA], [2, 0, FMA]].forEach(([algo, status, math], i) => {
    dv.setInt32(i * 48, algo, true);
    dv.setInt32(i * 48 + 4, status, true);
    dv.setBigUint64(i * 48 + 16, 999n, true); // the struct's memory: not trusted
    dv.setInt32(i * 48 + 28, math, true);
  });
  const ranked = readPerf(perf, 4);
  assertEquals(ranked.map((e) => [e.algo, e.status, e.mathType]), [
    [1, 0, TENSOR_OP],
    [6, 0, FMA],
    [0, 3, FMA],
    [2, 0, FMA],
  ]);
  const bytes: Record<number, number> = { 1: 10, 6: 5000, 0: 0, 2: 100 };
  const asked: number[] = [];
  const ws = (e: { algo: number }) => (asked.push(e.algo), bytes[e.algo]);
  // TF32 allowed: the first entry fits, and runs with its tensor-op math.
  assertEquals(chooseAlgo(ranked, 1000, true, ws), { algo: 1, math: TENSOR_OP, workspace: 10 });
  // Exact fp32: tensor-op math is out; algo 6 needs too much; algo 0 failed: algo 2.
  asked.length = 0;
  assertEquals(chooseAlgo(ranked, 1000, false, ws), { algo: 2, math: FMA, workspace: 100 });
  assertEquals(asked, [6, 2]);
  assertEquals(chooseAlgo(ranked, 50, false, ws), null);
});

Deno.test({
  name:
    "cuDNN plans: the fastest that fits runs with its math type; MAX_PLANS kept; all released (C compiler)",
  ignore: compiler === null,
}, async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const lib = `${tmp}/lib/libcudnn.so.9`;
    await build("CUDNN", lib);
    const script = `${tmp}/probe.ts`;
    Deno.writeTextFileSync(
      script,
      `import { Cudnn, MAX_PLANS } from "${ROOT}native/cudnn.ts";
       const fake = Deno.dlopen("${lib}", {
         fake_cudnn_live: { parameters: [], result: "i32" },
         fake_cudnn_last: { parameters: [], result: "i32" },
       }).symbols;
       const c = new Cudnn(null, false);
       const shape = (h) => ({ n: 1, cin: 2, h, w: 5, cout: 3, kh: 3, kw: 3, oh: h - 2, ow: 3,
         strideH: 1, strideW: 1, padH: 0, padW: 0, dilH: 1, dilW: 1, groups: 1 });
       const first = c.plan(shape(3), () => 2 ** 30);
       c.forward(first, 0n, 0n, 0n, 0n);
       const used = fake.fake_cudnn_last();
       let none = "";
       try { c.plan(shape(1000), () => 8); } catch (e) { none = e.message; }
       const afterNone = fake.fake_cudnn_live();
       for (let h = 4; h < MAX_PLANS + 50; h++) c.plan(shape(h), () => 2 ** 30);
       const kept = [c.plans, fake.fake_cudnn_live()];
       c.close();
       console.log(JSON.stringify({ fwd: first.fwd, used, none, afterNone, kept, max: MAX_PLANS,
         after: fake.fake_cudnn_live() }));`,
    );
    const r = await deno(["run", "-A", "--no-config", script], { CUDNN_PATH: tmp });
    assertEquals(r.code, 0, r.out);
    const o = JSON.parse(r.out.trim().split("\n").pop()!);
    // Algorithm 5 ranks first but needs 2^40 bytes: algorithm 0, FMA math (3), 16 bytes.
    assertEquals(o.fwd, { algo: 0, math: 3, workspace: 16 });
    assertEquals(o.used, 0 * 100 + 3); // what ran, under which math type
    assert(/none of 2 algorithms for conv .* runs in 0 MiB/.test(o.none), o.none);
    assertEquals(o.afterNone, 4); // the failed shape's descriptors were destroyed
    assertEquals(o.kept, [o.max, 4 * o.max]);
    assertEquals(o.after, 0);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

// --- The reduction plan ------------------------------------------------------------------------

/** Runs a plan as the kernels do (offsets, parts, odometer-free), summing x on the host. */
function emulate(p: ReturnType<typeof planReduce>, x: Float64Array): Float64Array {
  const offset = (a: { shape: number[]; stride: number[] }, i: number) => {
    let o = 0;
    for (let d = a.shape.length - 1; d >= 0; d--) {
      o += (i % a.shape[d]) * a.stride[d];
      i = Math.floor(i / a.shape[d]);
    }
    return o;
  };
  const out = new Float64Array(p.outputs);
  for (let o = 0; o < p.outputs; o++) {
    for (let s = 0; s < p.parts; s++) {
      const begin = s * p.chunk, end = Math.min(begin + p.chunk, p.count);
      assert(begin < end, "an empty part");
      for (let r = begin; r < end; r++) out[o] += x[offset(p.kept, o) + offset(p.red, r)];
    }
  }
  return out;
}

Deno.test("reduction plans merge axes, split big sums in non-empty parts and cover each element once", () => {
  const cases: [number[], boolean[], string][] = [
    [[5000], [true], "block"], // full, in parts
    [[64, 5000], [true, false], "thread"], // leading axis
    [[300000, 3], [false, true], "thread"], // short rows
    [[4, 60, 9, 40], [true, false, true, true], "block"], // a bias gradient
    [[2, 3, 4, 5], [false, false, true, true], "block"],
    [[2, 1, 3, 1, 4], [true, true, false, false, true], "block"], // size-1 axes go
    [[5, 7], [false, false], "block"], // nothing reduced: a copy
    [[], [], "block"], // a scalar
  ];
  for (const [shape, reduce, layout] of cases) {
    const p = planReduce(shape, reduce, 64);
    assertEquals(p.layout, layout, `layout for [${shape}]`);
    assert(p.kept.shape.length <= 2 && p.red.shape.length <= 2, JSON.stringify(p));
    assert(p.parts >= 1 && p.parts <= 1024 && p.blocks === p.tiles * p.parts && !p.wide);
    const n = shape.reduce((a, b) => a * b, 1);
    const x = Float64Array.from({ length: n }, (_, i) => i % 7 === 3 ? 1000 + i : i);
    // Reference: the sum by coordinates.
    const ref = new Float64Array(p.outputs);
    for (let i = 0; i < n; i++) {
      let o = 0, rest = i, mul = 1;
      for (let d = shape.length - 1; d >= 0; d--) {
        const c = rest % shape[d];
        rest = Math.floor(rest / shape[d]);
        if (!reduce[d]) {
          o += c * mul;
          mul *= shape[d];
        }
      }
      ref[o] += x[i];
    }
    assertEquals(Array.from(emulate(p, x)), Array.from(ref), `sum of [${shape}] over ${reduce}`);
  }
  assert(planReduce([3_000_000], [true], 1056).parts > 1, "a full sum is split");
  assert(planReduce([50_000, 50_000], [true, false], 1056).wide, "2.5e9 elements: 64-bit");
});

// --- NCCL ---------------------------------------------------------------------------------

Deno.test("NCCL is found in NVIDIA's wheel (nvidia/nccl/lib) and its versions read", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const path = place(`${tmp}/venv/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2`);
    await withEnv({ VIRTUAL_ENV: `${tmp}/venv`, CUDA_LIB_DIRS: undefined }, () => {
      const e = failure(() => openCudaLibrary(NCCL_LIBRARY, MISSING));
      assert(e instanceof LibraryLoadError, e.message);
      assert(e.message.includes(`${path}: undefined symbol: lfdiffNoSuchSymbol`), e.message);
    });
    assertEquals([ncclVersionName(22105), ncclVersionName(2708)], ["2.21.5", "2.7.8"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name:
    "NCCL: the unique id travels by value, sums are in place on the backend's stream (C compiler)",
  ignore: compiler === null,
}, async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const lib = `${tmp}/libnccl.so.2`;
    await build("NCCL", lib);
    const fake = Deno.dlopen(
      lib,
      {
        fake_nccl_init: { parameters: ["buffer", "buffer"], result: "void" },
        fake_nccl_allreduce: { parameters: ["buffer"], result: "void" },
      } as const,
    ).symbols;
    const device = {
      ...getBackend("cpu"),
      name: "cuda",
      stream: Deno.UnsafePointer.create(0x5ea0n),
      address: (b: DeviceBuffer) => 0x7000n + BigInt(b.length),
      synchronize: () => {},
    };
    await withEnv({ CUDA_LIB_DIRS: tmp }, () => {
      for (const rank of [0, 1]) {
        // Rank 0 makes the id; the others receive its bytes (here: 255 − i) from the bootstrap.
        const host = {
          rank,
          size: 2,
          broadcastHost: (a: Uint8Array | Float32Array) => {
            if (rank > 0) a.forEach((_, i) => a[i] = 255 - i);
          },
          allreduceHost: () => {},
          barrier: () => {},
          close: () => {},
        };
        const comm = new NcclCommunicator(host, new Nccl(), device);
        assert(comm.description.startsWith(`NCCL 2.21.5 (${lib}), 2 ranks`), comm.description);
        const id = new Uint8Array(NCCL_UNIQUE_ID_BYTES), sizeRank = new Int32Array(2);
        fake.fake_nccl_init(id, sizeRank);
        assertEquals([...sizeRank], [2, rank]);
        assertEquals([...id], [...id.keys()].map((i) => rank === 0 ? (i * 7 + 1) & 255 : 255 - i));
        comm.allreduce(device, { length: 300 }, 300);
        const call = new BigUint64Array(7);
        fake.fake_nccl_allreduce(call);
        // send = recv (in place), count, ncclFloat32, ncclSum, the communicator, our stream
        assertEquals([...call], [0x7000n + 300n, 0x7000n + 300n, 300n, 7n, 0n, 0xc0ffeen, 0x5ea0n]);
        const e = failure(() => comm.allreduce(device, { length: 0 }, 0));
        assertEquals(
          e.message,
          "ncclAllReduce failed: invalid argument (run with NCCL_DEBUG=WARN for details) (4)",
        );
        assert(failure(() => comm.allreduce(getBackend("cpu"), { length: 1 }, 1)) instanceof Error);
      }
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
