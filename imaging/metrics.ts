// The HDR-deghosting field's metrics, computed as its reference code does.
// PSNR: whole image, data range 1:  10·log10(1 / MSE).
// SSIM: per channel, 11×11 Gaussian window (σ 1.5), on values clipped to [0, 1] and scaled
// to 255, constants K1 = 0.01, K2 = 0.03 for L = 255, averaged over the "valid" region (no
// padding: 5 pixels trimmed on each side), then over channels. This equals scikit-image's
// structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
// data_range=255) and the OpenCV-based calculate_ssim in BasicSR-derived HDR code.
// -L metrics take linear values; -μ metrics take μ-law tone-mapped values T(x).

import { type Image, ImageError } from "../io/image.ts";
import { muLaw } from "./tonemap.ts";

export interface HdrMetrics {
  psnrL: number;
  psnrMu: number;
  ssimL: number;
  ssimMu: number;
}

function sameGeometry(a: Image, b: Image): void {
  if (a.width !== b.width || a.height !== b.height || a.channels !== b.channels) {
    throw new ImageError(
      "metrics",
      `images differ: ${a.width}x${a.height}x${a.channels} vs ${b.width}x${b.height}x${b.channels}`,
    );
  }
}

export function psnr(a: Float32Array, b: Float32Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    se += d * d;
  }
  const mse = se / a.length;
  return mse === 0 ? Infinity : -10 * Math.log10(mse);
}

const GAUSS = (() => {
  const k = new Float64Array(11);
  let s = 0;
  for (let i = 0; i < 11; i++) s += k[i] = Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5));
  return k.map((v) => v / s);
})();

/** Separable 11×11 Gaussian of x [h, w], valid region only: [h−10, w−10]. */
function blurValid(x: Float64Array, h: number, w: number): Float64Array {
  const ow = w - 10, oh = h - 10;
  const tmp = new Float64Array(h * ow);
  for (let y = 0; y < h; y++) {
    for (let i = 0; i < ow; i++) {
      let s = 0;
      for (let k = 0; k < 11; k++) s += GAUSS[k] * x[y * w + i + k];
      tmp[y * ow + i] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let j = 0; j < oh; j++) {
    for (let i = 0; i < ow; i++) {
      let s = 0;
      for (let k = 0; k < 11; k++) s += GAUSS[k] * tmp[(j + k) * ow + i];
      out[j * ow + i] = s;
    }
  }
  return out;
}

/** SSIM of two images with values in [0, 1] (clipped), per the header's definition. */
export function ssim(a: Image, b: Image): number {
  sameGeometry(a, b);
  const { width: w, height: h, channels: c } = a;
  if (w < 11 || h < 11) {
    throw new ImageError("metrics", `SSIM needs at least 11x11 pixels, got ${w}x${h}`);
  }
  const C1 = (0.01 * 255) ** 2, C2 = (0.03 * 255) ** 2;
  const n = w * h;
  let total = 0;
  for (let ch = 0; ch < c; ch++) {
    const x = new Float64Array(n), y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      x[i] = Math.min(Math.max(a.data[i * c + ch], 0), 1) * 255;
      y[i] = Math.min(Math.max(b.data[i * c + ch], 0), 1) * 255;
    }
    const xx = x.map((v) => v * v), yy = y.map((v) => v * v), xy = x.map((v, i) => v * y[i]);
    const [mx, my, sxx, syy, sxy] = [x, y, xx, yy, xy].map((t) => blurValid(t, h, w));
    let s = 0;
    for (let i = 0; i < mx.length; i++) {
      const vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cxy = sxy[i] - mx[i] * my[i];
      s += ((2 * mx[i] * my[i] + C1) * (2 * cxy + C2)) /
        ((mx[i] * mx[i] + my[i] * my[i] + C1) * (vx + vy + C2));
    }
    total += s / mx.length;
  }
  return total / c;
}

/** All four metrics of a prediction against the ground truth (both linear HDR). */
export function hdrMetrics(pred: Image, gt: Image): HdrMetrics {
  sameGeometry(pred, gt);
  const tm = (img: Image): Image => ({ ...img, data: img.data.map((v) => muLaw(v)) });
  const pm = tm(pred), gm = tm(gt);
  return {
    psnrL: psnr(pred.data, gt.data),
    psnrMu: psnr(pm.data, gm.data),
    ssimL: ssim(pred, gt),
    ssimMu: ssim(pm, gm),
  };
}
