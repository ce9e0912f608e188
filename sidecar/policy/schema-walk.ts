// Walks the zod policy schema: the fields an object accepts (for "unknown field" hints) and, for the generated
// reference doc, every field with its meta.
import type { z } from "zod";
import type { FieldMeta } from "./schema.ts";

type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
  schema?: z.ZodType;
};
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Strips optional/default/nullable/pipe wrappers. */
export function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  for (;;) {
    const d = defOf(cur);
    if (
      (d.type === "optional" || d.type === "default" || d.type === "nullable" || d.type === "readonly") &&
      d.innerType
    )
      cur = d.innerType;
    else if (d.type === "pipe" && d.in) cur = d.in;
    else return cur;
  }
}

export function metaOf(s: z.ZodType): FieldMeta | undefined {
  let cur: z.ZodType | undefined = s;
  while (cur) {
    const m = (cur as unknown as { meta(): unknown }).meta() as FieldMeta | undefined;
    if (m?.description) return m;
    const d = defOf(cur);
    cur = d.innerType ?? (d.type === "pipe" ? d.in : undefined);
  }
  return undefined;
}

/** The schema at a path into the data (array indices and record keys step into elements/values). */
export function schemaAt(root: z.ZodType, p: readonly PropertyKey[]): z.ZodType | undefined {
  let cur: z.ZodType | undefined = root;
  for (const seg of p) {
    if (!cur) return undefined;
    const d = defOf(unwrap(cur));
    if (d.type === "object") cur = d.shape?.[String(seg)];
    else if (d.type === "array") cur = d.element;
    else if (d.type === "record") cur = d.valueType;
    else return undefined;
  }
  return cur ? unwrap(cur) : undefined;
}

export function objectKeys(s: z.ZodType | undefined): string[] {
  if (!s) return [];
  const d = defOf(unwrap(s));
  return d.type === "object" ? Object.keys(d.shape ?? {}) : [];
}

export interface FieldDoc {
  path: string;
  type: string;
  meta?: FieldMeta;
}

function typeName(s: z.ZodType): string {
  const d = defOf(unwrap(s));
  switch (d.type) {
    case "object":
      return "map";
    case "array": {
      const inner = typeName(d.element!);
      return `list of ${inner.includes(" | ") ? `(${inner})` : inner}`;
    }
    case "record":
      return `map of ${typeName(d.valueType!)}`;
    case "union":
      return (d.options ?? []).map(typeName).join(" | ");
    case "enum":
      return Object.values(
        (unwrap(s) as unknown as { _zod: { def: { entries: Record<string, string> } } })._zod.def.entries,
      )
        .map((v) => JSON.stringify(v))
        .join(" | ");
    case "literal":
      return JSON.stringify((unwrap(s) as unknown as { _zod: { def: { values: unknown[] } } })._zod.def.values[0]);
    case "unknown":
      return "value";
    default:
      return d.type;
  }
}

/** Every documented field, depth first. Arrays of objects document their element's fields as `path[].field`. */
export function listFields(s: z.ZodType, prefix = ""): FieldDoc[] {
  const out: FieldDoc[] = [];
  const d = defOf(unwrap(s));
  const visitChild = (child: z.ZodType, p: string) => {
    const meta = metaOf(child);
    out.push({ path: p, type: typeName(child), ...(meta ? { meta } : {}) });
    const cd = defOf(unwrap(child));
    if (cd.type === "object") out.push(...listFields(child, p));
    else if (cd.type === "array" && cd.element) {
      const ed = defOf(unwrap(cd.element));
      if (ed.type === "object") out.push(...listFields(cd.element, `${p}[]`));
      if (ed.type === "union") {
        for (const o of ed.options ?? []) {
          const shape = defOf(unwrap(o)).shape;
          const tag = shape?.type
            ? (unwrap(shape.type) as unknown as { _zod: { def: { values?: unknown[] } } })._zod.def.values?.[0]
            : undefined;
          if (defOf(unwrap(o)).type !== "object") continue;
          const variant = tag !== undefined ? `${p}[type=${String(tag)}]` : `${p}[]`;
          if (tag !== undefined) {
            const meta = metaOf(o);
            out.push({ path: variant, type: "map", ...(meta ? { meta } : {}) });
          }
          out.push(...listFields(o, variant).filter((f) => !f.path.endsWith("].type") || tag === undefined));
        }
      }
    } else if (cd.type === "record" && cd.valueType && defOf(unwrap(cd.valueType)).type === "object")
      out.push(...listFields(cd.valueType, `${p}.<name>`));
  };
  if (d.type === "object")
    for (const [k, v] of Object.entries(d.shape ?? {})) visitChild(v, prefix ? `${prefix}.${k}` : k);
  else if (d.type === "union") for (const o of d.options ?? []) out.push(...listFields(o, prefix));
  return dedupe(out);
}

function dedupe(xs: FieldDoc[]): FieldDoc[] {
  const seen = new Set<string>();
  return xs.filter((x) => (seen.has(x.path) ? false : (seen.add(x.path), true)));
}
