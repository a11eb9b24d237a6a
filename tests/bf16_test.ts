// bf16 precision (ops/precision.ts) against fp32 on whole networks: the dtypes follow the
// policy, a stage-1 training step of the small model gives the same loss and parameter
// gradients to within what bf16 allows, and a whole s2 forward the same image. The op-level
// cases (every golden op, forward and gradients) are in ops_test.ts; the shipped model's
// quality under bf16 in quality_test.ts. Skipped, in one line, on a CPU without bf16.

import * as T from "@lfdiff/ops/mod.ts";
import type { Tensor } from "@lfdiff/ops/mod.ts";
import { LFDiff } from "@lfdiff/model/lfdiff.ts";
import { SMALL } from "@lfdiff/model/config.ts";
import { Trainer } from "@lfdiff/model/trainer.ts";
import { Conv2d } from "@lfdiff/model/nn/layers.ts";
import { Adam } from "@lfdiff/model/optim/adam.ts";
import { muLawTensor } from "@lfdiff/model/losses.ts";
import { muLaw } from "@lfdiff/imaging/tonemap.ts";
import { assert, assertClose } from "./assert.ts";
import { bf16Unavailable } from "./golden.ts";

// The default device, oneDNN where it loads: what LFDiff's parameters are made on.
const ignore = bf16Unavailable() !== null || !T.getBackend().bf16;

/** The gradient reaching a fresh copy of `leaf` when `run(copy, p)` runs backward under p. */
function leafGrad(
  leaf: Tensor,
  p: "fp32" | "bf16",
  run: (t: Tensor, p: "fp32" | "bf16") => void,
): Float32Array {
  return T.scope(() =>
    T.withPrecision(p, () => {
      const t = T.tensor(leaf.toArray(), leaf.shape, { requiresGrad: true });
      run(t, p);
      return t.grad!.toArray();
    })
  );
}

/** Three random 6-channel frames and a ground truth of n crops of size². */
function batch(n: number, size: number, seed: number) {
  const rng = new T.Rng(seed), o = {};
  const x = [0, 1, 2].map(() => T.rand([n, 6, size, size], rng, 0, 1, o)) as [
    Tensor,
    Tensor,
    Tensor,
  ];
  return { x, gt: T.rand([n, 3, size, size], rng, 0, 1, o) };
}

Deno.test({
  name: "bf16: dtypes follow the policy, and weights, gradients and Adam stay fp32",
  ignore,
  fn: () => {
    const conv = new Conv2d(16, 16, 3, { padding: 1 });
    const scale = T.ones([1], { requiresGrad: true }).keep();
    const params = [...conv.parameters(), scale], opt = new Adam(params);
    T.scope(() =>
      T.withPrecision("bf16", () => {
        const x = T.randn([2, 16, 8, 8], new T.Rng(2));
        const y = conv.forward(x);
        assert(y.dtype === "bfloat16", `conv wrote ${y.dtype}`);
        const z = T.gelu(T.add(y, y));
        assert(z.dtype === "bfloat16", `gelu(y + y) is ${z.dtype}`);
        assert(T.add(z, x).dtype === "float32", "bf16 + fp32 is not fp32");
        const loss = T.mean(T.mul(z, scale));
        assert(loss.dtype === "float32", `mean wrote ${loss.dtype}`);
        loss.backward();
        opt.update();
      })
    );
    assert(T.getPrecision() === "fp32", "withPrecision did not restore fp32");
    for (const p of params) {
      const { m, v } = opt.moments.get(p)!;
      const dtypes = [p, p.grad!, m, v].map((t) => t.dtype);
      assert(dtypes.every((d) => d === "float32"), `weight, gradient, moments: ${dtypes}`);
    }
  },
});

Deno.test({
  name: "bf16: the loss's μ-law reads a bf16 output in fp32",
  ignore,
  fn: () => {
    // HDR values from 1e-4 to 1: 1 + μx rounded to bf16 moved T(x) by up to 4.5e-4.
    const values = Array.from({ length: 4096 }, (_, i) => Math.pow(10, -4 + (4 * i) / 4095));
    T.scope(() =>
      T.withPrecision("bf16", () => {
        const h = T.toDtype(T.tensor(values, [1, 1, 64, 64]), "bfloat16");
        const x = T.float32(h).toArray(), t = muLawTensor(h).toArray();
        let worst = 0;
        x.forEach((v, i) => worst = Math.max(worst, Math.abs(t[i] - muLaw(v))));
        assert(worst < 1e-6, `μ-law of bf16 values off by ${worst}`);
      })
    );
  },
});

Deno.test({
  name: "bf16: the network's output Ĥ and its sigmoid are fp32",
  ignore,
  fn: () => {
    const b = batch(1, 32, 4);
    T.scope(() =>
      T.withPrecision("bf16", () => {
        const model = new LFDiff({ ...SMALL, variant: "s1" }, new T.Rng(6));
        const h = model.forward(...b.x, { gt: b.gt });
        assert(h.dtype === "float32", `Ĥ is ${h.dtype}`);
        // bf16 holds nothing between 0.99609375 and 1; fp32 Ĥ does.
        const v = h.toArray();
        assert(
          v.some((x) => x > 0.5 && x !== T.float32(T.toDtype(T.tensor([x]), "bfloat16")).item()),
        );
      })
    );
  },
});

Deno.test({
  name: "bf16: a stage-1 training step of the small model matches fp32's loss and gradients",
  ignore,
  fn: () => {
    const b = batch(2, 64, 3);
    const run = (p: T.Precision) =>
      T.withPrecision(p, () => {
        const model = new LFDiff({ ...SMALL, variant: "s1" }, new T.Rng(5));
        for (const t of model.parameters()) t.keep();
        const trainer = new Trainer(model, {
          stage: 1,
          lr: 1e-4,
          lrStepEpochs: 50,
          lrGamma: 0.1,
          lambda: 0,
          seed: 0,
        });
        const loss = T.scope(() => {
          const { total } = trainer.loss(b);
          total.backward();
          return total.item();
        });
        return { loss, grads: model.namedParameters().map(([n, t]) => [n, t.grad!.toArray()]) };
      });
    const [a, c] = [run("fp32"), run("bf16")];
    assert(Math.abs(a.loss - c.loss) <= 1e-3 * a.loss, `loss ${c.loss} in bf16, ${a.loss} in fp32`);
    let differs = false;
    for (const [k, [name, g]] of a.grads.entries()) {
      const h = c.grads[k][1] as Float32Array, r = g as Float32Array;
      differs ||= h.some((v, i) => v !== r[i]);
      // Direction, not each element: a parameter whose gradient is small beside the rest
      // carries rounding from the larger ones (measured: cosine 0.995 at worst).
      let dot = 0, hh = 0, rr = 0;
      for (let i = 0; i < r.length; i++) (dot += h[i] * r[i]), (hh += h[i] ** 2), (rr += r[i] ** 2);
      const cos = dot / Math.sqrt(hh * rr);
      assert(cos >= 0.99, `gradient of ${name}: cosine ${cos.toFixed(4)} with fp32's`);
    }
    assert(differs, "bf16 gave fp32's gradients bit for bit");
  },
});

Deno.test({
  name: "bf16: a whole s2 inference of the small model gives fp32's image to 40 dB",
  ignore,
  fn: () => {
    const model = new LFDiff(SMALL, new T.Rng(7));
    const b = batch(1, 64, 8), k = SMALL.unshuffle;
    const zT = T.randn([1, SMALL.priorChannels, 64 / k, 64 / k], new T.Rng(9));
    const run = (p: T.Precision) =>
      T.withPrecision(
        p,
        () => T.scope(() => T.noGrad(() => model.forward(...b.x, { zT }).toArray())),
      );
    const [a, c] = [run("fp32"), run("bf16")];
    let se = 0;
    for (let i = 0; i < a.length; i++) se += (a[i] - c[i]) ** 2;
    const psnr = 10 * Math.log10(a.length / se); // outputs lie in [0, 1] (a sigmoid)
    assert(psnr >= 40 && psnr < Infinity, `bf16 against fp32: ${psnr.toFixed(1)} dB`);
    // The DDIM denoiser runs in fp32 whatever the precision (model/lfdiff.ts): small
    // tensors, which bf16 made slower.
    const denoiser = model.denoiser!, seen = new Set<string>();
    model.denoiser = {
      forward: (...a: Parameters<typeof denoiser.forward>) => {
        const y = denoiser.forward(...a);
        seen.add(y.dtype);
        return y;
      },
    } as typeof denoiser;
    T.withPrecision("bf16", () => T.scope(() => T.noGrad(() => model.prior(...b.x, { zT }))));
    model.denoiser = denoiser;
    assert(seen.size === 1 && seen.has("float32"), `the denoiser under bf16 wrote ${[...seen]}`);
  },
});

Deno.test({
  name: "bf16: a bilinear resize's channels-last gradient (two matmuls) is fp32's within bf16",
  ignore,
  fn: () => {
    // A conv before the resize and one after it, as in the model: the gradient reaching the
    // resize is channels-last, which the oneDNN backend takes through resampleAdjoint.
    const rng = new T.Rng(4);
    const x = T.randn([2, 16, 16, 12], rng), w = T.randn([16, 16, 3, 3], rng);
    const after = new Conv2d(16, 16, 1, { rng });
    for (const [oh, ow] of [[32, 24], [64, 48], [21, 30]]) {
      const grad = (p: "fp32" | "bf16") =>
        leafGrad(x, p, (xi) => {
          const y = after.forward(T.resize(T.conv2d(xi, w, null, { padding: 1 }), oh, ow));
          T.sum(T.mul(T.float32(y), T.float32(y))).backward();
        });
      assertClose(grad("bf16"), grad("fp32"), 0.03, `${oh}x${ow}: the input gradient`);
    }
  },
});

Deno.test({
  name: "bf16: a 1×1 conv with an odd number of outputs gives fp32's input gradient",
  ignore,
  fn: () => {
    // oneDNN 2.6.3's bf16 kernel got these wrong (errors as large as the gradient): the
    // backend runs such passes in fp32 (ops/cpu/dnnl_conv.ts).
    const rng = new T.Rng(8);
    for (const [n, ic, oc, h, w] of [[1, 3, 3, 5, 6], [2, 32, 1, 2, 15], [8, 3, 7, 6, 5]]) {
      const x = T.randn([n, ic, h, w], rng), k = T.randn([oc, ic, 1, 1], rng);
      const g = T.randn([n, oc, h, w], rng);
      const grad = (p: "fp32" | "bf16") =>
        leafGrad(x, p, (xi, p) => {
          T.conv2d(p === "bf16" ? T.toDtype(xi, "bfloat16") : xi, k, null, {}).backward(g);
        });
      assertClose(grad("bf16"), grad("fp32"), 0.03, `${[n, ic, oc, h, w]}: the input gradient`);
    }
  },
});

Deno.test({
  name: "bf16: channels-last layer norm of any width is fp32's within bf16, and as fast",
  ignore,
  fn: () => {
    // oneDNN 2.6.3's bf16 layer norm is 40–120× slower than fp32's when c is not a multiple of
    // 16 (the paper-literal Restormer's 60 and 120): the backend normalises those in fp32.
    const rng = new T.Rng(10);
    for (const c of [60, 64]) {
      const x = T.randn([2, c, 96, 64], rng), k = T.randn([c, c, 1, 1], rng);
      const w = T.rand([c], rng, 0.5, 1.5), b = T.randn([c], rng);
      const g = T.randn([2, c, 96, 64], rng);
      const run = (p: "fp32" | "bf16") =>
        T.scope(() =>
          T.withPrecision(p, () => {
            const xi = T.tensor(x.toArray(), x.shape, { requiresGrad: true });
            const nhwc = T.conv2d(xi, k); // channels-last, in p's dtype
            const t0 = performance.now();
            const y = T.layerNorm2d(nhwc, w, b);
            y.backward(g);
            return {
              ms: performance.now() - t0,
              y: T.float32(y).toArray(),
              dx: xi.grad!.toArray(),
            };
          })
        );
      const fp32 = [run("fp32"), run("fp32")], bf16 = [run("bf16"), run("bf16")];
      assertClose(bf16[1].y, fp32[1].y, 0.02, `c = ${c}: the output`);
      assertClose(bf16[1].dx, fp32[1].dx, 0.03, `c = ${c}: the input gradient`);
      const ms = (r: { ms: number }[]) => Math.min(...r.map((x) => x.ms));
      assert(ms(bf16) < 8 * ms(fp32) + 20, `c = ${c}: bf16 ${ms(bf16)} ms, fp32 ${ms(fp32)} ms`);
    }
  },
});

Deno.test({
  name: "bf16: large sums (a matmul with ones) match fp32's sums of the same values",
  ignore,
  fn: () => {
    // Channels-last (a conv's output) and plain bf16 tensors, over the axis patterns the
    // oneDNN backend takes as a matmul ([n, c] of a channels-last map, leading, trailing,
    // middle, all) and one it does not ([0, 2] of a plain one).
    const rng = new T.Rng(9);
    const x = T.randn([4, 16, 24, 20], rng), w = T.randn([24, 16, 3, 3], rng);
    T.scope(() =>
      T.withPrecision("bf16", () => {
        const nhwc = T.conv2d(x, w, null, { padding: 1 });
        const flat = T.toDtype(T.randn([8, 24, 480], rng), "bfloat16");
        const cases: [string, Tensor, number[] | undefined][] = [
          ["channels-last h, w", nhwc, [2, 3]],
          ["channels-last n, h, w", nhwc, [0, 2, 3]],
          ["channels-last all", nhwc, undefined],
          ["plain last", flat, [2]],
          ["plain first", flat, [0]],
          ["plain middle", flat, [1]],
          ["plain first and last", flat, [0, 2]],
        ];
        for (const [what, t, axes] of cases) {
          assert(t.dtype === "bfloat16", `${what}: ${t.dtype}`);
          const got = T.sum(t, axes).toArray(), want = T.sum(T.float32(t), axes).toArray();
          assertClose(got, want, 1e-4, what);
        }
      })
    );
  },
});

Deno.test({
  name: "bf16: a per-channel scale's gradient (a bf16 sum to [n, c, 1, 1]) is fp32's",
  ignore,
  fn: () => {
    // Channel attention's x · s: s's gradient sums g · x over h and w in x's dtype.
    const rng = new T.Rng(10);
    const x = T.randn([4, 16, 24, 20], rng), w = T.randn([16, 16, 3, 3], rng);
    const s = T.rand([4, 16, 1, 1], rng, 0.5, 1.5);
    const grad = (p: "fp32" | "bf16") =>
      leafGrad(s, p, (si, p) => {
        const y = T.mul(
          T.conv2d(x, w, null, { padding: 1 }),
          p === "bf16" ? T.toDtype(si, "bfloat16") : si,
        );
        T.sum(T.mul(T.float32(y), T.float32(y))).backward();
      });
    assertClose(grad("bf16"), grad("fp32"), 0.03, "the scale's gradient");
  },
});
