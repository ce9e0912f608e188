// A subset of Go's fmt.Sprintf, with Go's typing of OPA's sprintf arguments:
// integers are Go ints (or *big.Int past int64), other numbers float64, everything else a Go string.

export type GoArg =
  { t: "int"; v: bigint } | { t: "bigint"; v: bigint } | { t: "float"; v: number } | { t: "string"; v: string };

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export function intArg(v: bigint): GoArg {
  return v >= INT64_MIN && v <= INT64_MAX ? { t: "int", v } : { t: "bigint", v };
}

interface Spec {
  minus: boolean;
  plus: boolean;
  space: boolean;
  zero: boolean;
  sharp: boolean;
  width?: number;
  prec?: number;
}

function goTypeName(a: GoArg): string {
  switch (a.t) {
    case "int":
      return "int";
    case "bigint":
      return "*big.Int";
    case "float":
      return "float64";
    case "string":
      return "string";
  }
}

function plainValue(a: GoArg): string {
  switch (a.t) {
    case "int":
    case "bigint":
      return a.v.toString();
    case "float":
      return formatFloatG(a.v, -1);
    case "string":
      return a.v;
  }
}

function bad(verb: string, a: GoArg): string {
  return `%!${verb}(${goTypeName(a)}=${plainValue(a)})`;
}

function pad(s: string, spec: Spec, numeric: boolean): string {
  const w = spec.width ?? 0;
  const len = [...s].length;
  if (len >= w) return s;
  if (spec.minus) return s + " ".repeat(w - len);
  if (spec.zero && numeric) {
    const sign = /^[+\- ]/.test(s) ? s[0]! : "";
    const rest = sign ? s.slice(1) : s;
    return sign + "0".repeat(w - len) + rest;
  }
  return " ".repeat(w - len) + s;
}

function signed(neg: boolean, body: string, spec: Spec): string {
  if (neg) return "-" + body;
  if (spec.plus) return "+" + body;
  if (spec.space) return " " + body;
  return body;
}

function fmtInt(v: bigint, verb: string, spec: Spec): string | undefined {
  const neg = v < 0n;
  const abs = neg ? -v : v;
  let body: string;
  switch (verb) {
    case "d":
    case "v":
      body = abs.toString(10);
      break;
    case "b":
      body = abs.toString(2);
      break;
    case "o":
      body = abs.toString(8);
      if (spec.sharp) body = "0" + body;
      break;
    case "O":
      body = "0o" + abs.toString(8);
      break;
    case "x":
      body = abs.toString(16);
      if (spec.sharp) body = "0x" + body;
      break;
    case "X":
      body = abs.toString(16).toUpperCase();
      if (spec.sharp) body = "0X" + body;
      break;
    case "c":
      return String.fromCodePoint(Number(v));
    case "q":
      return goQuote(String.fromCodePoint(Number(v)), "'");
    case "U":
      return "U+" + abs.toString(16).toUpperCase().padStart(4, "0");
    default:
      return undefined;
  }
  if (spec.prec !== undefined) body = body.padStart(spec.prec, "0");
  return signed(neg, body, spec);
}

/** Go strconv.FormatFloat(f, 'g', prec, 64) with prec -1 = shortest. */
export function formatFloatG(f: number, prec: number): string {
  if (!Number.isFinite(f)) return Number.isNaN(f) ? "NaN" : f > 0 ? "+Inf" : "-Inf";
  if (f === 0) return Object.is(f, -0) ? "-0" : "0";
  let exp: number;
  let digits: string;
  if (prec < 0) {
    const e = f.toExponential(); // shortest round-trip digits
    const [m, ex] = e.split("e") as [string, string];
    digits = m.replace("-", "").replace(".", "");
    exp = Number(ex);
  } else {
    const p = prec === 0 ? 1 : prec;
    const e = f.toExponential(p - 1);
    const [m, ex] = e.split("e") as [string, string];
    digits = m.replace("-", "").replace(".", "").replace(/0+$/, "") || "0";
    exp = Number(ex);
  }
  const neg = f < 0 ? "-" : "";
  let eprec = prec < 0 ? 6 : prec === 0 ? 1 : prec;
  if (prec >= 0 && eprec > digits.length && digits.length >= exp + 1) eprec = digits.length;
  if (exp < -4 || exp >= eprec) {
    const mant = digits.length > 1 ? digits[0] + "." + digits.slice(1) : digits;
    const es = Math.abs(exp) < 10 ? "0" + Math.abs(exp) : String(Math.abs(exp));
    return `${neg}${mant}e${exp < 0 ? "-" : "+"}${es}`;
  }
  if (exp < 0) return `${neg}0.${"0".repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return neg + digits + "0".repeat(exp + 1 - digits.length);
  return `${neg}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

function fmtExp(f: number, prec: number, upper: boolean): string {
  const s = f.toExponential(prec);
  const [m, ex] = s.split("e") as [string, string];
  const n = Number(ex);
  const es = Math.abs(n) < 10 ? "0" + Math.abs(n) : String(Math.abs(n));
  const out = `${m}e${n < 0 ? "-" : "+"}${es}`;
  return upper ? out.toUpperCase() : out;
}

function fmtFloat(f: number, verb: string, spec: Spec): string | undefined {
  if (!Number.isFinite(f)) {
    const s = Number.isNaN(f) ? "NaN" : f > 0 ? (spec.plus ? "+Inf" : "+Inf") : "-Inf";
    return Number.isNaN(f) ? s : f > 0 && !spec.plus ? "+Inf" : s;
  }
  const neg = f < 0 || Object.is(f, -0);
  const a = Math.abs(f);
  let body: string;
  switch (verb) {
    case "v":
    case "g":
      body = formatFloatG(a, spec.prec ?? -1);
      break;
    case "G":
      body = formatFloatG(a, spec.prec ?? -1).toUpperCase();
      break;
    case "f":
    case "F":
      body = toFixed(a, spec.prec ?? 6);
      break;
    case "e":
      body = fmtExp(a, spec.prec ?? 6, false);
      break;
    case "x":
    case "X":
      body = fmtHexFloat(a, spec.prec ?? -1, verb === "X");
      break;
    case "E":
      body = fmtExp(a, spec.prec ?? 6, true);
      break;
    default:
      return undefined;
  }
  return signed(neg, body, spec);
}

/** Go's strconv.FormatFloat(f, 'x', prec, 64) for f >= 0: `0x1.8p+00`. */
function fmtHexFloat(f: number, prec: number, upper: boolean): string {
  let mant: bigint;
  let exp: number;
  if (f === 0) {
    mant = 0n;
    exp = 0;
  } else {
    const dv = new DataView(new ArrayBuffer(8));
    dv.setFloat64(0, f);
    const bits = dv.getBigUint64(0);
    const e = Number((bits >> 52n) & 0x7ffn);
    mant = bits & ((1n << 52n) - 1n);
    if (e === 0) {
      exp = -1022;
      // normalise a subnormal so the leading bit is the implicit 1
      while (!(mant & (1n << 52n))) {
        mant <<= 1n;
        exp--;
      }
      mant &= (1n << 52n) - 1n;
    } else exp = e - 1023;
  }
  // 52 fraction bits = 13 hex digits
  let frac = mant.toString(16).padStart(13, "0");
  if (prec < 0) frac = frac.replace(/0+$/, "");
  else if (prec < 13) {
    // round half to even on the dropped digits
    const keep = BigInt("0x" + (frac.slice(0, prec) || "0"));
    const rest = frac.slice(prec);
    const half = "8" + "0".repeat(rest.length - 1);
    let k = keep;
    let lead = 1n;
    if (rest > half || (rest === half && (keep & 1n) === 1n)) {
      k = keep + 1n;
      if (k >= 16n ** BigInt(prec)) {
        k = 0n;
        lead = 2n;
      }
    }
    frac = prec ? k.toString(16).padStart(prec, "0") : "";
    if (lead === 2n) {
      exp++;
    }
  } else frac = frac.padEnd(prec, "0");
  const es = Math.abs(exp) < 10 ? "0" + Math.abs(exp) : String(Math.abs(exp));
  const lead = f === 0 ? "0" : "1";
  const s = `0x${lead}${frac ? "." + frac : ""}p${exp < 0 ? "-" : "+"}${es}`;
  return upper ? s.toUpperCase() : s;
}

function toFixed(a: number, prec: number): string {
  if (a < 1e21 && prec <= 100) return a.toFixed(prec);
  const int = BigInt(Math.round(a)).toString();
  return prec > 0 ? int + "." + "0".repeat(prec) : int;
}

/** Go's strconv.Quote (approximately: escapes control and non-printable characters). */
export function goQuote(s: string, q = '"'): string {
  let out = q;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === q || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\x07") out += "\\a";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (ch === "\v") out += "\\v";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else if (c === 0xfffd && ch !== "\ufffd") out += "\\ufffd";
    else out += ch;
  }
  return out + q;
}

function fmtString(s: string, verb: string, spec: Spec): string | undefined {
  switch (verb) {
    case "s":
    case "v":
      return spec.prec !== undefined ? [...s].slice(0, spec.prec).join("") : s;
    case "q":
      return spec.sharp && !s.includes("`") ? "`" + s + "`" : goQuote(s);
    case "x":
    case "X": {
      let h = Buffer.from(s, "utf8").toString("hex");
      if (verb === "X") h = h.toUpperCase();
      return h;
    }
    default:
      return undefined;
  }
}

/** Go's parseArgNumber: `[n]` at format[i] -> zero-based index, chars consumed, ok. */
function parseArgNumber(format: string, i: number): [number, number, boolean] {
  if (format.length - i < 3) return [0, 1, false];
  for (let j = i + 1; j < format.length; j++) {
    if (format[j] === "]") {
      const num = format.slice(i + 1, j);
      if (!/^[0-9]+$/.test(num) || Number(num) > 1e6) return [0, j - i + 1, false];
      return [Number(num) - 1, j - i + 1, true];
    }
  }
  return [0, 1, false];
}

export function sprintf(format: string, args: GoArg[]): string {
  let out = "";
  let argi = 0;
  let i = 0;
  let reordered = false;
  let goodArgNum = true;
  // Go's argNumber: an explicit `[n]` index moves the argument cursor
  const argNumber = (): boolean => {
    if (i >= format.length || format[i] !== "[") return false;
    reordered = true;
    const [index, wid, ok] = parseArgNumber(format, i);
    i += wid;
    if (ok && index >= 0 && index < args.length) {
      argi = index;
      return true;
    }
    goodArgNum = false;
    return ok;
  };
  const n = format.length;
  while (i < n) {
    const c = format[i]!;
    if (c !== "%") {
      out += c;
      i++;
      continue;
    }
    i++;
    goodArgNum = true;
    const spec: Spec = { minus: false, plus: false, space: false, zero: false, sharp: false };
    for (; i < n; i++) {
      const f = format[i];
      if (f === "-") {
        spec.minus = true;
        spec.zero = false;
      } else if (f === "+") spec.plus = true;
      else if (f === " ") spec.space = true;
      else if (f === "0") spec.zero = !spec.minus;
      else if (f === "#") spec.sharp = true;
      else break;
    }
    let afterIndex = argNumber();
    // width
    if (format[i] === "*") {
      i++;
      const a = args[argi++];
      if (a && a.t === "int") {
        spec.width = Number(a.v);
        if (spec.width < 0) {
          spec.width = -spec.width;
          spec.minus = true;
          spec.zero = false;
        }
      } else out += "%!(BADWIDTH)";
      afterIndex = false;
    } else {
      let w = "";
      while (i < n && format[i]! >= "0" && format[i]! <= "9") w += format[i++];
      if (w) {
        // Go rejects widths over 1e6 instead of allocating them
        if (Number(w) > 1e6) out += "%!(BADWIDTH)";
        else spec.width = Number(w);
        if (afterIndex) goodArgNum = false; // "%[3]2d"
      }
    }
    if (i + 1 < n && format[i] === ".") {
      i++;
      if (afterIndex) goodArgNum = false; // "%[3].2d"
      afterIndex = argNumber();
      if (format[i] === "*") {
        afterIndex = false;
        i++;
        const a = args[argi++];
        if (a && a.t === "int") spec.prec = Number(a.v);
        else out += "%!(BADPREC)";
      } else {
        let p = "";
        while (i < n && format[i]! >= "0" && format[i]! <= "9") p += format[i++];
        if (Number(p) > 1e6) out += "%!(BADPREC)";
        else spec.prec = p ? Number(p) : 0;
      }
    } else if (format[i] === "." && i + 1 >= n) {
      i++;
      spec.prec = 0;
    }
    if (!afterIndex) argNumber();
    if (i >= n) {
      out += "%!(NOVERB)";
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === "%") {
      out += "%";
      continue;
    }
    if (!goodArgNum) {
      out += `%!${verb}(BADINDEX)`;
      continue;
    }
    // %#v is Go syntax (strings quoted), %+v is struct-field syntax: neither means `#`/`+` for the value itself
    let sharpV = false;
    if (verb === "v") {
      sharpV = spec.sharp;
      spec.sharp = false;
      spec.plus = false;
    }
    const a = args[argi];
    if (a === undefined) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    argi++;
    if (verb === "T") {
      out += pad(goTypeName(a), spec, false);
      continue;
    }
    let r: string | undefined;
    let numeric = false;
    switch (a.t) {
      case "int":
        r = fmtInt(a.v, verb, spec);
        numeric = true;
        break;
      case "bigint":
        r = "bdoxXsv".includes(verb) ? fmtInt(a.v, verb === "s" || verb === "v" ? "d" : verb, spec) : undefined;
        numeric = true;
        if (r === undefined) r = `%!${verb}(big.Int=${a.v.toString()})`;
        break;
      case "float":
        r = fmtFloat(a.v, verb, spec);
        numeric = true;
        break;
      case "string":
        r = sharpV ? goQuote(a.v) : fmtString(a.v, verb, spec);
        break;
    }
    out += r === undefined ? bad(verb, a) : pad(r, spec, numeric && r[0] !== "%");
  }
  if (!reordered && argi < args.length) {
    out +=
      "%!(EXTRA " +
      args
        .slice(argi)
        .map((a) => `${goTypeName(a)}=${plainValue(a)}`)
        .join(", ") +
      ")";
  }
  return out;
}
