// RFC 8785 JSON Canonicalization Scheme and the `sha256:<hex>` digests built on it.
// Numbers use ECMAScript's Number-to-String (what JSON.stringify does), keys are sorted by UTF-16 code units,
// strings are escaped as JSON.stringify escapes them: exactly the rules RFC 8785 adopts from ES2015+.
import { createHash } from "node:crypto";

/** Canonical JSON text of `value` per RFC 8785. Throws on values JSON cannot carry (undefined, NaN, bigint, functions). */
export function canonicalize(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("JCS: non-finite number");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return "[" + value.map((v) => canonicalize(v === undefined ? null : v)).join(",") + "]";
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort(); // default sort compares UTF-16 code units, as RFC 8785 requires
      return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalize(obj[k])).join(",") + "}";
    }
    default:
      throw new TypeError(`JCS: cannot canonicalize a ${typeof value}`);
  }
}

/** `sha256:<hex>` of raw bytes or a UTF-8 string. */
export function sha256Digest(data: string | Uint8Array): string {
  return "sha256:" + createHash("sha256").update(data).digest("hex");
}

/** `sha256:<hex>` of the JCS form of `value`. */
export function jcsDigest(value: unknown): string {
  return sha256Digest(canonicalize(value));
}
