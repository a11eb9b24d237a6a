// Which frames of a bracket (2 or more frames, typically 3–9) the network sees. LF-Diff takes
// three: a short exposure, the reference and a long exposure. The reference is the middle
// exposure (the EV nearest the middle of the bracket's range, the darker on a tie) unless
// the user names one. On each side the frame taken is the farthest from the reference within
// MAX_SPACING stops (the spacings the network is trained on), else the nearest: a 7-stop gap
// puts the reference's well-exposed radiance 2^-7 below anything the network has seen.
// A two-frame bracket, or a reference at one end, repeats the reference in the missing slot:
// the network then sees no extra information on that side, which is what the bracket holds.

/** The largest gap in stops between the reference and another frame the network is shown
 * when the bracket offers a choice (EXIF exposure times are nominal: a quarter stop slack). */
export const MAX_SPACING = 3.25;

export interface FrameChoice {
  /** Indices into the bracket of the short, reference and long frames. */
  indices: [number, number, number];
  /** The reference's index into the bracket. */
  ref: number;
}

/** `evs` in any order and origin; `ref` an index into them (default the middle exposure). */
export function chooseFrames(evs: number[], ref?: number): FrameChoice {
  if (evs.length < 2) throw new Error(`a bracket needs at least 2 frames, got ${evs.length}`);
  const order = evs.map((_, i) => i).sort((a, b) => evs[a] - evs[b] || a - b);
  if (ref !== undefined && !(Number.isInteger(ref) && ref >= 0 && ref < evs.length)) {
    throw new Error(`the reference must be a frame from 1 to ${evs.length}, got ${ref + 1}`);
  }
  let r = ref;
  if (r === undefined) {
    const mid = (evs[order[0]] + evs[order[order.length - 1]]) / 2;
    r = order.reduce((best, i) =>
      Math.abs(evs[i] - mid) < Math.abs(evs[best] - mid) - 1e-9 ? i : best
    );
  }
  const pick = (side: number[]) => {
    const within = side.filter((i) => Math.abs(evs[i] - evs[r!]) <= MAX_SPACING);
    if (within.length) return within[0]; // the farthest within reach
    return side.length ? side[side.length - 1] : r!; // the nearest, or the reference itself
  };
  const shorter = order.filter((i) => evs[i] < evs[r!]); // farthest first
  const longer = order.filter((i) => evs[i] > evs[r!]).reverse();
  return { indices: [pick(shorter), r, pick(longer)], ref: r };
}
