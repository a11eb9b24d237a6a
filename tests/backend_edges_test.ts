// Edges of the primitives, on every device: empty tensors (an empty axis must not reach a
// kernel launch, and sums of nothing are zero, as in PyTorch), long sums against float64,
// max pooling over planes past 2^24 elements, where a float-stored argmax would round
// the winner's index, and one conv's weights used with and without a fused residual (oneDNN
// picks a different kernel and weight layout for each).

import * as T from "@lfdiff/ops/mod.ts";
import type { Tensor } from "@lfdiff/ops/mod.ts";
import { assert, assertEquals } from "./assert.ts";
import { testDevices } from "./golden.ts";

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The float64 sum of x's values (plain order) over `axes` (all when omitted). */
function sum64(x: Float32Array, shape: readonly number[], axes?: number[]): Float64Array {
  const kept = shape.map((d, i) => (axes === undefined || axes.includes(i) ? 1 : d));
  const out = new Float64Array(size(kept));
  const idx = shape.map(() => 0);
  for (let i = 0; i < x.length; i++) {
    let o = 0;
    kept.forEach((d, k) => (o = o * d + (d === 1 ? 0 : idx[k])));
    out[o] += x[i];
    for (let k = shape.length - 1; k >= 0 && ++idx[k] === shape[k]; k--) idx[k] = 0;
  }
  return out;
}

interface EmptyCase {
  name: string;
  inputs: number[][];
  run: (xs: Tensor[]) => Tensor;
  shape: number[];
  /** Every output element (NaN for a mean of nothing). */
  value?: number;
  /** Expected value of every element of each input's gradient (all inputs need grad). */
  grads?: number[];
}

const EMPTY: EmptyCase[] = [
  { name: "sum over kept empty axis", inputs: [[0, 3]], run: ([x]) => T.sum(x, [1]), shape: [0] },
  {
    name: "sum over an empty axis",
    inputs: [[0, 3]],
    run: ([x]) => T.sum(x, [0]),
    shape: [3],
    value: 0,
  },
  {
    name: "sum of everything empty",
    inputs: [[2, 0, 4]],
    run: ([x]) => T.sum(x),
    shape: [],
    value: 0,
  },
  {
    name: "mean over an empty axis",
    inputs: [[2, 0]],
    run: ([x]) => T.mean(x, [1]),
    shape: [2],
    value: NaN,
  },
  { name: "softmax of empty rows", inputs: [[4, 0]], run: ([x]) => T.softmax(x), shape: [4, 0] },
  { name: "softmax of no rows", inputs: [[0, 5]], run: ([x]) => T.softmax(x), shape: [0, 5] },
  {
    name: "layer norm without channels",
    inputs: [[1, 0, 2, 2], [0], [0]],
    run: ([x, w, b]) => T.layerNorm2d(x, w, b),
    shape: [1, 0, 2, 2],
  },
  {
    name: "layer norm of no images",
    inputs: [[0, 3, 2, 2], [3], [3]],
    run: ([x, w, b]) => T.layerNorm2d(x, w, b),
    shape: [0, 3, 2, 2],
    grads: [0, 0, 0],
  },
  {
    name: "conv of no images",
    inputs: [[0, 3, 5, 5], [4, 3, 3, 3], [4]],
    run: ([x, w, b]) => T.conv2d(x, w, b, { padding: 1 }),
    shape: [0, 4, 5, 5],
    grads: [0, 0, 0],
  },
  {
    name: "max pool of no images",
    inputs: [[0, 2, 4, 4]],
    run: ([x]) => T.maxPool2d(x, 2),
    shape: [0, 2, 2, 2],
  },
  {
    name: "nearest resize of no images",
    inputs: [[0, 2, 3, 3]],
    run: ([x]) => T.resize(x, 7, 5, "nearest"),
    shape: [0, 2, 7, 5],
  },
  {
    name: "bilinear resize of no images",
    inputs: [[0, 2, 3, 3]],
    run: ([x]) => T.resize(x, 7, 5, "bilinear"),
    shape: [0, 2, 7, 5],
  },
];

for (const { device, ignore } of testDevices()) {
  for (const c of EMPTY) {
    Deno.test({ name: `empty: ${c.name} on ${device}`, ignore }, () => {
      T.scope(() => {
        const xs = c.inputs.map((s, i) =>
          T.tensor(new Float32Array(size(s)).fill(i + 1), s, { device, requiresGrad: true })
        );
        const y = c.run(xs);
        assertEquals(y.shape, c.shape);
        const out = y.toArray();
        assert(out.length === size(c.shape));
        if (c.value !== undefined) {
          assert(out.every((v) => Object.is(v, c.value)), `${c.name}: [${out}]`);
        }
        y.backward(T.tensor(new Float32Array(out.length).fill(1), c.shape, { device }));
        xs.forEach((x, i) => {
          assertEquals(x.grad?.shape, x.shape, `${c.name}: gradient of input ${i}`);
          const g = x.grad!.toArray();
          if (c.grads) assert(g.every((v) => v === c.grads![i]), `${c.name} grad ${i}: [${g}]`);
        });
      });
    });
  }

  Deno.test({ name: `long sums over each axis pattern match float64 on ${device}`, ignore }, () => {
    // A conv's output (channels-last on oneDNN) and a plain tensor; the oneDNN backend sums
    // with a matmul (fp32 accumulation), the others in float64.
    const rng = new T.Rng(11);
    T.scope(() => {
      const x = T.rand([2, 8, 160, 192], rng, 0, 1, { device });
      const map = T.conv2d(x, T.rand([6, 8, 1, 1], rng, 0, 1, { device }), null, {});
      const flat = T.rand([8, 24, 480], rng, 0, 1, { device });
      const cases: [Tensor, number[] | undefined][] = [
        [map, [2, 3]],
        [map, [0, 2, 3]],
        [map, undefined],
        [flat, [2]],
        [flat, [0]],
        [flat, [1]],
        [flat, [0, 2]],
      ];
      for (const [t, axes] of cases) {
        const want = sum64(t.toArray(), t.shape, axes), got = T.sum(t, axes).toArray();
        const worst = Math.max(...got.map((v, i) => Math.abs(v - want[i]) / Math.abs(want[i])));
        assert(worst < 2e-6, `sum of ${t.shape} over ${axes ?? "all"}: relative error ${worst}`);
      }
    });
  });

  Deno.test({ name: `conv weights serve fused and unfused passes on ${device}`, ignore }, () => {
    // 32 channels of 16×16: oneDNN 2.6.3 runs the plain conv as brgconv (weights Acdb32a)
    // and the one with a residual as jit:avx512_core (ABcd16b16a); a weight reorder cached
    // for one and handed to the other gave errors as large as the values.
    const rng = new T.Rng(12);
    const shapes = [[1, 32, 16, 16], [32, 32, 3, 3], [32], [1, 32, 16, 16]];
    const data = shapes.map((s) => T.rand(s, rng, -1, 1).toArray());
    const run = (dev: string) =>
      T.scope(() => {
        const [x, w, b, r] = data.map((v, i) => T.tensor(v, shapes[i], { device: dev }));
        const o = { padding: 1 };
        return [
          T.conv2d(x, w, b, o),
          T.conv2d(x, w, b, o, r),
          T.conv2d(x, w, b, o),
        ].map((y) => y.toArray());
      });
    const want = run("cpu-openblas"), got = run(device);
    got.forEach((y, k) => {
      const worst = Math.max(...y.map((v, i) => Math.abs(v - want[k][i])));
      assert(worst < 1e-4, `pass ${k}: off by ${worst}`);
    });
  });

  Deno.test({
    name: `max pool past 2^24 positions routes the gradient exactly on ${device}`,
    ignore,
  }, () => {
    // One plane of 4 × (2^22 + 4) = 2^24 + 16 elements; the maximum of the last window sits
    // at 2^24 + 13, which float32 cannot hold (it rounds to 2^24 + 12, its left neighbour).
    const h = 2 ** 22 + 4, w = 4, p = (h - 1) * w + 1;
    T.scope(() => {
      const data = new Float32Array(h * w);
      data[p] = 1;
      const x = T.tensor(data, [1, 1, h, w], { device, requiresGrad: true });
      const y = T.maxPool2d(x, 2);
      const n = y.shape[2] * y.shape[3];
      const g = new Float32Array(n);
      g[n - 2] = 5; // the output of the window holding p (last row, first column)
      y.backward(T.tensor(g, y.shape, { device }));
      const dx = x.grad!.toArray();
      assertEquals([dx[p - 1], dx[p], dx[p + 1]], [0, 5, 0]);
    });
  });
}
