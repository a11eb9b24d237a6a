// The one place the tests take their assertion library from (node:assert/strict, shipped
// with Deno, since JSR's @std/assert cannot be fetched here). Swap it here and only here.

export {
  deepStrictEqual as assertEquals,
  ok as assert,
  strictEqual,
  throws as assertThrows,
} from "node:assert/strict";

export interface CloseReport {
  err: number;
  scale: number;
}

/**
 * Relative error of `actual` against `expected`: max |a−e| / max(max |e|, floor). Scaling
 * by the largest reference value keeps tiny entries from dominating.
 */
export function relError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  floor = 1e-6,
): CloseReport {
  if (actual.length !== expected.length) {
    throw new Error(`length ${actual.length} ≠ expected ${expected.length}`);
  }
  let diff = 0, scale = floor;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(a) !== Number.isNaN(e)) return { err: Infinity, scale };
    diff = Math.max(diff, Math.abs(a - e));
    scale = Math.max(scale, Math.abs(e));
  }
  return { err: diff / scale, scale };
}

export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  label: string,
): void {
  const { err, scale } = relError(actual, expected);
  if (!(err <= tol)) {
    throw new Error(
      `${label}: relative error ${err.toExponential(2)} > ${tol} (scale ${scale.toPrecision(3)})`,
    );
  }
}
