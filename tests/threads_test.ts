// The CPU thread pool: every task split over the threads gives exactly the bits of the same
// kernel run whole on this thread (the parts partition the outputs), small typed arrays go
// through staging, and the split really happens where there is more than one core.

import { parallel, poolInfo, threadCount } from "@lfdiff/ops/cpu/threads.ts";
import { runTask, type TaskName, TASKS } from "@lfdiff/ops/cpu/tasks.ts";
import {
  adamParams,
  layerNormParams,
  opIndex,
  poolParams,
  resampleParams,
  walkParams,
} from "@lfdiff/ops/cpu/tasks.ts";
import { reducePlan } from "@lfdiff/ops/cpu/elementwise.ts";
import { Rng } from "@lfdiff/ops/rng.ts";
import { assert, assertEquals } from "./assert.ts";

const rng = new Rng(11);
const rand = (n: number, lo = -2, hi = 2) => Float32Array.from(rng.uniform(n, lo, hi));
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const contiguous = (s: readonly number[]) =>
  s.map((_, i) => s.slice(i + 1).reduce((a, b) => a * b, 1));

interface Case {
  task: TaskName;
  items: number;
  bufs: () => Float32Array[];
  /** Indices of the buffers the task writes. */
  out: number[];
  params: number[];
}

const P = 3 * 37, H = 45, W = 53; // planes, odd sizes so the parts end mid-row and mid-image
const pool = { planes: P, h: H, w: W, oh: 22, ow: 26, k: 2, stride: 2 };
const up = { mode: "bilinear" as const, planes: P, h: 23, w: 27, oh: 46, ow: 81 };
const near = { ...up, mode: "nearest" as const, oh: 69, ow: 54 };
const ln = { n: 3, c: 37, hw: H * W, eps: 1e-5 };
const bshape = [3, 37, H, W];
const cases: Case[] = [
  { task: "fill", items: P * H * W, bufs: () => [rand(P * H * W)], out: [0], params: [0.5] },
  ...(["gelu", "sigmoid", "leakyRelu", "affine"] as const).map((op) => ({
    task: "unary" as const,
    items: P * H * W,
    bufs: () => [rand(P * H * W), rand(P * H * W)],
    out: [1],
    params: [opIndex(op), 0.3, 0.1],
  })),
  {
    task: "unaryBackward",
    items: P * H * W,
    bufs: () => [rand(P * H * W), rand(P * H * W), rand(P * H * W), rand(P * H * W)],
    out: [3],
    params: [opIndex("gelu"), 0, 0],
  },
  {
    task: "binary", // a broadcast second operand: a per-channel vector shorter than the staging limit
    items: size(bshape),
    bufs: () => [rand(size(bshape)), rand(37), rand(size(bshape))],
    out: [2],
    params: [opIndex("mul"), ...walkParams(bshape, contiguous(bshape), [0, 1, 0, 0])],
  },
  {
    task: "binary", // one long row: the parts split it
    items: P * H * W,
    bufs: () => [rand(P * H * W), rand(P * H * W), rand(P * H * W)],
    out: [2],
    params: [opIndex("add"), ...walkParams([P * H * W], [1], [1])],
  },
  {
    task: "copy", // a transpose of the last two axes at offsets
    items: size(bshape),
    bufs: () => [rand(size(bshape) + 5), rand(size(bshape) + 7)],
    out: [1],
    params: [
      5,
      7,
      ...walkParams([3, 37, W, H], [37 * H * W, H * W, 1, W], contiguous([3, 37, W, H])),
    ],
  },
  ...([[false, true, true, true], [true, false, true, true], [true, false, false, false], [
    false,
    false,
    false,
    true,
  ]] as const).map((reduce) => {
    const plan = reducePlan(bshape, reduce);
    return {
      task: "reduceSum" as const,
      items: plan.items,
      bufs: () => [rand(size(bshape)), rand(size(bshape.filter((_, i) => !reduce[i])))],
      out: [1],
      params: [plan.dims.length, ...plan.dims, ...plan.red.map(Number)],
    };
  }),
  {
    task: "softmax",
    items: P * 7,
    bufs: () => [rand(P * 7 * 301), rand(P * 7 * 301)],
    out: [1],
    params: [301],
  },
  {
    task: "softmaxBackward",
    items: P * 7,
    bufs: () => [rand(P * 7 * 301), rand(P * 7 * 301), rand(P * 7 * 301)],
    out: [2],
    params: [301],
  },
  ...[0, 1].map((bias) => ({
    task: "layerNorm" as const,
    items: ln.n * ln.hw,
    bufs: () => [
      rand(size(bshape)),
      rand(37),
      rand(37),
      rand(size(bshape)),
      rand(ln.n * ln.hw),
      rand(ln.n * ln.hw),
    ],
    out: [3, 4, 5],
    params: [...layerNormParams(ln), bias],
  })),
  ...[0, 1].map((biasFree) => ({
    task: "layerNormBackwardData" as const,
    items: ln.n * ln.hw,
    bufs: () => [
      rand(size(bshape)),
      rand(37),
      rand(ln.n * ln.hw),
      rand(ln.n * ln.hw, 0.5, 2),
      rand(size(bshape)),
      rand(size(bshape)),
    ],
    out: [5],
    params: [...layerNormParams(ln), biasFree],
  })),
  {
    task: "layerNormBackwardWeights",
    items: 37,
    bufs: () => [
      rand(size(bshape)),
      rand(ln.n * ln.hw),
      rand(ln.n * ln.hw, 0.5, 2),
      rand(size(bshape)),
      rand(37),
      rand(37),
    ],
    out: [4, 5],
    params: [...layerNormParams(ln), 1],
  },
  {
    task: "avgPool2d",
    items: P,
    bufs: () => [rand(P * H * W), rand(P * 22 * 26)],
    out: [1],
    params: poolParams(pool),
  },
  {
    task: "avgPool2dBackward",
    items: P,
    bufs: () => [rand(P * 22 * 26), rand(P * H * W)],
    out: [1],
    params: poolParams(pool),
  },
  {
    task: "maxPool2d",
    items: P,
    bufs: () => [rand(P * H * W), rand(P * 22 * 26), rand(P * 22 * 26)],
    out: [1, 2],
    params: poolParams(pool),
  },
  {
    task: "maxPool2dBackward",
    items: P,
    bufs: () => {
      const am = new Float32Array(P * 22 * 26);
      runTask(
        TASKS.indexOf("maxPool2d"),
        [rand(P * H * W), rand(am.length), am],
        poolParams(pool),
        0,
        P,
      );
      return [rand(am.length), am, rand(P * H * W)];
    },
    out: [2],
    params: poolParams(pool),
  },
  ...[up, near].flatMap((g) => [
    ...[5, 1].flatMap((c) => [ // three channels-last images of c channels
      {
        task: "resampleNhwc" as const,
        items: 3 * g.oh,
        bufs: () => [rand(3 * g.h * g.w * c), rand(3 * g.oh * g.ow * c)],
        out: [1],
        params: [...resampleParams({ ...g, planes: 3 }), c],
      },
      {
        task: "resampleNhwcBackward" as const,
        items: 3,
        bufs: () => [rand(3 * g.oh * g.ow * c), rand(3 * g.h * g.w * c)],
        out: [1],
        params: [...resampleParams({ ...g, planes: 3 }), c],
      },
    ]),
    {
      task: "resample" as const,
      items: g.planes * g.oh,
      bufs: () => [rand(g.planes * g.h * g.w), rand(g.planes * g.oh * g.ow)],
      out: [1],
      params: resampleParams(g),
    },
    {
      task: "resampleBackward" as const,
      items: g.planes,
      bufs: () => [rand(g.planes * g.oh * g.ow), rand(g.planes * g.h * g.w)],
      out: [1],
      params: resampleParams(g),
    },
  ]),
  {
    task: "adam",
    items: 200_003,
    bufs: () => [rand(200_003), rand(200_003), rand(200_003), rand(200_003, 0, 1)],
    out: [0, 2, 3],
    params: adamParams({
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.01,
      bias1: 0.1,
      bias2: 0.01,
    }),
  },
];

Deno.test("every task has a split case here", () => {
  const covered = new Set(cases.map((c) => c.task));
  assertEquals(TASKS.filter((t) => !covered.has(t)), []);
});

for (const c of cases) {
  Deno.test(`task ${c.task} ${c.params.slice(0, 2).join(",")}: split equals whole`, () => {
    const whole = c.bufs(), split = whole.map((b) => b.slice());
    runTask(TASKS.indexOf(c.task), whole, c.params, 0, c.items);
    const before = poolInfo().splits;
    parallel(c.task, c.items, split, c.params, 1 << 20);
    if (threadCount() > 1) assert(poolInfo().splits > before, "the task was not split");
    for (const k of c.out) assertEquals(split[k], whole[k], `${c.task} output ${k}`);
  });
}

Deno.test("threads: OMP_NUM_THREADS or every core, at most the cores", () => {
  const env = Number(Deno.env.get("OMP_NUM_THREADS")), cores = navigator.hardwareConcurrency;
  assertEquals(threadCount(), env > 0 ? Math.min(env, cores) : cores);
});

Deno.test("a small buffer passed twice stays one buffer through the split", () => {
  // A bias-free layer norm's backward passes dw for db too: the result must survive.
  const ln = { n: 3, c: 37, hw: 45 * 53, eps: 1e-5 }, size = ln.n * ln.c * ln.hw;
  const x = rand(size), g = rand(size), mean = rand(ln.n * ln.hw);
  const rstd = rand(ln.n * ln.hw, 0.5, 2), dw = rand(37);
  const whole = dw.slice();
  const p = [...layerNormParams(ln), 0];
  runTask(TASKS.indexOf("layerNormBackwardWeights"), [x, mean, rstd, g, whole, whole], p, 0, 37);
  parallel("layerNormBackwardWeights", 37, [x, mean, rstd, g, dw, dw], p, size);
  assertEquals(dw, whole);
});

Deno.test("a task with more parameters than the pool carries runs whole", () => {
  const shape = Array(12).fill(2).concat([64, 64]), n = size(shape);
  const src = rand(n), dst = new Float32Array(n);
  parallel("copy", n, [src, dst], [
    0,
    0,
    ...walkParams(shape, contiguous(shape), contiguous(shape)),
  ]);
  assertEquals(dst, src);
});
