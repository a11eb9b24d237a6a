// Module: a tree of layers whose parameters have PyTorch-style dotted names. Fields holding
// a parameter tensor, a Module, or an array of Modules (a ModuleList: `blocks.0.…`) are found
// by walking the object, so a subclass just assigns them in its constructor.
// Lifetimes: in inference every `forward` call runs in its own scope, so what a module makes
// and does not return is freed when it returns (PyTorch frees by reference count; we free
// at module granularity). Under autograd the graph keeps what a backward reads, until that
// backward has run, and frees the rest when the module returns (ops/autograd.ts). Model code
// therefore never frees anything itself.

import { moduleScope } from "../../ops/autograd.ts";
import { keep } from "../../ops/scope.ts";
import { fmt, sameShape } from "../../ops/shape.ts";
import { Tensor } from "../../ops/tensor.ts";

/** Marks t as a trainable parameter owned by a module (never freed by a scope). */
export function parameter(t: Tensor): Tensor {
  t.isParameter = true;
  t.requiresGrad = true;
  return keep(t);
}

type Forward = (...args: never[]) => unknown;

export abstract class Module {
  constructor() {
    // `forward` is the subclass's prototype method; shadow it on the instance with the
    // scoped call (non-enumerable, so parameter discovery never sees it).
    const forward = (this as { forward?: Forward }).forward;
    if (typeof forward === "function") {
      Object.defineProperty(this, "forward", {
        value: (...args: never[]) => moduleScope(() => forward.apply(this, args)),
      });
    }
  }

  /** [name, tensor] for every parameter, in field order. */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [key, value] of Object.entries(this)) {
      const name = prefix + key;
      if (value instanceof Tensor && value.isParameter) out.push([name, value]);
      else if (value instanceof Module) out.push(...value.namedParameters(`${name}.`));
      else if (Array.isArray(value)) {
        value.forEach((v, i) => {
          if (v instanceof Module) out.push(...v.namedParameters(`${name}.${i}.`));
        });
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  numParameters(): number {
    return this.parameters().reduce((n, t) => n + t.size, 0);
  }

  /** Freezes (false) or unfreezes every parameter. */
  setTrainable(on: boolean): void {
    for (const p of this.parameters()) p.requiresGrad = on;
  }

  /** Name → tensor map, the layout safetensors checkpoints use. */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Copies values into the parameters. Every name must exist with the same shape; with
   * `strict` (default) every parameter must also be present.
   */
  loadStateDict(
    values: Map<string, { shape: readonly number[]; data: Float32Array }>,
    strict = true,
  ): void {
    const own = this.stateDict();
    for (const [name, v] of values) {
      const p = own.get(name);
      if (!p) throw new Error(`checkpoint has "${name}", which this model does not`);
      if (!sameShape(p.shape, v.shape)) {
        throw new Error(
          `checkpoint "${name}" has shape ${fmt(v.shape)}, the model ${fmt(p.shape)}`,
        );
      }
    }
    if (strict) {
      const missing = [...own.keys()].filter((k) => !values.has(k));
      if (missing.length) {
        throw new Error(
          `checkpoint lacks ${missing.length} parameter(s): ${missing.slice(0, 5).join(", ")}${
            missing.length > 5 ? ", …" : ""
          }`,
        );
      }
    }
    for (const [name, v] of values) {
      const p = own.get(name)!;
      p.backend.upload(p.buffer, v.data);
    }
  }
}
