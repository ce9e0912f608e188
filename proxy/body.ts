// A buffered request body as the rules and the attestation check read it. The bytes forwarded are always the bytes
// received; what is shown to the rules is their content: decoded when compressed (within the inspection limit),
// refused when it cannot be read the way the upstream will read it (see docs/proxy.md, "Bodies").
import { isUtf8 } from "node:buffer";
import zlib from "node:zlib";
import { isFormContentType, isJsonContentType, mediaType, ruleBody } from "./input.ts";
import { duplicateJsonKey } from "./json-keys.ts";
import { inexactJsonNumbers } from "./json-numbers.ts";
import { decodeUrlEncoded, UrlEncodedRefused } from "./urlencoded.ts";

/** A body the proxy will not evaluate: 400 (malformed), 413 (over the limit), 415 (encoding or charset). */
export class BodyRefused extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    readonly rule: string,
    message: string,
  ) {
    super(message);
    this.name = "BodyRefused";
  }
}

const mime = mediaType;

/** Content types whose body the rules see as text: JSON, text/*, form data. */
export function isTextualContentType(ct: string | undefined): boolean {
  return isJsonContentType(ct) || mime(ct).startsWith("text/") || isFormContentType(ct);
}

/** The declared charset (lower-case), or null. */
function charsetOf(ct: string | undefined): string | null {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(ct ?? "");
  return m ? m[1]!.toLowerCase() : null;
}

const UTF8_NAMES = new Set(["utf-8", "utf8", "us-ascii", "ascii"]);

/** The content codings of a Content-Encoding header, in the order applied ("identity" dropped). */
function codings(header: string | string[] | undefined): string[] {
  const list = Array.isArray(header) ? header.join(",") : (header ?? "");
  return list
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "" && s !== "identity");
}

function decodeOne(coding: string, data: Buffer, limit: number): Buffer {
  const opts = { maxOutputLength: Math.max(1, limit) };
  try {
    switch (coding) {
      case "gzip":
      case "x-gzip":
        return zlib.gunzipSync(data, opts);
      case "deflate":
        // RFC 9110 deflate is the zlib format; some clients send raw deflate
        try {
          return zlib.inflateSync(data, opts);
        } catch (e) {
          if (tooLarge(e)) throw e;
          return zlib.inflateRawSync(data, opts);
        }
      case "br":
        return zlib.brotliDecompressSync(data, opts);
      default:
        throw new BodyRefused(
          415,
          "body_encoding",
          `request body has content-encoding "${coding}", which the proxy cannot decode to inspect (gzip, deflate and br can be)`,
        );
    }
  } catch (e) {
    if (e instanceof BodyRefused) throw e;
    if (tooLarge(e)) {
      throw new BodyRefused(
        413,
        "body_limit",
        `request body decoded from content-encoding ${coding} exceeds the inspection limit of ${limit} bytes (limits.maxBodyInspectBytes)`,
      );
    }
    throw new BodyRefused(400, "body_encoding", `request body is not valid ${coding} data: ${(e as Error).message}`);
  }
}

function tooLarge(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError;
}

export interface InspectedBody {
  /** The `body` field of the input document (null: empty, or not inspected). */
  ruleBody: unknown;
}

/**
 * Prepares a complete body for the rules and the attestation check. `rulesRead`: the rules may read the body;
 * `attested`: an attestation binds it. Throws BodyRefused.
 *   - compressed (Content-Encoding): decoded within `limit` when either reads it, else not shown to the rules (null);
 *   - JSON, text or form bodies the rules read: must be UTF-8 (declared charset and bytes);
 *   - JSON bodies (application/json, text/json, *+json, …) either reads: must parse as they are (a BOM or trailing
 *     garbage is refused, never stripped), and no key may appear twice in one object, also with another case (the
 *     upstream may keep the other value; Go matches keys case-insensitively);
 *   - JSON bodies the rules read: every number must be one a double holds exactly (the rules would judge another
 *     number than an exact-decimal upstream acts on); beyond the double range (1e400) is shown as Infinity;
 *   - form bodies (application/x-www-form-urlencoded) the rules read: shown decoded like `query` (an object of
 *     arrays, `+` a space), refused when an escape is invalid or does not decode to UTF-8.
 */
export function inspectBody(
  raw: Buffer,
  headers: { "content-type"?: string; "content-encoding"?: string | string[] },
  opts: { limit: number; rulesRead: boolean; attested: boolean },
): InspectedBody {
  if (raw.length === 0) return { ruleBody: null };
  const ct = headers["content-type"];
  const reads = opts.rulesRead || opts.attested;
  let content = raw;
  const list = codings(headers["content-encoding"]);
  if (list.length > 0) {
    if (!reads) return { ruleBody: null };
    // codings are listed in the order they were applied: undo them last first
    for (let i = list.length - 1; i >= 0; i--) content = decodeOne(list[i]!, content, opts.limit);
  }
  const json = isJsonContentType(ct);
  if (opts.rulesRead && isTextualContentType(ct)) {
    const cs = charsetOf(ct);
    if (cs !== null && !UTF8_NAMES.has(cs)) {
      throw new BodyRefused(
        415,
        "body_charset",
        `request body is declared charset ${cs}; the rules read only UTF-8 bodies`,
      );
    }
    if (!isUtf8(content)) {
      throw new BodyRefused(415, "body_charset", `request body is declared ${mime(ct)} but is not valid UTF-8`);
    }
  }
  // neither reads it: shown as before (the rules provably never look at it)
  if (!reads) return { ruleBody: ruleBody(content, ct) };
  const text = content.toString("utf8");
  if (isFormContentType(ct) && opts.rulesRead) {
    try {
      return { ruleBody: decodeUrlEncoded(text) };
    } catch (err) {
      if (err instanceof UrlEncodedRefused) {
        throw new BodyRefused(400, "body_form", `the form body cannot be decoded for the rules: ${err.message}`);
      }
      throw err;
    }
  }
  if (!json) return { ruleBody: text };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const bom = text.charCodeAt(0) === 0xfeff ? " (it starts with a byte order mark, which JSON forbids)" : "";
    throw new BodyRefused(
      400,
      "body_json",
      `request body is declared ${mime(ct)} but is not JSON${bom}: ${(err as Error).message}; the proxy will not show it to the rules or bind it as text`,
    );
  }
  const dup = duplicateJsonKey(text, { foldCase: true });
  if (dup !== null) {
    throw new BodyRefused(
      400,
      "body_duplicate_key",
      `duplicate key ${JSON.stringify(dup).replace(/\\"/g, '"')} in the JSON body: the proxy cannot know which value the upstream uses (keys are compared without case, as Go's encoding/json matches them)`,
    );
  }
  if (opts.rulesRead) {
    const bad = inexactJsonNumbers(text, false).find((n) => n.kind === "inexact");
    if (bad) {
      throw new BodyRefused(
        400,
        "body_number",
        `the number ${bad.literal} in the JSON body cannot be represented exactly (the rules would see ${bad.read}); send it as a string`,
      );
    }
  }
  return { ruleBody: parsed };
}
