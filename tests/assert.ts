// The one place the tests take their assertion library from (node:assert/strict, shipped
// with Deno, since JSR's @std/assert cannot be fetched here). Swap it here and only here.

import { deepStrictEqual } from "node:assert/strict";

export { ok as assert, strictEqual, throws as assertThrows } from "node:assert/strict";

/**
 * Deep equality. Long arrays are compared here, element by element, because the library's
 * failure message diffs them in quadratic time and memory (gigabytes for 10^5 elements).
 */
export function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  const long = (v: unknown): v is ArrayLike<unknown> =>
    (ArrayBuffer.isView(v) || Array.isArray(v)) && (v as ArrayLike<unknown>).length > 256;
  if (long(actual) && long(expected)) {
    if (actual.constructor !== expected.constructor || actual.length !== expected.length) {
      throw new Error(
        `${
          message ?? "assertEquals"
        }: ${actual.constructor.name}(${actual.length}) vs ${expected.constructor.name}(${expected.length})`,
      );
    }
    for (let i = 0; i < actual.length; i++) {
      if (!Object.is(actual[i], expected[i])) {
        throw new Error(
          `${message ?? "assertEquals"}: element ${i} is ${actual[i]}, expected ${expected[i]}`,
        );
      }
    }
    return;
  }
  deepStrictEqual(actual, expected, message);
}

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

/**
 * The error `p` must reject with: a `type` whose message matches `re` and is one line (what
 * users see for bad input). Returns it for further checks.
 */
export async function assertRejectsOneLine(
  p: Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => Error,
  re: RegExp,
): Promise<Error> {
  const err = await p.then(() => undefined, (e) => e);
  if (!(err instanceof type)) throw new Error(`expected a ${type.name} matching ${re}, got ${err}`);
  if (!re.test(err.message) || /[\n\r]/.test(err.message)) {
    throw new Error(`message ${JSON.stringify(err.message)} is not one line matching ${re}`);
  }
  return err;
}
