// Numbers in a JSON text that JavaScript does not hold exactly. JSON.parse reads every number as an IEEE double:
// 12345678901234567891 becomes 12345678901234567168 (shown as 12345678901234567000), 100.00000000000000001 becomes
// 100. The rules and the JCS digest of an attestation would then judge another number than the one an upstream with
// exact integers or decimals (Python, Go's json.Number or int64, Java BigDecimal) acts on, and two different bodies
// would share a digest. A number literal is exact when its decimal value equals the value of the double's shortest
// representation (what JSON.stringify and JCS write): `0.1`, `1.50`, `1e2`, `-3` are exact; `12345678901234567891`,
// `0.1000000000000000000001`, `1e-400` (read as 0) and `-0` (read as 0) are not. `1e400` reads as Infinity:
// reported as `overflow` (ordering against any finite bound is kept, but no digest can be made of it).

/** Sign, significant digits (no leading or trailing zeros) and exponent: the value is 0.<digits> × 10^exp. */
interface Decimal {
  neg: boolean;
  digits: string;
  exp: number;
}

function decimalOf(literal: string): Decimal {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!m) return { neg: false, digits: "NaN", exp: 0 };
  const int = m[2]!;
  const frac = m[3] ?? "";
  let digits = int + frac;
  let exp = int.length + Number(m[4] ?? "0");
  const lead = /^0*/.exec(digits)![0].length;
  digits = digits.slice(lead);
  exp -= lead;
  digits = digits.replace(/0+$/, "");
  if (digits === "") return { neg: m[1] === "-", digits: "", exp: 0 };
  return { neg: m[1] === "-", digits, exp };
}

export interface InexactNumber {
  /** The literal as written (cut to 60 characters). */
  literal: string;
  /** What JavaScript reads: the double's shortest form, or "Infinity". */
  read: string;
  /** `overflow` when the literal is beyond the double range (read as ±Infinity). */
  kind: "overflow" | "inexact";
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** The number literals of a JSON text (strings skipped) that a double does not hold exactly, in order. `stopAtFirst`
 * (default true): only the first. The text is expected to be JSON that JSON.parse accepted. */
export function inexactJsonNumbers(text: string, stopAtFirst = true): InexactNumber[] {
  const out: InexactNumber[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
      continue;
    }
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) continue;
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) continue;
    const literal = m[0];
    i += literal.length - 1;
    // the common case: a short integer is always exact (up to 15 digits, below 2^53)
    if (literal.length <= 15 && !/[.eE]/.test(literal) && literal !== "-0") continue;
    const value = Number(literal);
    let bad: InexactNumber | null = null;
    const shown = literal.length > 60 ? `${literal.slice(0, 60)}…` : literal;
    if (!Number.isFinite(value)) bad = { literal: shown, read: String(value), kind: "overflow" };
    else {
      const a = decimalOf(literal);
      const b = decimalOf(String(value));
      const negativeZero = a.neg && a.digits === ""; // read as -0, written (JCS) and judged (Rego) as 0
      if (negativeZero || a.digits !== b.digits || a.exp !== b.exp || a.neg !== b.neg) {
        bad = { literal: shown, read: String(value), kind: "inexact" };
      }
    }
    if (bad) {
      out.push(bad);
      if (stopAtFirst) return out;
    }
  }
  return out;
}
