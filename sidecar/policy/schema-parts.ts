// Pieces every policy schema module shares (schema.ts, schema-scopes.ts, pii/schema.ts, limits/budgets-schema.ts):
// the field metadata docs/policy-reference.md is generated from, and the one glob field type (checked by the one
// glob matcher's own parser, sidecar/policy/glob.ts).
import { z } from "zod";
import { globProblem } from "./glob.ts";

export interface FieldMeta {
  description: string;
  unit?: string;
  default?: string;
}

/** A field's metadata for the generated reference. */
export const m = (description: string, extra: Omit<FieldMeta, "description"> = {}) => ({ description, ...extra });

/** A policy glob, e.g. "github.*" (the example in the error message is the caller's). */
export const globOf = (example = "github.*") =>
  z.string({ error: `must be a string glob, e.g. "${example}"` }).superRefine((s, ctx) => {
    const p = globProblem(s);
    if (p) ctx.addIssue({ code: "custom", message: p });
  });

/** A list of policy globs. */
export const globsOf = (example = "report.*") =>
  z.array(globOf(example), { error: `must be a list of globs, e.g. ["${example}"]` });

export const glob = globOf();
export const globs = globsOf();

/** A value checked by a unit parser (amounts, durations, budget limits), its message at the value's line:col. */
export const unitCheck = (parse: (v: unknown) => { ok: true } | { ok: false; message: string }) =>
  z.unknown().superRefine((v, ctx) => {
    const r = parse(v);
    if (!r.ok) ctx.addIssue({ code: "custom", message: r.message });
  });
