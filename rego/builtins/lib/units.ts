// units.parse / units.parse_bytes (OPA topdown/parse_units.go, parse_bytes.go) with exact rational arithmetic.

export class UnitsError extends Error {}

const MAX_EXPONENT_DIGITS = 6;

/** Exact decimal -> numerator/denominator (Go big.Rat SetString for decimal input); undefined when malformed. */
export function parseDecimal(s: string): { num: bigint; den: bigint } | undefined {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m) return undefined;
  const [, sign, ip = "", fp = "", ex] = m;
  if (ip === "" && fp === "") return undefined;
  let num = BigInt(ip + fp || "0");
  let den = 10n ** BigInt(fp.length);
  const e = ex ? Number(ex) : 0;
  if (e > 0) num *= 10n ** BigInt(e);
  else if (e < 0) den *= 10n ** BigInt(-e);
  if (sign === "-") num = -num;
  return { num, den };
}

/** OPA's extractNumAndUnit. */
export function extractNumAndUnit(s: string): [string, string] {
  const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
  let first = -1;
  for (let i = 0; i < s.length; i++) {
    const r = s[i]!;
    if (!(isDigit(r) || r === ".") && r !== "e" && r !== "E" && r !== "+" && r !== "-") {
      first = i;
      break;
    }
    if (r === "e" || r === "E") {
      const n = s[i + 1];
      if (i === s.length - 1 || (!isDigit(n) && n !== "+" && n !== "-")) {
        first = i;
        break;
      }
      if (n === "+" || n === "-") i++;
      let end = i + 1;
      while (end < s.length && isDigit(s[end])) end++;
      if (end - (i + 1) > MAX_EXPONENT_DIGITS) throw new UnitsError("exponent too large");
    }
  }
  if (first === -1) return [s, ""];
  if (first === 0) return ["", s];
  return [s.slice(0, first), s.slice(first)];
}

const K = 1000n;
const SI: Record<string, bigint> = {
  k: K,
  K: K,
  M: K ** 2n,
  g: K ** 3n,
  G: K ** 3n,
  t: K ** 4n,
  T: K ** 4n,
  p: K ** 5n,
  P: K ** 5n,
  e: K ** 6n,
  E: K ** 6n,
};
const BIN: Record<string, bigint> = {
  ki: 1n << 10n,
  mi: 1n << 20n,
  gi: 1n << 30n,
  ti: 1n << 40n,
  pi: 1n << 50n,
  ei: 1n << 60n,
};

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Rational result: an exact integer, or a decimal string rounded to 10 places (big.Rat FloatString(10)). */
function ratResult(num: bigint, den: bigint): bigint | string {
  const g = gcd(num, den) || 1n;
  num /= g;
  den /= g;
  if (den === 1n) return num;
  const neg = num < 0n;
  const a = neg ? -num : num;
  const scale = 10n ** 10n;
  let q = (a * scale) / den;
  const r = (a * scale) % den;
  if (r * 2n >= den) q += 1n; // round half away from zero like FloatString
  const ip = q / scale;
  const fp = (q % scale).toString().padStart(10, "0");
  return `${neg ? "-" : ""}${ip}.${fp}`;
}

/** units.parse: returns a bigint for integers or a decimal string. Errors are UnitsError with OPA's text. */
export function parseUnits(raw: string): bigint | string {
  const s = raw.replace(/"/g, "");
  if (s.includes(" ")) throw new UnitsError("spaces not allowed in resource strings");
  const [num, unit0] = extractNumAndUnit(s);
  if (num === "") throw new UnitsError("no amount provided");
  let unit = unit0;
  if (unit.length > 1) unit = unit[0] + unit.slice(1).toLowerCase();
  let mulNum = 1n;
  let mulDen = 1n;
  if (unit === "m") mulDen = 1000n;
  else if (unit === "") mulNum = 1n;
  else if (SI[unit] !== undefined) mulNum = SI[unit]!;
  else if (BIN[unit.toLowerCase()] !== undefined && unit.length === 2 && unit[1] === "i")
    mulNum = BIN[unit.toLowerCase()]!;
  else throw new UnitsError(`unit ${unit} not recognized`);
  const d = parseDecimal(num);
  if (!d) throw new UnitsError("could not parse amount to a number");
  return ratResult(d.num * mulNum, d.den * mulDen);
}

const BYTES: Record<string, bigint> = {
  "": 1n,
  kb: K,
  k: K,
  kib: 1n << 10n,
  ki: 1n << 10n,
  mb: K ** 2n,
  m: K ** 2n,
  mib: 1n << 20n,
  mi: 1n << 20n,
  gb: K ** 3n,
  g: K ** 3n,
  gib: 1n << 30n,
  gi: 1n << 30n,
  tb: K ** 4n,
  t: K ** 4n,
  tib: 1n << 40n,
  ti: 1n << 40n,
  pb: K ** 5n,
  p: K ** 5n,
  pib: 1n << 50n,
  pi: 1n << 50n,
  eb: K ** 6n,
  e: K ** 6n,
  eib: 1n << 60n,
  ei: 1n << 60n,
};

/** units.parse_bytes: an integer number of bytes (truncated toward zero). */
export function parseBytes(raw: string): bigint {
  const s = raw.toLowerCase().replace(/"/g, "");
  if (s.includes(" ")) throw new UnitsError("spaces not allowed in resource strings");
  const [num, unit] = extractNumAndUnit(s);
  if (num === "") throw new UnitsError("no byte amount provided");
  const m = BYTES[unit];
  if (m === undefined) throw new UnitsError(`byte unit ${unit} not recognized`);
  const d = parseDecimal(num);
  if (!d) throw new UnitsError("could not parse byte amount to a number");
  return (d.num * m) / d.den;
}
