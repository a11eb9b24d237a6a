// VGG19 features for the perceptual term of L_r (Eq. 11): ‖φ(T(H)) − φ(T(Ĥ))‖₁, φ the
// activation of conv5_4 (the 4th conv after the 4th max-pool, SRGAN's "VGG54"), inputs
// normalised by ImageNet's mean and std as torchvision's weights expect. Parameter names
// are torchvision's (`features.0.weight` …), so its vgg19 weights, exported to
// safetensors, load as they are; the network is frozen.
//   x [B, 3, H, W] in [0, 1] → [B, 512, H/16, W/16]

import { affine } from "../ops/arith.ts";
import { concat, slice } from "../ops/layout.ts";
import { l1Loss } from "../ops/loss.ts";
import { maxPool2d } from "../ops/pool.ts";
import type { Tensor } from "../ops/tensor.ts";
import { relu } from "../ops/unary.ts";
import { Conv2d } from "./nn/layers.ts";
import { Module } from "./nn/module.ts";
import { readSafetensors } from "../io/safetensors.ts";

/** torchvision vgg19.features up to conv5_4: channels per conv, "M" for max-pool. */
const LAYERS: (number | "M")[] = [
  64,
  64,
  "M",
  128,
  128,
  "M",
  256,
  256,
  256,
  256,
  "M",
  512,
  512,
  512,
  512,
  "M",
  512,
  512,
  512,
  512,
];
const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225];

export class Vgg19Features extends Module {
  /** Indexed as torchvision's `features` Sequential (ReLUs and pools take indices too). */
  features: (Conv2d | null)[];

  /** `widthDivisor` narrows every conv (the tests check a narrow copy against PyTorch). */
  constructor(widthDivisor = 1) {
    super();
    this.features = [];
    let cin = 3;
    for (const l of LAYERS) {
      if (l === "M") this.features.push(null);
      else {
        const cout = l / widthDivisor;
        this.features.push(new Conv2d(cin, cout, 3, { padding: 1 }), null); // conv, ReLU
        cin = cout;
      }
    }
    this.setTrainable(false);
  }

  forward(x: Tensor): Tensor {
    // ImageNet normalisation per channel.
    let h = concat(
      [0, 1, 2].map((c) => affine(slice(x, 1, c, c + 1), 1 / STD[c], -MEAN[c] / STD[c])),
      1,
    );
    let i = 0;
    for (const l of LAYERS) {
      if (l === "M") {
        h = maxPool2d(h, 2);
        i++;
      } else {
        h = relu(this.features[i]!.forward(h));
        i += 2;
      }
    }
    return h;
  }

  /** The perceptual distance of Eq. 11 between two tone-mapped images. */
  distance(a: Tensor, b: Tensor): Tensor {
    return l1Loss(this.forward(a), this.forward(b));
  }
}

/** How to make the weights file, for the error a missing one gets. */
export const VGG_EXPORT_HINT =
  "export torchvision's ImageNet VGG19 with `python3 tools/export_vgg19.py vgg19.safetensors` " +
  "(needs torch and torchvision; see the README)";

/** Loads torchvision-named VGG19 weights (only the conv layers up to conv5_4 are used). */
export async function loadVgg19(path: string): Promise<Vgg19Features> {
  const file = await readSafetensors(path);
  const vgg = new Vgg19Features();
  const own = new Map(vgg.namedParameters());
  const wanted = new Map([...file.tensors].filter(([k]) => own.has(k)));
  try {
    vgg.loadStateDict(wanted);
  } catch (e) {
    throw new Error(`${path}: not VGG19 weights (${(e as Error).message})`);
  }
  return vgg;
}
