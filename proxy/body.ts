// A buffered request body as the rules and the attestation check read it. The bytes forwarded are always the bytes
// received; what is shown to the rules is their content: decoded when compressed (within the inspection limit),
// refused when it cannot be read the way the upstream will read it (see docs/proxy.md, "Bodies").
import { isUtf8 } from "node:buffer";
import zlib from "node:zlib";
import { isJsonContentType } from "./input.ts";
import { duplicateJsonKey } from "./json-keys.ts";

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

function mime(ct: string | undefined): string {
  return (ct ?? "").split(";")[0]!.trim().toLowerCase();
}

/** Content types whose body the rules see as text: JSON, text/*, form data. */
export function isTextualContentType(ct: string | undefined): boolean {
  const m = mime(ct);
  return isJsonContentType(ct) || m.startsWith("text/") || m === "application/x-www-form-urlencoded";
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
 *   - JSON bodies either reads: no key may appear twice in one object (the upstream may keep the other value).
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
  const text = content.toString("utf8");
  if (!json) return { ruleBody: text };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ruleBody: text };
  }
  if (reads) {
    const dup = duplicateJsonKey(text);
    if (dup !== null) {
      throw new BodyRefused(
        400,
        "body_duplicate_key",
        `duplicate key ${JSON.stringify(dup)} in the JSON body: the proxy cannot know which value the upstream uses`,
      );
    }
  }
  return { ruleBody: parsed };
}
