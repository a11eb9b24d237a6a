// The page's HDR arithmetic, in the browser so that moving a slider needs no server: decoding
// the server's Radiance file (io/radiance.ts writes it: "-Y H +X W", run-length encoded
// scanlines), and the tone maps. "reinhard" is imaging/tonemap.ts's preview operator (the
// PNG infer writes beside its HDR) step for step, so at exposure 0 the two agree.

/** Pixels m·2^(e−136), as io/radiance.ts and Greg Ward's rgbe.c decode them. */
export function decodeRgbe(bytes) {
  let pos = 0;
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new Error("the HDR file is truncated");
    const s = new TextDecoder("latin1").decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  if (!line().startsWith("#?")) throw new Error("the HDR file is not a Radiance file");
  while (line() !== "");
  const size = /^-Y (\d+) \+X (\d+)$/.exec(line());
  if (!size) throw new Error("the HDR file has an unexpected orientation");
  const height = Number(size[1]), width = Number(size[2]);
  const data = new Float32Array(width * height * 3);
  const scan = new Uint8Array(width * 4);
  for (let y = 0; y < height; y++) {
    const rle = width >= 8 && width < 0x8000 && bytes[pos] === 2 && bytes[pos + 1] === 2 &&
      ((bytes[pos + 2] << 8) | bytes[pos + 3]) === width;
    if (rle) {
      pos += 4;
      for (let c = 0; c < 4; c++) {
        for (let x = 0; x < width;) {
          let n = bytes[pos++];
          if (n > 128) {
            n -= 128;
            const v = bytes[pos++];
            for (let k = 0; k < n; k++) scan[4 * x++ + c] = v;
          } else {
            for (let k = 0; k < n; k++) scan[4 * x++ + c] = bytes[pos++];
          }
          if (pos > bytes.length || n === 0) throw new Error("the HDR file is damaged");
        }
      }
    } else {
      scan.set(bytes.subarray(pos, pos + 4 * width));
      pos += 4 * width;
    }
    for (let x = 0; x < width; x++) {
      const e = scan[4 * x + 3], f = e === 0 ? 0 : Math.pow(2, e - 136), o = (y * width + x) * 3;
      data[o] = scan[4 * x] * f;
      data[o + 1] = scan[4 * x + 1] * f;
      data[o + 2] = scan[4 * x + 2] * f;
    }
  }
  return { width, height, data };
}

const luminance = (r, g, b) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

/** What the preview operator needs of the whole image: its log-average and 99.5th-percentile luminance. */
export function hdrStats(img) {
  const n = img.width * img.height, lum = new Float32Array(n), d = img.data;
  let logSum = 0;
  for (let i = 0; i < n; i++) {
    lum[i] = Math.max(luminance(d[3 * i], d[3 * i + 1], d[3 * i + 2]), 0);
    logSum += Math.log(1e-6 + lum[i]);
  }
  lum.sort();
  return { logAvg: Math.exp(logSum / n), p995: lum[Math.min(n - 1, Math.floor(0.995 * n))] };
}

/** IEC 61966-2-1 encoding of a linear value in [0, 1]. */
function srgbEncode(v) {
  if (v <= 0) return 0;
  if (v >= 1) return 1;
  return v <= 0.0031308 ? 12.92 * v : 1.055 * Math.pow(v, 1 / 2.4) - 0.055;
}

export const TONE_MAPS = {
  reinhard: "Reinhard (global, as infer's preview)",
  clip: "linear, clipped, sRGB",
  "mu-law": "μ-law (μ = 5000, the field's)",
};

/**
 * RGBA bytes of `img` tone mapped: `exposure` stops on top of the automatic exposure (key
 * 0.18 over the log-average; μ-law works on the HDR's own units, 1 = the shortest frame's
 * saturation). `stats` come from the full image so that a smaller view matches it.
 */
export function toneMap(img, stats, operator, exposure, out) {
  const n = img.width * img.height, d = img.data, k = Math.pow(2, exposure);
  const scale = (0.18 / stats.logAvg) * k;
  const white = Math.max(stats.p995 * scale, 1e-6), mu = 5000, logMu = Math.log(1 + mu);
  const code = (v) => Math.round(Math.min(Math.max(v, 0), 1) * 255);
  for (let i = 0; i < n; i++) {
    const r = Math.max(d[3 * i], 0), g = Math.max(d[3 * i + 1], 0), b = Math.max(d[3 * i + 2], 0);
    if (operator === "mu-law") {
      out[4 * i] = code(Math.log(1 + mu * Math.min(r * k, 1)) / logMu);
      out[4 * i + 1] = code(Math.log(1 + mu * Math.min(g * k, 1)) / logMu);
      out[4 * i + 2] = code(Math.log(1 + mu * Math.min(b * k, 1)) / logMu);
    } else {
      let f = 1;
      if (operator === "reinhard") {
        // The operations and their order are previewImage's, float32 luminance included.
        const l = Math.fround(Math.max(luminance(d[3 * i], d[3 * i + 1], d[3 * i + 2]), 0)) *
          scale;
        const ld = (l * (1 + l / (white * white))) / (1 + l);
        f = l > 0 ? ld / l : 0;
      }
      const rgb = [r * scale * f, g * scale * f, b * scale * f];
      intoGamut(rgb);
      out[4 * i] = code(srgbEncode(rgb[0]));
      out[4 * i + 1] = code(srgbEncode(rgb[1]));
      out[4 * i + 2] = code(srgbEncode(rgb[2]));
    }
    out[4 * i + 3] = 255;
  }
  return out;
}

/** imaging/tonemap.ts's intoGamut: a channel above 1 taken towards white at its luminance and hue. */
function intoGamut(rgb) {
  const m = Math.max(rgb[0], rgb[1], rgb[2]);
  if (m <= 1) return;
  const y = luminance(rgb[0], rgb[1], rgb[2]), t = y >= 1 ? 0 : (1 - y) / (m - y);
  for (let c = 0; c < 3; c++) rgb[c] = y >= 1 ? 1 : y + (rgb[c] - y) * t;
}

/** Box-filtered to at most `side` pixels on the long edge (the on-screen view). */
export function downsample(img, side) {
  const k = Math.max(1, Math.ceil(Math.max(img.width, img.height) / side));
  if (k === 1) return img;
  const w = Math.floor(img.width / k), h = Math.floor(img.height / k);
  const data = new Float32Array(w * h * 3), s = img.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let dy = 0; dy < k; dy++) {
          for (let dx = 0; dx < k; dx++) sum += s[((y * k + dy) * img.width + x * k + dx) * 3 + c];
        }
        data[(y * w + x) * 3 + c] = sum / (k * k);
      }
    }
  }
  return { width: w, height: h, data };
}
