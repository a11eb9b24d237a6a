// Upsampling / resizing of images.  x [n, c, h, w] → [n, c, oh, ow]
// Matches F.interpolate: bilinear with align_corners=False, and mode='nearest'.

import type { ResampleMode } from "./backend.ts";
import { record } from "./autograd.ts";
import { fmt, ShapeError } from "./shape.ts";
import { empty, type Tensor } from "./tensor.ts";

/** Resizes to [oh, ow]. */
export function resize(x: Tensor, oh: number, ow: number, mode: ResampleMode = "bilinear"): Tensor {
  if (x.rank !== 4) throw new ShapeError(`resize: input ${fmt(x.shape)} is not 4-D`);
  if (!Number.isInteger(oh) || !Number.isInteger(ow) || oh < 1 || ow < 1) {
    throw new ShapeError(`resize: bad output size ${oh}x${ow}`);
  }
  const [n, c, h, w] = x.shape;
  const y = empty([n, c, oh, ow], x);
  const geo = { mode, planes: n * c, h, w, oh, ow };
  x.backend.resample(geo, x.buffer, y.buffer);
  return record(y, `resize.${mode}`, [x], (g) => {
    const dx = empty(x.shape, x);
    x.backend.resampleBackward(geo, g.buffer, dx.buffer);
    return [dx];
  }, []);
}

/** Upsamples by an integer factor. */
export function upsample(x: Tensor, factor: number, mode: ResampleMode = "bilinear"): Tensor {
  if (x.rank !== 4) throw new ShapeError(`upsample: input ${fmt(x.shape)} is not 4-D`);
  return resize(x, x.shape[2] * factor, x.shape[3] * factor, mode);
}
