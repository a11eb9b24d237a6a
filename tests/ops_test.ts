// Every op against PyTorch: forward output and the gradient of each input for a random
// upstream gradient, on every available device. Tolerance 1e-4 relative (1e-3 for the
// GEMM-backed conv and matmul), relative to the largest reference value. On a CPU with bf16
// the oneDNN path runs every case again in bf16: the inputs rounded to bfloat16 and the op
// under bf16 precision (ops/precision.ts), held to what bf16's 8-bit mantissa allows. And
// again with every image-shaped input, and the output's gradient, held channels-last, as a
// conv leaves its output in the oneDNN backend (ops/cpu/dnnl_kernels.ts): each op must read
// that layout, or put it back in order, and give the same result, in fp32 and in bf16.

import * as T from "@lfdiff/ops/mod.ts";
import type { Tensor } from "@lfdiff/ops/mod.ts";
import { Linear } from "@lfdiff/model/mod.ts";
import { tf32Enabled } from "@lfdiff/ops/cuda/backend.ts";
import { assertClose } from "./assert.ts";
import { bf16Unavailable, fixture, get, testDevices } from "./golden.ts";
import { createOpenBlasBackend } from "@lfdiff/ops/cpu/backend.ts";
import { createDnnlBackend } from "@lfdiff/ops/cpu/dnnl_backend.ts";

// deno-lint-ignore no-explicit-any
type Params = Record<string, any>;

/** nn.Linear's forward with given parameters (the layer itself owns fresh ones). */
function linear(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  const layer = new Linear(w.shape[1], w.shape[0], { bias: b !== null });
  layer.weight = w;
  layer.bias = b;
  return layer.forward(x);
}

function splitMix(x: Tensor, sizes: number[], axis: number): Tensor {
  const p = T.split(x, sizes, axis);
  return T.concat([p[2], T.mul(p[0], 2), p[1]], axis);
}

function chunkMix(x: Tensor, n: number, axis: number): Tensor {
  const p = T.chunk(x, n, axis);
  return T.concat([T.mul(p[p.length - 1], 3), ...p.slice(0, -1)], axis);
}

const OPS: Record<string, (x: Tensor[], p: Params) => Tensor> = {
  add: ([a, b]) => T.add(a, b),
  sub: ([a, b]) => T.sub(a, b),
  mul: ([a, b]) => T.mul(a, b),
  div: ([a, b]) => T.div(a, b),
  addScalar: ([a], p) => T.add(a, p.s),
  subScalar: ([a], p) => T.sub(a, p.s),
  mulScalar: ([a], p) => T.mul(a, p.s),
  divScalar: ([a], p) => T.div(a, p.s),
  neg: ([a]) => T.neg(a),
  exp: ([a]) => T.exp(a),
  log: ([a]) => T.log(a),
  sqrt: ([a]) => T.sqrt(a),
  pow: ([a], p) => T.pow(a, p.e),
  abs: ([a]) => T.abs(a),
  clamp: ([a], p) => T.clamp(a, p.min ?? -Infinity, p.max ?? Infinity),
  relu: ([a]) => T.relu(a),
  leakyRelu: ([a], p) => T.leakyRelu(a, p.slope),
  sigmoid: ([a]) => T.sigmoid(a),
  tanh: ([a]) => T.tanh(a),
  gelu: ([a]) => T.gelu(a),
  silu: ([a]) => T.silu(a),
  sum: ([a], p) => T.sum(a, p.axes, p.keep),
  mean: ([a], p) => T.mean(a, p.axes, p.keep),
  softmax: ([a]) => T.softmax(a),
  matmul: ([a, b], p) => T.matmul(a, b, p.ta ?? false, p.tb ?? false),
  conv2d: ([x, w, b], p) => T.conv2d(x, w, b ?? null, p),
  conv2dAdd: (xs, p) => T.conv2d(xs[0], xs[1], xs.length > 3 ? xs[2] : null, p, xs.at(-1)!),
  avgPool2d: ([a], p) => T.avgPool2d(a, p.k, p.stride),
  globalAvgPool: ([a]) => T.globalAvgPool(a),
  maxPool2d: ([a], p) => T.maxPool2d(a, p.k, p.stride),
  resize: ([a], p) => T.resize(a, p.size[0], p.size[1], p.mode),
  upsample: ([a], p) => T.upsample(a, p.factor, p.mode),
  pixelShuffle: ([a], p) => T.pixelShuffle(a, p.r),
  pixelUnshuffle: ([a], p) => T.pixelUnshuffle(a, p.r),
  concat: (xs, p) => T.concat(xs, p.axis),
  splitMix: ([a], p) => splitMix(a, p.sizes, p.axis),
  chunkMix: ([a], p) => chunkMix(a, p.n, p.axis),
  slice: ([a], p) => T.slice(a, p.axis, p.start, p.end),
  reshape: ([a], p) => T.reshape(a, p.shape),
  permute: ([a], p) => T.permute(a, p.perm),
  transpose: ([a], p) => T.transpose(a, p.a, p.b),
  expand: ([a], p) => T.expand(a, p.shape),
  pad: ([a], p) => T.pad(a, p.pads, p.value),
  layerNorm2d: ([x, w, b]) => T.layerNorm2d(x, w, b ?? null),
  l2Normalize: ([a], p) => T.l2Normalize(a, p.axis),
  linear: ([x, w, b]) => linear(x, w, b ?? null),
  l1Loss: ([a, b]) => T.l1Loss(a, b),
  mseLoss: ([a, b]) => T.mseLoss(a, b),
};

interface Case {
  name: string;
  op: string;
  params: Params;
  inputs: number;
  grads: boolean[];
}

const f = fixture("ops");
const cases: Case[] = JSON.parse(f.metadata.cases);

/** A CPU backend whose fresh buffers hold NaN: an op that reads what it did not write shows. */
function poisoned(name: string, dnnl: boolean): () => T.Backend {
  return () => {
    const base = createOpenBlasBackend(name), alloc = base.alloc;
    base.alloc = (n) => (alloc(n) as Float32Array).fill(NaN);
    return dnnl ? createDnnlBackend(name, base) : base;
  };
}
T.registerBackend("cpu-dnnl-nan", poisoned("cpu-dnnl-nan", true));
T.registerBackend("cpu-openblas-nan", poisoned("cpu-openblas-nan", false));
const devices: { device: string; ignore: boolean; bf16?: boolean; nhwc?: boolean }[] =
  testDevices();
devices.push(
  { device: "cpu-dnnl-nan", ignore: devices[0].ignore },
  { device: "cpu-openblas-nan", ignore: false },
);
const noBf16 = bf16Unavailable() !== null;
devices.push(
  { device: "cpu-dnnl", ignore: noBf16, bf16: true },
  { device: "cpu-dnnl-nan", ignore: noBf16, bf16: true },
  { device: "cpu-dnnl", ignore: devices[0].ignore, nhwc: true },
  { device: "cpu-dnnl-nan", ignore: devices[0].ignore, nhwc: true },
  { device: "cpu-dnnl", ignore: noBf16, bf16: true, nhwc: true },
);

/**
 * x through a 1×1 conv with the identity as its kernel: the same values (and gradient),
 * left channels-last by the oneDNN backend.
 */
function channelsLast(x: Tensor): Tensor {
  if (x.rank !== 4 || x.shape[1] < 2 || x.shape[2] * x.shape[3] < 2) return x;
  const c = x.shape[1], eye = new Float32Array(c * c);
  for (let i = 0; i < c; i++) eye[i * c + i] = 1;
  return T.conv2d(x, T.tensor(eye, [c, c, 1, 1], { device: x.device }));
}

/**
 * bf16 keeps 8 mantissa bits (unit roundoff 2⁻⁹ ≈ 2e-3): inputs and outputs are each
 * rounded, and a GEMM sums rounded products. 5 units; the worst case seen is 4 (a
 * broadcast product's gradient, the bias-free layer norm's).
 */
const BF16_TOL = 1e-2;

for (const { device, ignore, bf16, nhwc } of devices) {
  for (const c of cases) {
    const on = `${device}${bf16 ? " in bf16" : ""}${nhwc ? ", channels-last" : ""}`;
    Deno.test({ name: `op ${c.name} (${c.op}) on ${on}`, ignore }, () => {
      // CUDA is held to 1e-5 (GEMM-backed ops to 1e-3 under LFDIFF_TF32=1: TF32 keeps 10
      // mantissa bits), the CPU to the engine's 1e-4 / 1e-3 for GEMMs.
      const tf32 = tf32Enabled() && ["conv2d", "matmul", "linear"].includes(c.op);
      const tol = bf16
        ? BF16_TOL
        : device === "cuda"
        ? tf32 ? 1e-3 : 1e-5
        : c.op === "conv2d" || c.op === "matmul"
        ? 1e-3
        : 1e-4;
      T.scope(() => {
        const xs = Array.from({ length: c.inputs }, (_, i) => {
          const h = get(f, `${c.name}.in${i}`);
          return T.tensor(h.data, h.shape, { device, requiresGrad: c.grads[i] });
        });
        // The identity conv after the op hands its backward a channels-last gradient.
        const run = (ins: Tensor[]) => {
          const y = OPS[c.op](nhwc ? ins.map(channelsLast) : ins, c.params);
          return nhwc ? channelsLast(y) : y;
        };
        const out = bf16
          ? T.withPrecision("bf16", () => run(xs.map((x) => T.toDtype(x, "bfloat16"))))
          : run(xs);
        const ref = get(f, `${c.name}.out`);
        if (out.shape.join() !== ref.shape.join()) {
          throw new Error(`output shape [${out.shape}] ≠ PyTorch [${ref.shape}]`);
        }
        assertClose(out.toArray(), ref.data, tol, `${c.name} forward`);
        const gout = get(f, `${c.name}.gout`);
        out.backward(T.tensor(gout.data, gout.shape, { device }));
        xs.forEach((x, i) => {
          if (!c.grads[i]) return;
          if (!x.grad) throw new Error(`${c.name}: no gradient reached input ${i}`);
          assertClose(
            x.grad.toArray(),
            get(f, `${c.name}.grad${i}`).data,
            tol,
            `${c.name} grad of input ${i}`,
          );
        });
      });
    });
  }
}
