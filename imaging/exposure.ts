// The exposure convention, in one place (Kalantari's): EVs count from the shortest frame
// (0,2,4 or 0,3,6), so H_i = L_i^γ / 2^EV_i and the ground truth are in shortest-exposure
// units, where 1.0 is what saturates the shortest frame: the range of the network's sigmoid.
// Brackets given any other way (−2,0,+2, EXIF times relative to the reference) are shifted
// to it by normaliseEvs; the network's output and the HDR files it writes are in these units.

import type { Image } from "../io/image.ts";

/** The camera response the network inverts: L = H^(1/γ), as in the paper. */
export const GAMMA = 2.2;

/** EVs relative to the shortest frame: −2,0,2 → 0,2,4. */
export function normaliseEvs(evs: number[]): number[] {
  const min = Math.min(...evs);
  return evs.map((e) => e - min);
}

/** Per frame, the factor 2^−EV of H = L^γ · 2^−EV, EVs normalised. */
export function linearScales(evs: number[]): number[] {
  return normaliseEvs(evs).map((e) => Math.pow(2, -e));
}

/** H = L^γ · scale, per value. */
export function linearise(v: number, scale: number): number {
  return Math.pow(v, GAMMA) * scale;
}

/** H = L^γ / 2^EV of one frame, per value (EV in the caller's units). */
export function ldrToLinear(ldr: Image, ev: number): Image {
  const s = Math.pow(2, -ev);
  return { ...ldr, bitDepth: 32, data: ldr.data.map((v) => linearise(v, s)) };
}
