// The options the page offers: infer's own flag schemas (tools/bracket_flags.ts, and the
// per-run part of tools/model_flags.ts) turned into form controls, and a job's form values
// checked against them, so a flag added there appears on the page with no page edit. Nothing
// a client sends names a server file: a FILE value is an upload the server stores under a
// name it makes, and the model is one of those the server was started with.

import { BRACKET_FLAGS } from "../bracket_flags.ts";
import type { Flag } from "../cli.ts";
import { MODEL_FLAGS, SHIPPED } from "../model_flags.ts";

/** The model flags a job may set; the others (weights, device, limits) are the server's. */
const JOB_MODEL_FLAGS = ["steps", "seed", "tile", "precision"] as const;

/** A form control for one flag, as GET /api/options sends it to the page. */
export interface Control {
  /** The flag's name, which is also the form field's. */
  name: string;
  group: "bracket" | "model";
  help: string;
  /** The flag's default ("" where the tool's own applies, e.g. the model's DDIM steps). */
  default: string;
  /** Values offered in a list (auto, off...), with labels where they are not self-explaining. */
  choices: string[];
  labels?: string[];
  /** A value typed in (a number) or uploaded (a file), beside or instead of the choices. */
  input?: "number" | "file";
  boolean?: true;
}

/** A model the server was started with: its page label and the model flags that select it. */
export interface ServerModel {
  id: string;
  label: string;
  values: { weights?: string; untrained?: boolean; config?: string; variant?: string };
}

/**
 * The models a server offers, from its own model flags: --weights FILE and the shipped model
 * (the first is the page's default), or with --untrained only random weights of --config.
 */
export async function serverModels(
  v: { weights?: string; untrained?: boolean; config: string; variant?: string },
): Promise<ServerModel[]> {
  const base = { config: v.config, ...(v.variant ? { variant: v.variant } : {}) };
  if (v.untrained) {
    if (v.weights) throw new Error("--weights and --untrained exclude each other");
    return [{
      id: `untrained-${v.config}`,
      label: `random weights, ${v.config} configuration (UNTRAINED: not a reconstruction)`,
      values: { ...base, untrained: true },
    }];
  }
  const models: ServerModel[] = [];
  if (v.weights) {
    models.push({
      id: "weights",
      label: v.weights.split("/").pop()!,
      values: { ...base, weights: v.weights },
    });
  }
  if (await Deno.stat(SHIPPED).then(() => true, () => false)) {
    models.push({ id: "shipped", label: "lfdiff-small (the shipped model)", values: base });
  }
  if (!models.length) {
    throw new Error(`the shipped model ${SHIPPED} is missing; pass --weights FILE or --untrained`);
  }
  return models;
}

const LITERAL = /^[a-z][a-z0-9-]*$/, NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * The control for a flag, from its `arg` ("N|auto", "auto|gamma|FILE"): lower-case words are
 * choices, a one-letter placeholder a number, FILE an upload. A flag whose value is anything
 * else (free text, a folder) is not offered: the page could only pass it on unchecked.
 */
export function flagControl(name: string, f: Flag, group: Control["group"]): Control | null {
  const base = { name, group, help: f.help, default: String(f.default ?? "") };
  if (f.type === "boolean") {
    return { ...base, default: String(f.default ?? false), choices: [], boolean: true };
  }
  const tokens = (f.arg ?? "").split("|");
  const choices = tokens.filter((t) => LITERAL.test(t));
  const inputs = tokens.filter((t) => !LITERAL.test(t)).map((t) =>
    /^[A-Z]$/.test(t) ? "number" : t === "FILE" ? "file" : null
  );
  if (inputs.includes(null) || inputs.length > 1) return null;
  if (!choices.length && !inputs.length) return null;
  return { ...base, choices, ...(inputs[0] ? { input: inputs[0] } : {}) };
}

/** Every control the page shows: the bracket flags, then the model and its per-run flags. */
export function pageControls(models: ServerModel[]): Control[] {
  const bracket = Object.entries(BRACKET_FLAGS).map(([n, f]) => flagControl(n, f, "bracket"));
  const model: Control = {
    name: "model",
    group: "model",
    help: "the network, one of those this server was started with",
    default: models[0].id,
    choices: models.map((m) => m.id),
    labels: models.map((m) => m.label),
  };
  const perRun = JOB_MODEL_FLAGS.map((n) => flagControl(n, MODEL_FLAGS[n], "model"));
  return [...bracket, model, ...perRun].filter((c): c is Control => c !== null);
}

/** What a job's form asked for, checked against the controls; FILE values are stored first. */
export interface JobValues {
  /** Flag values as the flag parser gives them (strings, booleans for boolean flags). */
  values: Record<string, string | boolean>;
  model: ServerModel;
}

/**
 * The job's values: each control's field, or its default. A value must be one of the
 * choices, a number where the flag takes one, or, for a file, an upload (which `store` saves
 * and names). Fields that are neither controls nor `other` (the frames, their EVs) are
 * refused, so that a misspelt option does not pass unseen.
 */
export async function jobValues(
  form: FormData,
  controls: Control[],
  models: ServerModel[],
  store: (name: string, file: File) => Promise<string>,
  other: string[],
): Promise<JobValues> {
  const names = new Set([...controls.map((c) => c.name), ...other]);
  for (const k of form.keys()) {
    if (!names.has(k)) throw new Error(`unknown option ${JSON.stringify(k.slice(0, 40))}`);
  }
  const id = form.get("model") ?? models[0].id;
  const model = models.find((m) => m.id === id);
  if (!model) throw new Error(`model must be one of ${models.map((m) => m.id).join(", ")}`);
  const values: Record<string, string | boolean> = {};
  for (const c of controls.filter((c) => c.name !== "model")) {
    const v = form.get(c.name);
    if (v === null || v === "") {
      if (c.boolean) values[c.name] = c.default === "true";
      else if (c.default !== "") values[c.name] = c.default;
    } else if (typeof v !== "string") {
      if (c.input !== "file") throw new Error(`--${c.name} takes a value, not a file`);
      values[c.name] = await store(c.name, v);
    } else if (c.boolean) {
      if (v !== "true" && v !== "false") throw new Error(`--${c.name} is true or false`);
      values[c.name] = v === "true";
    } else if (c.choices.includes(v) || (c.input === "number" && NUMBER.test(v))) {
      values[c.name] = v;
    } else {
      const free = c.input === "number" ? ["a number"] : c.input === "file" ? ["a file"] : [];
      throw new Error(
        `--${c.name} must be ${[...c.choices, ...free].join(" or ")}, got ${
          JSON.stringify(v.slice(0, 40))
        }`,
      );
    }
  }
  return { values, model };
}
