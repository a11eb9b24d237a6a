// LF-Diff block by block against an independent PyTorch re-implementation
// (tests/make_model_goldens.py): PyTorch's weights load into our modules by name, and the
// outputs agree to 1e-4 relative; for DHRNet and the whole s2 model (through every DDIM
// step) the parameter gradients agree too.

import * as T from "@lfdiff/ops/mod.ts";
import type { Tensor } from "@lfdiff/ops/mod.ts";
import type { Module } from "@lfdiff/model/nn/module.ts";
import { type LFDiffConfig, PAPER } from "@lfdiff/model/config.ts";
import { ResidualBlock } from "@lfdiff/model/residual_block.ts";
import { Alignment } from "@lfdiff/model/alignment.ts";
import { GDFN, MDTA, TransformerBlock } from "@lfdiff/model/restormer.ts";
import { ChannelAttention } from "@lfdiff/model/channel_attention.ts";
import { FRM } from "@lfdiff/model/frm.ts";
import { PIM, PriorCrossAttention } from "@lfdiff/model/pim.ts";
import { DHRNet } from "@lfdiff/model/dhrnet.ts";
import { GtPriorNet, LPENetDM } from "@lfdiff/model/lpenet.ts";
import { Denoiser } from "@lfdiff/model/denoiser.ts";
import { LFDiff } from "@lfdiff/model/lfdiff.ts";
import { Vgg19Features } from "@lfdiff/model/vgg.ts";
import { assertClose } from "./assert.ts";
import { fixture, get } from "./golden.ts";

const f = fixture("model");
const cfg: LFDiffConfig = { ...PAPER, ...JSON.parse(f.metadata.config) };
const alt: LFDiffConfig = { ...PAPER, ...JSON.parse(f.metadata.configAlt) };
const ch = cfg.channels;

// deno-lint-ignore no-explicit-any
type Runner = { make: () => Module; run: (m: any, x: Tensor[]) => Tensor };
const CASES: Record<string, Runner> = {
  residual_block: { make: () => new ResidualBlock(ch), run: (m, [x]) => m.forward(x) },
  alignment: {
    make: () => new Alignment(6, ch, 0.1),
    run: (m, [a, b, c]) => m.forward(a, b, c).aligned,
  },
  mdta: { make: () => new MDTA(ch, 2), run: (m, [x]) => m.forward(x) },
  gdfn: { make: () => new GDFN(ch, 2.66), run: (m, [x]) => m.forward(x) },
  transformer_block: {
    make: () => new TransformerBlock(ch, 2, 2.66),
    run: (m, [x]) => m.forward(x),
  },
  channel_attention: { make: () => new ChannelAttention(ch, 4), run: (m, [x]) => m.forward(x) },
  frm: { make: () => new FRM(cfg), run: (m, [x]) => m.forward(x) },
  cross_attention: {
    make: () => new PriorCrossAttention(ch, 3, cfg),
    run: (m, [x, z]) => m.forward(x, z),
  },
  pim: { make: () => new PIM(cfg), run: (m, [x, z]) => m.forward(x, z) },
  dhrnet: { make: () => new DHRNet(cfg, true), run: (m, [x, z]) => m.forward(x, z) },
  dhrnet_baseline: { make: () => new DHRNet(cfg, false), run: (m, [x]) => m.forward(x, null) },
  gt_prior: { make: () => new GtPriorNet(cfg), run: (m, [g]) => m.forward(g) },
  lpenet_dm: { make: () => new LPENetDM(cfg), run: (m, [a, b, c]) => m.forward(a, b, c) },
  denoiser: { make: () => new Denoiser(cfg), run: (m, [z, d]) => m.forward(z, d, [3, 17]) },
  vgg19_narrow: { make: () => new Vgg19Features(16), run: (m, [x]) => m.forward(x) },
  pim_alt: { make: () => new PIM(alt), run: (m, [x, z]) => m.forward(x, z) },
  lfdiff_s2_alt: {
    make: () => new LFDiff(alt),
    run: (m, [a, b, c, z]) => m.forward(a, b, c, { zT: z }),
  },
  lfdiff_s2: {
    make: () => new LFDiff(cfg),
    run: (m, [a, b, c, z]) => m.forward(a, b, c, { zT: z }),
  },
};

for (const c of JSON.parse(f.metadata.cases) as { name: string; inputs: number; grad: boolean }[]) {
  Deno.test(`model block ${c.name} matches PyTorch${c.grad ? " (output and parameter gradients)" : ""}`, () => {
    T.scope(() => {
      const runner = CASES[c.name];
      const m = runner.make();
      const prefix = `${c.name}.w.`;
      m.loadStateDict(
        new Map(
          [...f.tensors].filter(([k]) => k.startsWith(prefix)).map((
            [k, v],
          ) => [k.slice(prefix.length), v]),
        ),
      );
      const xs = Array.from({ length: c.inputs }, (_, i) => {
        const h = get(f, `${c.name}.in${i}`);
        return T.tensor(h.data, h.shape);
      });
      const out = runner.run(m, xs);
      const ref = get(f, `${c.name}.out`);
      if (out.shape.join() !== ref.shape.join()) {
        throw new Error(`shape [${out.shape}] ≠ PyTorch [${ref.shape}]`);
      }
      assertClose(out.toArray(), ref.data, 1e-4, `${c.name} output`);
      if (!c.grad) return;
      const g = get(f, `${c.name}.gout`);
      out.backward(T.tensor(g.data, g.shape));
      for (const [name, p] of m.namedParameters()) {
        if (!p.grad) throw new Error(`no gradient reached ${name}`);
        assertClose(
          p.grad.toArray(),
          get(f, `${c.name}.g.${name}`).data,
          1e-3,
          `${c.name} grad ${name}`,
        );
      }
    });
  });
}
