// Adam and StepLR against torch.optim trajectories.

import * as T from "@lfdiff/ops/mod.ts";
import { Adam, parameter, StepLR } from "@lfdiff/model/mod.ts";
import { assertClose, strictEqual } from "./assert.ts";
import { fixture, get, testDevices } from "./golden.ts";

const f = fixture("optim");
const cases: {
  name: string;
  steps: number;
  opts: { lr: number; betas: [number, number]; eps?: number; weight_decay?: number };
}[] = JSON.parse(f.metadata.cases);

for (const { device, ignore } of testDevices()) {
  for (const c of cases) {
    Deno.test({ name: `optim ${c.name} matches torch.optim.Adam on ${device}`, ignore }, () => {
      const p0 = get(f, `${c.name}.p0`);
      const p = parameter(T.tensor(p0.data, p0.shape, { device }));
      const opt = new Adam([p], {
        lr: c.opts.lr,
        betas: c.opts.betas,
        eps: c.opts.eps,
        weightDecay: c.opts.weight_decay,
      });
      for (let k = 0; k < c.steps; k++) {
        const g = get(f, `${c.name}.g${k}`);
        p.grad = T.tensor(g.data, g.shape, { device });
        opt.update();
        assertClose(
          p.toArray(),
          get(f, `${c.name}.p${k + 1}`).data,
          1e-5,
          `${c.name} step ${k + 1}`,
        );
      }
      strictEqual(opt.step, c.steps);
      opt.zeroGrad();
      strictEqual(p.grad, null);
    });
  }
}

Deno.test("StepLR matches torch's StepLR(50, 0.1) over 160 epochs", () => {
  const lrs: number[] = JSON.parse(f.metadata.steplr);
  const opt = { lr: 1e-4 };
  const s = new StepLR(opt, 50, 0.1);
  lrs.forEach((lr, epoch) => assertClose([s.setEpoch(epoch)], [lr], 1e-12, `epoch ${epoch}`));
  strictEqual(opt.lr, s.lrAt(159));
});
