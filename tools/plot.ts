// A small line plot as a PNG, for training curves: one panel per series group, each with a
// title, a legend, its axis range written at the ends of each axis (log scale where asked)
// and the x axis named under the last panel. Text uses a built-in 5×7 capital font, so no
// font files are needed.

import { writeImage } from "../io/codecs.ts";
import { type Image, newImage } from "../io/image.ts";

type Rgb = [number, number, number];

export interface Series {
  label: string;
  points: [number, number][];
  color: Rgb;
}

export interface Panel {
  title: string;
  series: Series[];
  log?: boolean;
}

/** 5×7 glyphs: seven rows of five bits, each row one base-32 digit. */
const GLYPHS: Record<string, string> = Object.fromEntries(
  ("A:ehhvhhh B:uhhuhhu C:ehggghe D:uhhhhhu E:vgguggv F:vgguggg G:ehgnhhf H:hhhvhhh I:e44444e " +
    "J:72222ic K:hikokih L:ggggggv M:hrllhhh N:hhpljhh O:ehhhhhe P:uhhuggg Q:ehhhlid R:uhhukih " +
    "S:fgge11u T:v444444 U:hhhhhhe V:hhhhha4 W:hhhllla X:hha4ahh Y:hha4444 Z:v1248gv 0:ehjlphe " +
    "1:4c4444e 2:eh1248v 3:u11e11u 4:26aiv22 5:vgu11he 6:68guhhe 7:v124888 8:ehhehhe 9:ehhf12c " +
    ".:00000cc -:000v000 +:044v440 (:2488842 ):8422248 /:11248gg ::0cc0cc0 %:pq248bj")
    .split(" ").map((g) => [g[0], g.slice(g.lastIndexOf(":") + 1)]),
);
const CHAR_W = 6, CHAR_H = 9;

function text(img: Image, s: string, x: number, y: number, color: Rgb): void {
  for (const [i, ch] of [...s.toUpperCase()].entries()) {
    const g = GLYPHS[ch];
    if (!g) continue; // space, or a character the font lacks
    for (let r = 0; r < 7; r++) {
      const bits = parseInt(g[r], 32);
      for (let c = 0; c < 5; c++) {
        if (bits & (16 >> c)) dot(img, x + i * CHAR_W + c, y + r, color);
      }
    }
  }
}

function dot(img: Image, x: number, y: number, c: Rgb): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  img.data.set(c, (y * img.width + x) * 3);
}

function line(img: Image, ax: number, ay: number, bx: number, by: number, c: Rgb): void {
  const n = Math.max(Math.abs(bx - ax), Math.abs(by - ay), 1);
  for (let t = 0; t <= n; t++) {
    dot(img, Math.round(ax + ((bx - ax) * t) / n), Math.round(ay + ((by - ay) * t) / n), c);
  }
}

const num = (v: number) =>
  Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-2)
    ? v.toExponential(1)
    : String(+v.toPrecision(4));

export async function plotPng(
  path: string,
  panels: Panel[],
  xLabel: string,
  width = 720,
  panelHeight = 240,
): Promise<void> {
  const img = newImage(width, panelHeight * panels.length, 3, 8);
  img.data.fill(1);
  const ink: Rgb = [0.2, 0.2, 0.2], axis: Rgb = [0.4, 0.4, 0.4];
  const left = 64, right = 16, top = 22, bottom = 30;
  panels.forEach((panel, k) => {
    const y0 = k * panelHeight, yb = y0 + panelHeight - bottom;
    text(img, panel.title + (panel.log ? " (log)" : ""), left, y0 + 6, ink);
    line(img, left, yb, width - right, yb, axis);
    line(img, left, y0 + top, left, yb, axis);
    if (k === panels.length - 1) {
      text(img, xLabel, (width - xLabel.length * CHAR_W) >> 1, yb + 16, ink);
    }
    let lx = width - right;
    for (const s of [...panel.series].reverse()) {
      lx -= (s.label.length + 4) * CHAR_W;
      line(img, lx, y0 + 9, lx + 12, y0 + 9, s.color);
      text(img, s.label, lx + 3 * CHAR_W, y0 + 6, s.color);
    }
    const ok = ([, y]: [number, number]) => Number.isFinite(y) && (!panel.log || y > 0);
    const all = panel.series.flatMap((s) => s.points).filter(ok);
    if (all.length < 2) return;
    const f = (y: number) => (panel.log ? Math.log10(y) : y);
    const xs = all.map(([x]) => x), ys = all.map(([, y]) => f(y));
    const [xa, xb] = [Math.min(...xs), Math.max(...xs)],
      [ya, yz] = [Math.min(...ys), Math.max(...ys)];
    const px = (x: number) =>
      Math.round(left + ((x - xa) / Math.max(xb - xa, 1e-12)) * (width - left - right - 1));
    const py = (y: number) =>
      Math.round(yb - ((f(y) - ya) / Math.max(yz - ya, 1e-12)) * (yb - y0 - top - 1));
    const yText = (v: number) => num(panel.log ? Math.pow(10, v) : v);
    text(img, yText(yz), 2, y0 + top, ink);
    text(img, yText(ya), 2, yb - CHAR_H + 2, ink);
    text(img, num(xa), left, yb + 4, ink);
    const xEnd = num(xb);
    text(img, xEnd, width - right - xEnd.length * CHAR_W, yb + 4, ink);
    for (const s of panel.series) {
      const pts = s.points.filter(ok);
      for (let i = 1; i < pts.length; i++) {
        line(img, px(pts[i - 1][0]), py(pts[i - 1][1]), px(pts[i][0]), py(pts[i][1]), s.color);
      }
      if (pts.length === 1) dot(img, px(pts[0][0]), py(pts[0][1]), s.color);
    }
  });
  await writeImage(path, img);
}
