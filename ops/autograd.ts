// Reverse-mode autodiff. Ops record a GradNode on their output while grad mode is on and an
// input requires grad; backward() collects the nodes reachable from the root and walks them
// in reverse creation order (a valid reverse topological order, since an op's output is
// always newer than its inputs). Intermediate gradients are freed as soon as they are used.
// Memory, as PyTorch's reference counts manage it: each node names the tensors its backward
// reads (`saved`); when a module returns, what it made and did not return is either freed
// at once (no backward reads it: a residual branch's conv output, an upsampled map that was
// subtracted) or marked internal, and an internal tensor's buffer goes as soon as the last
// backward that reads it has run.

import { keep, passThrough, scope } from "./scope.ts";
import { fmt, sameShape } from "./shape.ts";
import { empty, type GradNode, Tensor } from "./tensor.ts";

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording anything (inference, optimiser updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** A tensor its maker is done with: freed now if no backward reads it, else internal. */
function retire(t: unknown): void {
  if (!(t instanceof Tensor) || t.isParameter || t.disposed) return;
  if (t.saves === 0) t.releaseBuffer();
  else t.internal = true;
}

/**
 * Runs f as a module's forward. In inference (nothing recorded) inside a scope, so f's
 * intermediates are freed as soon as it returns; under autograd what f made and did not
 * return stays in the graph, with the values no backward reads freed at once (retire).
 * Module.forward runs under it, which is all the freeing model code needs.
 */
export function moduleScope<T>(f: () => T): T {
  return gradEnabled ? passThrough(f, retire) : scope(f);
}

/**
 * Applies fs in order: a sequential trunk, or a dataflow path through a module. Each step
 * runs in its own module scope and each intermediate is let go as soon as the next step has
 * consumed it: in inference it is freed, so a trunk of n blocks holds two activations, not
 * n; under autograd it is retired.
 */
export function chain(x: Tensor, fs: readonly ((y: Tensor) => Tensor)[]): Tensor {
  let y = x;
  for (const f of fs) {
    const next = moduleScope(() => f(y));
    if (y !== x && next !== y) gradEnabled ? retire(y) : y.dispose();
    y = next;
  }
  return y;
}

/**
 * Attaches a backward to `out` if any input requires grad and recording is on. `saved`
 * lists what the backward reads (by default every input and the output); the rest may be
 * freed before the backward runs.
 */
export function record(
  out: Tensor,
  op: string,
  inputs: Tensor[],
  backward: GradNode["backward"],
  saved: Tensor[] = [...inputs, out],
): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, saved, backward };
    for (const t of saved) t.saves++;
  }
  return out;
}

function addInto(a: Tensor, b: Tensor): Tensor {
  const out = empty(a.shape, a);
  const s = a.shape.map((_, i, sh) => sh.slice(i + 1).reduce((x, y) => x * y, 1));
  a.backend.binary("add", a.shape, a.buffer, s, b.buffer, s, out.buffer);
  return out;
}

/** A copy of t in the dtype of `like` (its own when omitted). */
function convert(t: Tensor, like: Tensor = t): Tensor {
  const out = empty(t.shape, t, like.dtype);
  t.backend.copy([t.size], t.buffer, 0, [1], out.buffer, 0, [1]);
  return out;
}

/** Stands in for a node whose saved tensors were let go after a backward pass. */
function freedNode(op: string): GradNode {
  return {
    op,
    inputs: [],
    saved: [],
    backward() {
      throw new Error(`backward: the graph through ${op} was already used; pass retainGraph`);
    },
  };
}

export function runBackward(root: Tensor, seed: Tensor | undefined, retainGraph: boolean): void {
  if (!root.requiresGrad) throw new Error("backward: tensor does not require grad");
  if (!seed && root.size !== 1) {
    throw new Error(`backward: gradient must be given for non-scalar ${fmt(root.shape)}`);
  }
  if (seed && !sameShape(seed.shape, root.shape)) {
    throw new Error(`backward: gradient ${fmt(seed.shape)} for tensor ${fmt(root.shape)}`);
  }
  // Reachable tensors, newest first.
  const seen = new Set<Tensor>([root]);
  const todo = [root];
  while (todo.length) {
    const t = todo.pop()!;
    for (const i of t.node?.inputs ?? []) {
      if (i.requiresGrad && !seen.has(i)) {
        seen.add(i);
        todo.push(i);
      }
    }
  }
  const order = [...seen].sort((a, b) => b.id - a.id);

  noGrad(() => {
    const start = seed
      ? (seed.dtype === root.dtype ? seed : convert(seed, root))
      : empty(root.shape, root);
    if (!seed) root.backend.fill(start.buffer, 1);
    const grads = new Map<Tensor, Tensor>([[root, start]]);
    // How many pending entries hold each gradient tensor (backward fns may pass g through).
    const holders = new Map<Tensor, number>([[start, 1]]);
    const hold = (g: Tensor) => holders.set(g, (holders.get(g) ?? 0) + 1);
    const release = (g: Tensor) => {
      const n = holders.get(g)! - 1;
      if (n > 0) return holders.set(g, n);
      holders.delete(g);
      if (g !== seed) g.dispose();
    };

    for (const t of order) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.node;
      if (!node) {
        // Leaf: accumulate into .grad, owning a private copy.
        const own = holders.get(g) === 1 && g !== seed ? (holders.delete(g), g) : convert(g);
        if (own !== g) release(g);
        if (t.grad) {
          const sum = addInto(t.grad, own);
          t.grad.dispose();
          own.dispose();
          t.grad = keep(sum);
        } else t.grad = keep(own);
        continue;
      }
      const needs = node.inputs.map((i) => i.requiresGrad);
      const inGrads = node.backward(g, needs);
      // A gradient takes its tensor's dtype (ops/precision.ts); the originals converted
      // from are dropped below unless something still holds them.
      const converted = new Set<Tensor>();
      node.inputs.forEach((input, k) => {
        let gi = inGrads[k];
        if (!gi || !needs[k]) return;
        if (!sameShape(gi.shape, input.shape)) {
          throw new Error(
            `backward of ${node.op}: gradient ${fmt(gi.shape)} for input ${fmt(input.shape)}`,
          );
        }
        if (gi.dtype !== input.dtype) {
          converted.add(gi);
          gi = convert(gi, input);
        }
        hold(gi);
        const prev = grads.get(input);
        if (prev) {
          const sum = addInto(prev, gi);
          release(prev);
          release(gi);
          hold(sum);
          grads.set(input, sum);
        } else grads.set(input, gi);
      });
      // Gradients computed for inputs that need none are dropped here.
      inGrads.forEach((gi, k) => {
        if (gi && (!needs[k] || converted.has(gi)) && !holders.has(gi) && gi !== g) {
          gi.dispose();
        }
      });
      release(g);
      if (retainGraph) continue;
      t.node = freedNode(node.op);
      for (const s of node.saved) if (--s.saves === 0 && s.internal) s.releaseBuffer();
    }
  });
}
