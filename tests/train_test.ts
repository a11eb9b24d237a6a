// A tiny network trained from PyTorch's initial weights follows PyTorch's loss curve.
//   conv 3→8 → LeakyReLU(0.2) → LayerNorm(ch) → depthwise 3×3 → GELU → 1×1 conv 8→3, + input

import * as T from "@lfdiff/ops/mod.ts";
import type { Tensor } from "@lfdiff/ops/mod.ts";
import { Adam, Conv2d, LayerNorm2d, Module } from "@lfdiff/model/mod.ts";
import { assert, assertClose } from "./assert.ts";
import { fixture, get, testDevices } from "./golden.ts";

class TinyNet extends Module {
  conv1 = new Conv2d(3, 8, 3, { padding: 1 });
  norm = new LayerNorm2d(8);
  dw = new Conv2d(8, 8, 3, { padding: 1, groups: 8 });
  proj = new Conv2d(8, 3, 1);

  forward(x: Tensor): Tensor {
    let h = T.leakyRelu(this.conv1.forward(x), 0.2);
    h = this.norm.forward(h);
    h = T.gelu(this.dw.forward(h));
    return T.add(this.proj.forward(h), x);
  }
}

const f = fixture("train");

for (const { device, ignore } of testDevices()) {
  Deno.test(
    { name: `tiny net trains like PyTorch from the same weights on ${device}`, ignore },
    () => {
      T.setDefaultDevice(device);
      try {
        trainAndCompare();
      } finally {
        T.setDefaultDevice("cpu");
      }
    },
  );
}

function trainAndCompare(): void {
  const net = new TinyNet();
  const weights = new Map(
    [...f.tensors].filter(([k]) => k.startsWith("w.")).map(([k, v]) => [k.slice(2), v]),
  );
  net.loadStateDict(weights);
  const xh = get(f, "x"), th = get(f, "target");
  const x = T.tensor(xh.data, xh.shape), target = T.tensor(th.data, th.shape);
  const opt = new Adam(net.parameters(), { lr: Number(f.metadata.lr) });
  const ref = get(f, "losses").data;
  const losses: number[] = [];
  for (let step = 0; step < ref.length; step++) {
    losses.push(T.scope(() => {
      opt.zeroGrad();
      const loss = T.l1Loss(net.forward(x), target);
      loss.backward();
      opt.update();
      return loss.item();
    }));
  }
  assertClose(losses, ref, 1e-3, "loss curve");
  assert(losses.at(-1)! < 0.6 * losses[0], `loss fell from ${losses[0]} to ${losses.at(-1)}`);
}
