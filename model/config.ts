// LF-Diff's configuration: the paper's numbers (§5.1) as defaults, and every choice the
// paper leaves open as a named field saying where the default comes from. The Table 3
// variants are configurations of the same code.

import { checkSamplingSteps } from "./diffusion.ts";

export type Variant = "baseline" | "s1" | "s2-no-dm" | "s2";

export interface LFDiffConfig {
  variant: Variant;
  /** Feature channels C (paper: 60). */
  channels: number;
  /** Reconstruction blocks and FRMs per block (paper: {3,3,3}). */
  blocks: number[];
  /** Attention heads in each block's self-attention (paper: {6,6,6}). */
  heads: number;
  /** GDFN expansion (paper: 2.66; hidden = floor(C·2.66) as in Restormer). */
  ffnExpansion: number;
  /** Average-pool kernels: PIM (paper: 4, matching the prior's H/4) and FRM (paper: 2). */
  pimPool: number;
  frmPool: number;
  /** LPENet residual blocks (paper: 4), PixelUnshuffle factor k (4), prior channels N (3). */
  lpeBlocks: number;
  unshuffle: number;
  priorChannels: number;
  /** LPENet width. The paper gives none; C is used. */
  lpeChannels: number;
  /** Diffusion steps T (paper: 200) and DDIM steps S (paper: 10 for training and test). */
  timesteps: number;
  samplingSteps: number;
  /**
   * The diffusion model works on z / priorScale (latent diffusion's scale factor): LPENet's
   * prior is unbounded (a deviation of about 5 where the DM's noise has unit variance). The
   * paper is silent; 1 (the default) leaves z as it is, stage 2's "auto" sets it to the
   * stage-1 prior's deviation.
   */
  priorScale: number;
  /** β schedule: linear from 1e-4 to 0.02 scaled by 1000/T, as improved DDPM (Nichol &
   * Dhariwal 2021) adapts DDPM's schedule to fewer steps; the paper gives no schedule. */
  betaStart: number;
  betaEnd: number;
  /** Denoiser U-Net widths per level ({2,2,2} blocks per level, paper; widths are ours,
   * sized so the DM lands near the paper's 7.48 − 5.85 = 1.63M parameters). */
  unetChannels: number[];
  unetBlocks: number[];
  /** Slope of the alignment module's LeakyReLU (AHDRNet-style networks use 0.1–0.2). */
  leakySlope: number;
  /** Channel-attention reduction in FRM/PIM (RCAN's CALayer: 16). */
  caReduction: number;
  /** Upsampling after the pooled branches (not stated; bilinear, as in the cited
   * frequency-split designs). */
  upsample: "bilinear" | "nearest";
  /** L2-normalise q and k in PIM's cross-attention (Restormer/HI-Diff do; Eq. 9 is silent). */
  pimNormalize: boolean;
  /**
   * The PIM's low branch: "attention" is Eq. 9 alone (W_c·V̂·A + F); "transformer" wraps it
   * as HI-Diff's cross-attention block does (LayerNorm before the attention, then LayerNorm
   * and a GDFN, each with a residual).
   */
  pimBlock: "attention" | "transformer";
  /**
   * The softmax axis of Eq. 9's A: over the N prior channels ("prior", so V̂·A mixes prior
   * channels into each feature channel) or over the C feature channels ("features", Eq. 9's
   * N×C matrix normalised along C).
   */
  pimSoftmax: "prior" | "features";
  /**
   * What the last convs add back (Eq. 10's global residual): the aligned features
   * ("aligned", CA-ViT/SwinIR style) or the reference frame's shallow features F_2
   * ("reference", as AHDRNet adds them).
   */
  globalSkip: "aligned" | "reference";
  /** Output activation (AHDRNet and CA-ViT end in a sigmoid; HDR targets lie in [0, 1]). */
  endActivation: "sigmoid" | "none";
}

/**
 * The paper's model at Table 3's size (baseline/s1/s2-no-dm/s2: 4.97/5.16/5.68/7.33M against
 * 5.09/5.24/5.85/7.48M). §5.1's numbers read literally (C = 60, three blocks of one PIM and
 * N_i = 3 FRMs) give about two thirds of that (PAPER_LITERAL); the sizes fit with seven
 * FRMs per block, which contradicts "N_i ... are set to {3, 3, 3}" and nothing else.
 */
export const PAPER: LFDiffConfig = {
  variant: "s2",
  channels: 60,
  blocks: [7, 7, 7],
  heads: 6,
  ffnExpansion: 2.66,
  pimPool: 4,
  frmPool: 2,
  lpeBlocks: 4,
  unshuffle: 4,
  priorChannels: 3,
  lpeChannels: 60,
  timesteps: 200,
  samplingSteps: 10,
  priorScale: 1,
  betaStart: 1e-4 * 5,
  betaEnd: 0.02 * 5,
  unetChannels: [42, 84, 84],
  unetBlocks: [2, 2, 2],
  leakySlope: 0.1,
  caReduction: 16,
  upsample: "bilinear",
  pimNormalize: true,
  pimBlock: "attention",
  pimSoftmax: "prior",
  globalSkip: "aligned",
  endActivation: "sigmoid",
};

/** §5.1 read literally: N_i = {3, 3, 3} FRMs per block (2.75/2.94/3.46/5.11M parameters). */
export const PAPER_LITERAL: LFDiffConfig = { ...PAPER, blocks: [3, 3, 3] };

/** A small configuration for tests and quick runs (same code paths, fewer weights). */
export const TINY: LFDiffConfig = {
  ...PAPER,
  channels: 12,
  blocks: [1, 1],
  heads: 2,
  lpeChannels: 12,
  lpeBlocks: 1,
  unetChannels: [8, 16, 16],
  unetBlocks: [1, 1, 1],
  timesteps: 20,
  samplingSteps: 4,
  caReduction: 4, // 12 channels / 16 would leave a single (easily dead) squeeze unit
};

/**
 * The shipped model's configuration, chosen by a sweep of validation PSNR-μ per CPU-hour
 * (experiments/sweep, README): the paper's architecture at C = 32 with two reconstruction
 * blocks of one PIM and one FRM, a two-block LPENet and a 16/32/32 denoiser.
 */
export const SMALL: LFDiffConfig = {
  ...PAPER,
  channels: 32,
  blocks: [1, 1],
  heads: 4,
  lpeChannels: 32,
  lpeBlocks: 2,
  unetChannels: [16, 32, 32],
  unetBlocks: [1, 1, 1],
  caReduction: 8,
};

/** The configurations tools name with `--config`. */
export const CONFIGS: Record<string, LFDiffConfig> = {
  paper: PAPER,
  "paper-literal": PAPER_LITERAL,
  small: SMALL,
  tiny: TINY,
};

/** The input size must be a multiple of this (unshuffle, PIM pool, two U-Net halvings). */
export function sizeMultiple(c: LFDiffConfig): number {
  const latent = c.unshuffle * Math.pow(2, c.unetChannels.length - 1);
  const lcm = (a: number, b: number): number => (a * b) / gcd(a, b);
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  return lcm(lcm(latent, c.pimPool), c.frmPool);
}

export function withVariant(c: LFDiffConfig, variant: Variant): LFDiffConfig {
  return { ...c, variant };
}

/** Checks a configuration, naming the bad field. */
export function validateConfig(c: LFDiffConfig): void {
  const bad = (f: string, why: string) => {
    throw new Error(`config: ${f} ${why}`);
  };
  if (!["baseline", "s1", "s2-no-dm", "s2"].includes(c.variant)) {
    bad("variant", `"${c.variant}" is not one of baseline, s1, s2-no-dm, s2`);
  }
  if (c.channels % c.heads !== 0) {
    bad("channels", `${c.channels} not divisible by heads ${c.heads}`);
  }
  if (c.pimPool !== c.unshuffle) {
    bad("pimPool", `must equal unshuffle (${c.unshuffle}) so the pooled features match the prior`);
  }
  if (c.unetChannels.length !== c.unetBlocks.length) {
    bad("unetBlocks", "needs one entry per U-Net level");
  }
  try {
    checkSamplingSteps(c.samplingSteps, c.timesteps);
  } catch (e) {
    bad("samplingSteps", (e as Error).message);
  }
}
