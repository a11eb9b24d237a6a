// A small line plot as a PNG, for training curves: one panel per series group, each series
// scaled to its panel (log scale where asked), axes drawn, no text (the numbers are in the
// CSV logs next to it).

import { writeImage } from "../io/codecs.ts";
import { newImage } from "../io/image.ts";

export interface Series {
  points: [number, number][];
  color: [number, number, number];
}

export interface Panel {
  series: Series[];
  log?: boolean;
}

export async function plotPng(
  path: string,
  panels: Panel[],
  width = 720,
  panelHeight = 220,
): Promise<void> {
  const img = newImage(width, panelHeight * panels.length, 3, 8);
  img.data.fill(1);
  const set = (x: number, y: number, c: [number, number, number]) => {
    if (x < 0 || y < 0 || x >= width || y >= img.height) return;
    img.data.set(c, (y * width + x) * 3);
  };
  const m = 24; // margin
  panels.forEach((panel, k) => {
    const top = k * panelHeight;
    const all = panel.series.flatMap((s) => s.points).filter(([, y]) =>
      Number.isFinite(y) && (!panel.log || y > 0)
    );
    const axis: [number, number, number] = [0.4, 0.4, 0.4];
    for (let x = m; x < width - m; x++) set(x, top + panelHeight - m, axis);
    for (let y = top + m; y < top + panelHeight - m; y++) set(m, y, axis);
    if (all.length < 2) return;
    const f = (y: number) => (panel.log ? Math.log10(y) : y);
    const xs = all.map(([x]) => x), ys = all.map(([, y]) => f(y));
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)],
      [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const px = (x: number) =>
      Math.round(m + ((x - x0) / Math.max(x1 - x0, 1e-12)) * (width - 2 * m - 1));
    const py = (y: number) =>
      Math.round(
        top + panelHeight - m -
          ((f(y) - y0) / Math.max(y1 - y0, 1e-12)) * (panelHeight - 2 * m - 1),
      );
    for (const s of panel.series) {
      const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!panel.log || y > 0));
      for (let i = 1; i < pts.length; i++) {
        const [ax, ay] = [px(pts[i - 1][0]), py(pts[i - 1][1])],
          [bx, by] = [px(pts[i][0]), py(pts[i][1])];
        const n = Math.max(Math.abs(bx - ax), Math.abs(by - ay), 1);
        for (let t = 0; t <= n; t++) {
          set(Math.round(ax + ((bx - ax) * t) / n), Math.round(ay + ((by - ay) * t) / n), s.color);
        }
      }
      if (pts.length === 1) set(px(pts[0][0]), py(pts[0][1]), s.color);
    }
  });
  await writeImage(path, img);
}
