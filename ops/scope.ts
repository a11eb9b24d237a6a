// Deterministic freeing. Device memory is not garbage-collected, so every tensor made inside
// `scope(fn)` is disposed when fn returns, except the tensors fn returns (which move to the
// enclosing scope) and those passed to `keep` (parameters, gradients, optimiser state).

export interface Disposable {
  dispose(): void;
}

const stack: Set<Disposable>[] = [];

/** Called by every new tensor. */
export function track(t: Disposable): void {
  if (stack.length > 0) stack[stack.length - 1].add(t);
}

/** Exempts t from every open scope: its owner frees it. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

function collect(value: unknown, into: Set<unknown>, depth = 0): void {
  if (value === null || typeof value !== "object" || depth > 4) return;
  if (into.has(value)) return;
  if ("dispose" in value && typeof value.dispose === "function") {
    into.add(value);
    return;
  }
  // A returned typed array (an image's pixels) would otherwise be walked element by element.
  if (ArrayBuffer.isView(value)) return;
  const items = Array.isArray(value) ? value : Object.values(value);
  for (const v of items) collect(v, into, depth + 1);
}

/**
 * Runs fn as if in the enclosing scope (what it makes is that scope's), after calling
 * `unreturned` on each tensor fn made and does not return (looked for as scope() does).
 */
export function passThrough<T>(fn: () => T, unreturned: (t: Disposable) => void): T {
  const mine = new Set<Disposable>();
  stack.push(mine);
  let result: T;
  try {
    result = fn();
  } finally {
    stack.pop();
    for (const t of mine) track(t);
  }
  const kept = new Set<unknown>();
  collect(result, kept);
  for (const t of mine) if (!kept.has(t)) unreturned(t);
  return result;
}

/**
 * Runs fn and frees the tensors it made but does not return (looked for in the returned
 * value, arrays and plain objects up to 4 levels deep). fn must be synchronous.
 */
export function scope<T>(fn: () => T): T {
  const mine = new Set<Disposable>();
  stack.push(mine);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error("scope: fn must be synchronous");
  } catch (e) {
    stack.pop();
    for (const t of mine) t.dispose();
    throw e;
  }
  stack.pop();
  const kept = new Set<unknown>();
  collect(result, kept);
  for (const t of mine) {
    if (kept.has(t)) track(t);
    else t.dispose();
  }
  return result;
}
