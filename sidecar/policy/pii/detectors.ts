// The built-in PII detectors. Each finds candidate spans in one string with a bounded pattern (fixed-width lookbehind
// and lookahead so a candidate never starts or ends inside a longer token: hex, UUIDs, timestamps, order numbers),
// then validates the candidate (checksum, IIN, SSA rules, libphonenumber-js) so look-alikes stay quiet.
// Patterns here are ours and linear in practice (no nested quantifiers over the same characters); operators' own
// patterns go through RE2 (./patterns.ts), never through JavaScript RegExp.
import { createRequire } from "node:module";
import type * as Phone from "libphonenumber-js/max";
import {
  brCpfValid,
  cardBrand,
  esIdValid,
  ibanValid,
  itFiscalCodeValid,
  luhn,
  ssnValid,
  ukNinoValid,
} from "./checks.ts";

/** One match: the detector, where it is in the string (UTF-16 offsets), and a sub-kind (card network, secret kind). */
export interface Hit {
  detector: string;
  start: number;
  end: number;
  kind?: string;
}

/** Finds hits in `s`, which may be several strings joined by "\n" (no built-in pattern matches across one): `keyAt`
 * gives the JSON property name holding the string at an offset (context for bare numbers such as a 9-digit SSN),
 * `endAt` the end of that string (a PEM block stops there). */
export type Detect = (s: string, ctx: SegmentContext, out: Hit[]) => void;
export interface SegmentContext {
  /** Whether any string's key matches (detectors that need a key skip their pass when none does). */
  anyKey(re: RegExp): boolean;
  keyAt(offset: number): string | undefined;
  endAt(offset: number): number;
  /** [start, end) of every string joined in the text. */
  segments(): Iterable<readonly [number, number]>;
}
/** The context of a single string. */
export const single = (key: string | undefined, length: number): SegmentContext => ({
  anyKey: (re) => key !== undefined && re.test(key),
  keyAt: () => key,
  endAt: () => length,
  segments: () => [[0, length]],
});

export const BUILTIN_DETECTORS = [
  "email",
  "phone",
  "payment_card",
  "iban",
  "us_ssn",
  "uk_nino",
  "es_dni",
  "it_codice_fiscale",
  "br_cpf",
  "secret",
] as const;
export type BuiltinDetector = (typeof BUILTIN_DETECTORS)[number];

const LABELS: Record<BuiltinDetector, string> = {
  email: "an email address",
  phone: "a phone number",
  payment_card: "a payment card number",
  iban: "an IBAN",
  us_ssn: "a US social security number",
  uk_nino: "a UK national insurance number",
  es_dni: "a Spanish DNI/NIE",
  it_codice_fiscale: "an Italian codice fiscale",
  br_cpf: "a Brazilian CPF",
  secret: "a secret or API key",
};
export const detectorLabel = (d: string): string => LABELS[d as BuiltinDetector] ?? `a match of pattern ${d}`;

// Characters (UTF-16 codes) that may not come right before a candidate. The patterns start with a plain character
// class (no lookbehind, so the regex engine scans for it fast) and `each` checks the character before in code.
const isWord = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const ALNUM = (c: number) => isWord(c) && c !== 95;
const NUMERIC = (c: number) => isWord(c) || c === 46 || c === 43 || c === 45; // word . + -
const NUMERIC_SLASH = (c: number) => NUMERIC(c) || c === 47;
const ALNUM_DASH = (c: number) => ALNUM(c) || c === 45;
const TOKEN = (c: number) => isWord(c) || c === 45;

/** Runs `re` (global) over `s`, calling `f` for each match not preceded by a character `bad` rejects. A rejected
 * match starts inside a longer token: the scan resumes after the run of such characters (every start inside it is
 * preceded by one, so rejected too), which keeps the work linear. */
function each(re: RegExp, s: string, bad: (c: number) => boolean, f: (m: RegExpExecArray) => void): void {
  re.lastIndex = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const i = m.index;
    if (i > 0 && bad(s.charCodeAt(i - 1))) {
      let j = i + 1;
      while (j < s.length && bad(s.charCodeAt(j))) j++;
      re.lastIndex = j;
      continue;
    }
    f(m);
    if (re.lastIndex === i) re.lastIndex++;
  }
}

// --- email: found from each "@" outwards (a regex starting at every letter would be quadratic on long words) ---
const LOCAL = /[A-Za-z0-9._%+-]/;
const DOMAIN = /[A-Za-z0-9.-]/;
const detectEmail: Detect = (s, _k, out) => {
  for (let at = s.indexOf("@"); at >= 0; at = s.indexOf("@", at + 1)) {
    let a = at;
    while (a > 0 && at - a < 64 && LOCAL.test(s[a - 1]!)) a--;
    let b = at + 1;
    while (b < s.length && b - at <= 253 && DOMAIN.test(s[b]!)) b++;
    while (b > at + 1 && (s[b - 1] === "." || s[b - 1] === "-")) b--; // a sentence's full stop is not the domain's
    while (a < at && s[a] === ".") a++;
    const local = s.slice(a, at);
    const domain = s.slice(at + 1, b);
    if (!local || local.endsWith(".") || local.includes("..")) continue;
    if (!/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}$/.test(domain)) continue;
    out.push({ detector: "email", start: a, end: b });
  }
};

// --- phone ---
// libphonenumber-js with its full metadata costs ~55 ms and ~11 MB when loaded: only policies that run the phone
// detector load it (compilePii awaits loadPhoneLibrary; esbuild puts it in its own chunk). A detector reached without
// that (a scanner built directly, as in tests) loads it synchronously from node_modules.
let phoneLib: typeof Phone | undefined;
export async function loadPhoneLibrary(): Promise<void> {
  phoneLib ??= await import("libphonenumber-js/max");
}
function isValidPhoneNumber(text: string, region?: "US" | "GB"): boolean {
  phoneLib ??= createRequire(import.meta.url)("libphonenumber-js/max") as typeof Phone;
  return phoneLib.isValidPhoneNumber(text, region);
}

// International form: "+" and 7-15 digits in groups; a trailing group that does not belong is dropped and retried.
const PHONE_INTL = /\+\d[\d .()-]{5,22}\d(?![\w+])/g;
// National forms, validated for their country: US/NANP (415) 555-2671, 415-555-2671, 415.555.2671; UK 020 7946 0958.
const PHONE_US = /(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w-]|\.\d)/g;
const PHONE_GB = /0\d{2,4} \d{3,4} ?\d{3,4}(?![\w-]|\.\d)/g;
const detectPhone: Detect = (s, _k, out) => {
  const first = out.length;
  // a national form inside an international number already found (+1 415 555 2671) is the same number
  const national = (m: RegExpExecArray, region: "US" | "GB") => {
    const start = m.index;
    const end = start + m[0].length;
    for (let i = first; i < out.length; i++) if (out[i]!.start < end && start < out[i]!.end) return;
    // UK national numbers have 10 or 11 digits with the leading 0 (libphonenumber is the slow part: ask it only then)
    if (region === "GB" && !/^\D*(\d\D*){10,11}$/.test(m[0])) return;
    if (isValidPhoneNumber(m[0], region)) out.push({ detector: "phone", start, end });
  };
  each(PHONE_INTL, s, (c) => isWord(c) || c === 43, (m) => {
    let text = m[0];
    for (;;) {
      const digits = text.replace(/\D/g, "").length;
      if (digits < 8) return; // E.164: country code and subscriber number, at least 8 digits in practice
      if (digits <= 15 && isValidPhoneNumber(text)) {
        out.push({ detector: "phone", start: m.index, end: m.index + text.length });
        return;
      }
      const cut = text.search(/[ .-]\(?\d+\)?$/);
      if (cut <= 2) return;
      text = text.slice(0, cut);
    }
  });
  each(PHONE_US, s, NUMERIC_SLASH, (m) => national(m, "US"));
  each(PHONE_GB, s, NUMERIC_SLASH, (m) => national(m, "GB"));
};

// --- payment card: 12-19 digits, optionally grouped by single spaces or dashes; Luhn and a known IIN range ---
const CARD = /\d(?:[ -]?\d){11,18}(?![\w-]|\.\d)/g;
// Bare digit strings that are amounts, not cards: under a key naming an amount or time, or a round number (wei and
// token amounts end in many zeros; a card number practically never ends in six).
const AMOUNT_KEY = /amount|value|wei|gas|fee|price|balance|total|nonce|supply|qty|quantity|time|block|size|count/i;
const detectCard: Detect = (s, ctx, out) => {
  each(CARD, s, NUMERIC, (m) => {
    const text = m[0];
    const grouped = /[ -]/.test(text);
    if (grouped && !/^\d{4}([ -])\d{4,6}(\1\d{4,5}){1,3}$/.test(text)) return; // groups as printed on cards
    if (!grouped && (text.endsWith("000000") || AMOUNT_KEY.test(ctx.keyAt(m.index) ?? ""))) return;
    const d = grouped ? text.replace(/[ -]/g, "") : text;
    const brand = cardBrand(d);
    if (brand && luhn(d)) out.push({ detector: "payment_card", start: m.index, end: m.index + text.length, kind: brand });
  });
};

// --- IBAN: country, check digits, BBAN (compact or in groups of four); length by country and mod-97 ---
const IBAN = /[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![A-Za-z0-9])/g;
const detectIban: Detect = (s, _k, out) => {
  each(IBAN, s, ALNUM, (m) => {
    if (ibanValid(m[0].replace(/ /g, ""))) out.push({ detector: "iban", start: m.index, end: m.index + m[0].length });
  });
};

// --- US SSN: AAA-GG-SSSS (dashes or spaces); nine bare digits only where the key or the words before say SSN ---
const SSN_SEP = /(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-]|\.\d)/g;
const SSN_BARE = /(\d{3})(\d{2})(\d{4})(?![\w-]|\.\d)/g;
const SSN_KEY = /ssn|social.?sec|taxpayer|(^|[^a-z])tin([^a-z]|$)/i;
const SSN_WORDS = /\b(ssn|social security( number| no\.?)?)\W{0,4}$/i;
const detectSsn: Detect = (s, ctx, out) => {
  each(SSN_SEP, s, NUMERIC, (m) => {
    if (ssnValid(m[1]!, m[3]!, m[4]!)) out.push({ detector: "us_ssn", start: m.index, end: m.index + m[0].length });
  });
  if (!ctx.anyKey(SSN_KEY) && !/ssn|social/i.test(s)) return;
  each(SSN_BARE, s, NUMERIC, (m) => {
    if (!ssnValid(m[1]!, m[2]!, m[3]!)) return;
    if (SSN_KEY.test(ctx.keyAt(m.index) ?? "") || SSN_WORDS.test(s.slice(Math.max(0, m.index - 24), m.index)))
      out.push({ detector: "us_ssn", start: m.index, end: m.index + m[0].length });
  });
};

// --- national ids with a validation rule ---
const NINO = /[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])/g;
const detectNino: Detect = (s, _k, out) => {
  each(NINO, s, ALNUM, (m) => {
    if (ukNinoValid(m[0].replace(/ /g, ""))) out.push({ detector: "uk_nino", start: m.index, end: m.index + m[0].length });
  });
};
// DNI 8 digits + letter, NIE X/Y/Z + 7 digits + letter: the digits are found first, the NIE letter looked up before
const ES_ID = /\d{7,8}-?[A-Z](?![A-Za-z0-9])/g;
const detectEsId: Detect = (s, _k, out) => {
  ES_ID.lastIndex = 0;
  for (let m = ES_ID.exec(s); m; m = ES_ID.exec(s)) {
    let start = m.index;
    const prev = start > 0 ? s.charCodeAt(start - 1) : 0;
    if (prev === 88 || prev === 89 || prev === 90) start--; // X Y Z
    if (start > 0 && ALNUM_DASH(s.charCodeAt(start - 1))) continue;
    const end = m.index + m[0].length;
    if (esIdValid(s.slice(start, end).replace("-", ""))) out.push({ detector: "es_dni", start, end });
  }
};
const CF = /[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z](?![A-Za-z0-9])/g;
const detectCf: Detect = (s, _k, out) => {
  each(CF, s, ALNUM, (m) => {
    if (itFiscalCodeValid(m[0])) out.push({ detector: "it_codice_fiscale", start: m.index, end: m.index + 16 });
  });
};
// CPF: the printed form 000.000.000-00 anywhere; eleven bare digits only under a key naming it
const CPF_FMT = /\d{3}\.\d{3}\.\d{3}-\d{2}(?![\w-]|\.\d)/g;
const CPF_BARE = /\d{11}(?![\w-]|\.\d)/g;
const detectCpf: Detect = (s, ctx, out) => {
  each(CPF_FMT, s, NUMERIC, (m) => {
    if (brCpfValid(m[0].replace(/\D/g, ""))) out.push({ detector: "br_cpf", start: m.index, end: m.index + 14 });
  });
  if (!ctx.anyKey(/cpf/i)) return;
  each(CPF_BARE, s, NUMERIC, (m) => {
    if (/cpf/i.test(ctx.keyAt(m.index) ?? "") && brCpfValid(m[0])) out.push({ detector: "br_cpf", start: m.index, end: m.index + 11 });
  });
};

// --- secrets: well-known prefixes with the shape their issuer documents ---
const SECRET =
  /(?:(?<aws>A(?:KIA|SIA)[0-9A-Z]{16})|(?<github>gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})|(?<slack>xox[abpre]-[A-Za-z0-9-]{10,250})|(?<stripe>[sr]k_live_[A-Za-z0-9]{16,247})|(?<openai>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,250})|(?<google>AIza[0-9A-Za-z_-]{35})|(?<jwt>eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)|(?<pem>-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----))(?![A-Za-z0-9_])/g;
const PEM_END = /-----END [A-Z ]{0,20}PRIVATE KEY-----/g;
const KINDS = { aws: "aws_access_key", github: "github_token", slack: "slack_token", stripe: "stripe_key", openai: "openai_key", google: "google_api_key", jwt: "jwt", pem: "private_key" } as const; // prettier-ignore
const detectSecret: Detect = (s, ctx, out) => {
  each(SECRET, s, TOKEN, (m) => {
    const g = m.groups!;
    const name = (Object.keys(KINDS) as (keyof typeof KINDS)[]).find((k) => g[k] !== undefined)!;
    let end = m.index + m[0].length;
    if (name === "pem") {
      // the whole key block: to its END line, or to the end of the string when there is none
      const stop = ctx.endAt(m.index);
      PEM_END.lastIndex = end;
      const e = PEM_END.exec(s);
      end = e && e.index + e[0].length <= stop ? e.index + e[0].length : stop;
      SECRET.lastIndex = end;
    }
    out.push({ detector: "secret", start: m.index, end, kind: KINDS[name] });
  });
};

export const DETECTORS: Record<BuiltinDetector, Detect> = {
  email: detectEmail,
  phone: detectPhone,
  payment_card: detectCard,
  iban: detectIban,
  us_ssn: detectSsn,
  uk_nino: detectNino,
  es_dni: detectEsId,
  it_codice_fiscale: detectCf,
  br_cpf: detectCpf,
  secret: detectSecret,
};
