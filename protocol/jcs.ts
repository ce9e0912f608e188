// RFC 8785 JSON Canonicalization Scheme and the `sha256:<hex>` digests built on it.
// Numbers use ECMAScript's Number-to-String (what JSON.stringify does), keys are sorted by UTF-16 code units,
// strings are escaped as JSON.stringify escapes them: exactly the rules RFC 8785 adopts from ES2015+.
import { createHash } from "node:crypto";

// Characters JSON.stringify escapes: controls, quote, backslash, and surrogates (lone ones become \uXXXX).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/** A JSON string literal exactly as JSON.stringify writes it; the common case (nothing to escape) skips it. */
function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/** Canonical JSON text of `value` per RFC 8785. Throws on values JSON cannot carry (undefined, NaN, bigint, functions). */
export function canonicalize(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return quote(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("JCS: non-finite number");
      return JSON.stringify(value);
    case "object": {
      // Plain loops and string concatenation: this runs two or three times per decision on the hot path.
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          const v: unknown = value[i];
          out += v === undefined ? "null" : canonicalize(v);
        }
        return out + "]";
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort(); // default sort compares UTF-16 code units, as RFC 8785 requires
      let out = "{";
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        out += (first ? "" : ",") + quote(k) + ":" + canonicalize(v);
        first = false;
      }
      return out + "}";
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
