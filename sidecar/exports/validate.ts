// Checks an exported event against the OCSF class fields the exports use (ocsf-classes.json): the class and its
// category, activity and type_uid arithmetic, required and recommended attributes, the objects' required fields,
// enum values and ms timestamps. Returns the problems (empty: valid); `missingRecommended` lists what a consumer
// would miss. Used by the tests; small enough to run in a SIEM-side check too.
import { readFileSync } from "node:fs";

interface ClassSpec {
  class_uid: number;
  caption: string;
  category_uid: number;
  category_name: string;
  activities: Record<string, string>;
  required: string[];
  recommended: string[];
  at_least_one?: string[][];
  enums?: Record<string, Record<string, string>>;
}

interface ObjectSpec {
  required?: string[];
  recommended?: string[];
  at_least_one?: string[][];
}

export interface OcsfSpec {
  version: string;
  base: { required: string[]; recommended: string[]; types: Record<string, string>; enums: Record<string, Record<string, string>> };
  classes: Record<string, ClassSpec>;
  objects: Record<string, ObjectSpec>;
  attribute_objects: Record<string, string>;
}

let cached: OcsfSpec | undefined;

export function ocsfSpec(): OcsfSpec {
  cached ??= JSON.parse(readFileSync(new URL("./ocsf-classes.json", import.meta.url), "utf8")) as OcsfSpec;
  return cached;
}

const present = (v: unknown) => v !== undefined && v !== null && v !== "";

function get(obj: Record<string, unknown>, path: string): unknown {
  let cur: unknown = obj;
  for (const k of path.split(".")) cur = cur && typeof cur === "object" ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

export interface Validation {
  errors: string[];
  missingRecommended: string[];
}

export function validateOcsf(event: Record<string, unknown>, spec: OcsfSpec = ocsfSpec()): Validation {
  const errors: string[] = [];
  const missingRecommended: string[] = [];
  const cls = Object.values(spec.classes).find((c) => c.class_uid === event.class_uid);
  if (!cls) return { errors: [`class_uid ${String(event.class_uid)} is not one of the exported classes`], missingRecommended };
  for (const k of [...spec.base.required, ...cls.required]) if (!present(event[k])) errors.push(`${cls.caption}: required ${k} is missing`);
  for (const k of [...spec.base.recommended, ...cls.recommended]) if (!present(event[k])) missingRecommended.push(k);
  for (const group of cls.at_least_one ?? []) {
    if (!group.some((k) => present(event[k]))) errors.push(`${cls.caption}: needs at least one of ${group.join(", ")}`);
  }
  for (const [k, t] of Object.entries(spec.base.types)) {
    const v = event[k];
    if (v === undefined) continue;
    if (t === "integer" && !Number.isInteger(v)) errors.push(`${k} must be an integer`);
    if (t === "string" && typeof v !== "string") errors.push(`${k} must be a string`);
    // ms since the epoch: after 2001-09-09 (1e12) and before 2286 (1e13); seconds would be 1000x smaller
    if (t === "timestamp_ms" && !(Number.isInteger(v) && (v as number) > 1e12 && (v as number) < 1e13)) errors.push(`${k} must be ms since the epoch`);
  }
  if (event.category_uid !== cls.category_uid) errors.push(`category_uid must be ${cls.category_uid} for ${cls.caption}`);
  if (event.category_name !== undefined && event.category_name !== cls.category_name) errors.push(`category_name must be "${cls.category_name}"`);
  if (event.class_name !== undefined && event.class_name !== cls.caption) errors.push(`class_name must be "${cls.caption}"`);
  const act = String(event.activity_id);
  if (!(act in cls.activities)) errors.push(`activity_id ${act} is not an activity of ${cls.caption}`);
  else if (event.activity_name !== undefined && event.activity_name !== cls.activities[act]) {
    errors.push(`activity_name must be "${cls.activities[act]}" for activity_id ${act}`);
  }
  if (event.type_uid !== cls.class_uid * 100 + Number(event.activity_id)) errors.push(`type_uid must be class_uid * 100 + activity_id`);
  const enums = { ...spec.base.enums, ...cls.enums };
  for (const [k, values] of Object.entries(enums)) {
    if (event[k] === undefined) continue;
    if (!(String(event[k]) in values)) errors.push(`${k} ${String(event[k])} is not a defined value`);
  }
  const meta = event.metadata as Record<string, unknown> | undefined;
  if (meta && (typeof meta.version !== "string" || !/^1\.\d+\.\d+$/.test(meta.version))) errors.push(`metadata.version must be an OCSF 1.x version`);
  for (const [path, objName] of Object.entries(spec.attribute_objects)) {
    const many = path.endsWith("[]");
    const raw = get(event, many ? path.slice(0, -2) : path);
    if (raw === undefined) continue;
    const items = many ? (Array.isArray(raw) ? raw : [raw]) : [raw];
    for (const [i, item] of items.entries()) {
      const where = many ? `${path.slice(0, -2)}[${i}]` : path;
      if (!item || typeof item !== "object") {
        errors.push(`${where} must be an object`);
        continue;
      }
      const o = spec.objects[objName]!;
      const rec = item as Record<string, unknown>;
      for (const k of o.required ?? []) if (!present(rec[k])) errors.push(`${where}.${k} is required`);
      for (const g of o.at_least_one ?? []) if (!g.some((k) => present(rec[k]))) errors.push(`${where} needs at least one of ${g.join(", ")}`);
    }
  }
  return { errors, missingRecommended };
}
