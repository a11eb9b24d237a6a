// Which frames of a 2–9 frame bracket the network sees. LF-Diff takes three: a short
// exposure, the reference and a long exposure. The reference is the middle exposure (the EV
// nearest the middle of the bracket's range, the darker on a tie) unless the user names one;
// the other two are the bracket's extremes on each side of it, so the fused range is the
// whole bracket's. A two-frame bracket, or a reference at one end, repeats the reference in
// the missing slot: the network then sees no extra information on that side (the frame
// agrees with the reference everywhere), which is what the bracket holds.

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
  const shortest = order[0], longest = order[order.length - 1];
  const short = evs[shortest] < evs[r] ? shortest : r;
  const long = evs[longest] > evs[r] ? longest : r;
  return { indices: [short, r, long], ref: r };
}
