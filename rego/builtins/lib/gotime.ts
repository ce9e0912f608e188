// Go-compatible time handling (layouts, RFC3339, durations, zones) for OPA's time.* builtins.
// Instants are bigint nanoseconds since the Unix epoch; civil fields are derived with a zone offset.

export class GoTimeError extends Error {}

export const NAMED_LAYOUTS: Record<string, string> = {
  ANSIC: "Mon Jan _2 15:04:05 2006",
  UnixDate: "Mon Jan _2 15:04:05 MST 2006",
  RubyDate: "Mon Jan 02 15:04:05 -0700 2006",
  RFC822: "02 Jan 06 15:04 MST",
  RFC822Z: "02 Jan 06 15:04 -0700",
  RFC850: "Monday, 02-Jan-06 15:04:05 MST",
  RFC1123: "Mon, 02 Jan 2006 15:04:05 MST",
  RFC1123Z: "Mon, 02 Jan 2006 15:04:05 -0700",
  RFC3339: "2006-01-02T15:04:05Z07:00",
  RFC3339Nano: "2006-01-02T15:04:05.999999999Z07:00",
};

export const MIN_NS = -(2n ** 63n);
export const MAX_NS = 2n ** 63n - 1n;
const NS_PER_SEC = 1_000_000_000n;

const LONG_MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const SHORT_MONTHS = LONG_MONTHS.map((m) => m.slice(0, 3));
const LONG_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const SHORT_DAYS = LONG_DAYS.map((d) => d.slice(0, 3));

// ---- calendar arithmetic (proleptic Gregorian), days since 1970-01-01 ----

export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const y = yoe + era * 400;
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [m <= 2 ? y + 1 : y, m, d];
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function daysIn(month: number, year: number): number {
  if (month === 2) return isLeap(year) ? 29 : 28;
  return DAYS_IN_MONTH[month - 1]!;
}

// ---- zones ----

export interface Zone {
  name: string;
  /** offset in seconds east of UTC at the given unix second, and the abbreviation in effect */
  lookup(unixSec: number): { offset: number; abbrev: string };
}

export const UTC: Zone = { name: "UTC", lookup: () => ({ offset: 0, abbrev: "UTC" }) };

export function fixedZone(name: string, offset: number): Zone {
  return { name, lookup: () => ({ offset, abbrev: name }) };
}

const zoneCache = new Map<string, Zone>();

// tzdata abbreviations Go prints for common zones that Intl (en-US) only names as "GMT+h": [std, dst, std offset h].
const H = 3600;
const CET: [string, string, number] = ["CET", "CEST", 1 * H];
const EET: [string, string, number] = ["EET", "EEST", 2 * H];
const ABBREVIATIONS: Record<string, [string, string, number]> = {
  "Europe/London": ["GMT", "BST", 0],
  "Europe/Dublin": ["GMT", "IST", 0],
  "Europe/Lisbon": ["WET", "WEST", 0],
  "Europe/Paris": CET,
  "Europe/Berlin": CET,
  "Europe/Madrid": CET,
  "Europe/Rome": CET,
  "Europe/Amsterdam": CET,
  "Europe/Brussels": CET,
  "Europe/Vienna": CET,
  "Europe/Zurich": CET,
  "Europe/Stockholm": CET,
  "Europe/Oslo": CET,
  "Europe/Copenhagen": CET,
  "Europe/Prague": CET,
  "Europe/Warsaw": CET,
  "Europe/Budapest": CET,
  "Europe/Belgrade": CET,
  "Europe/Luxembourg": CET,
  "Europe/Monaco": CET,
  "Africa/Lagos": ["WAT", "WAT", 1 * H],
  "Europe/Athens": EET,
  "Europe/Helsinki": EET,
  "Europe/Kiev": EET,
  "Europe/Kyiv": EET,
  "Europe/Bucharest": EET,
  "Europe/Sofia": EET,
  "Europe/Riga": EET,
  "Europe/Vilnius": EET,
  "Europe/Tallinn": EET,
  "Africa/Cairo": EET,
  "Europe/Moscow": ["MSK", "MSK", 3 * H],
  "Africa/Johannesburg": ["SAST", "SAST", 2 * H],
  "Africa/Nairobi": ["EAT", "EAT", 3 * H],
  "Asia/Kolkata": ["IST", "IST", 5.5 * H],
  "Asia/Calcutta": ["IST", "IST", 5.5 * H],
  "Asia/Jerusalem": ["IST", "IDT", 2 * H],
  "Asia/Tokyo": ["JST", "JST", 9 * H],
  "Asia/Seoul": ["KST", "KST", 9 * H],
  "Asia/Shanghai": ["CST", "CST", 8 * H],
  "Asia/Hong_Kong": ["HKT", "HKT", 8 * H],
  "Asia/Manila": ["PST", "PST", 8 * H],
  "Asia/Karachi": ["PKT", "PKT", 5 * H],
  "Australia/Sydney": ["AEST", "AEDT", 10 * H],
  "Australia/Melbourne": ["AEST", "AEDT", 10 * H],
  "Australia/Brisbane": ["AEST", "AEST", 10 * H],
  "Australia/Adelaide": ["ACST", "ACDT", 9.5 * H],
  "Australia/Perth": ["AWST", "AWST", 8 * H],
  "Pacific/Auckland": ["NZST", "NZDT", 12 * H],
};

/** Loads an IANA zone through Intl; throws GoTimeError with Go's message when unknown. */
export function loadLocation(name: string): Zone {
  if (name === "" || name === "UTC") return UTC;
  if (name === "Local") return UTC; // the sidecar runs with UTC as its local zone
  const cached = zoneCache.get(name);
  if (cached) return cached;
  let fmt: Intl.DateTimeFormat;
  let abbrFmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: name,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      era: "short",
    });
    abbrFmt = new Intl.DateTimeFormat("en-US", { timeZone: name, timeZoneName: "short" });
  } catch {
    throw new GoTimeError(`unknown time zone ${name}`);
  }
  const zone: Zone = {
    name,
    lookup(unixSec: number) {
      // Intl only handles +-8.64e15 ms; clamp to keep far-out instants working with the edge offset.
      const ms = Math.max(-8.64e15, Math.min(8.64e15, unixSec * 1000));
      const parts = fmt.formatToParts(ms);
      const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? "0");
      let year = get("year");
      if (parts.find((p) => p.type === "era")?.value === "BC") year = 1 - year;
      const local =
        daysFromCivil(year, get("month"), get("day")) * 86400 + get("hour") * 3600 + get("minute") * 60 + get("second");
      const offset = local - Math.floor(ms / 1000);
      let abbrev = abbrFmt.formatToParts(ms).find((p) => p.type === "timeZoneName")?.value ?? name;
      const known = ABBREVIATIONS[name];
      const m = /^GMT([+-])(\d{1,2})(?::(\d\d))?$/.exec(abbrev);
      if (known) abbrev = offset === known[2] ? known[0] : known[1];
      else if (m) abbrev = `${m[1]}${m[2]!.padStart(2, "0")}${m[3] && m[3] !== "00" ? m[3] : ""}`;
      return { offset, abbrev };
    },
  };
  zoneCache.set(name, zone);
  return zone;
}

// ---- a Go-like time value ----

export interface GoTime {
  ns: bigint; // unix nanoseconds (may exceed int64 during parsing; checked by callers)
  zone: Zone;
}

export interface Civil {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  nano: number;
  weekday: number; // 0 = Sunday
  yday: number; // 1-based
  offset: number;
  abbrev: string;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

export function civil(t: GoTime): Civil {
  const sec = floorDiv(t.ns, NS_PER_SEC);
  const nano = Number(t.ns - sec * NS_PER_SEC);
  const { offset, abbrev } = t.zone.lookup(Number(sec));
  const local = Number(sec) + offset;
  const days = Math.floor(local / 86400);
  const secOfDay = local - days * 86400;
  const [year, month, day] = civilFromDays(days);
  return {
    year,
    month,
    day,
    hour: Math.floor(secOfDay / 3600),
    minute: Math.floor((secOfDay % 3600) / 60),
    second: secOfDay % 60,
    nano,
    weekday: (((days + 4) % 7) + 7) % 7,
    yday: days - daysFromCivil(year, 1, 1) + 1,
    offset,
    abbrev,
  };
}

/** Go's time.Date: normalises out-of-range fields and resolves the local time in zone. */
export function goDate(
  year: number,
  month: number,
  day: number,
  hour: number,
  min: number,
  sec: number,
  nsec: number,
  zone: Zone,
): GoTime {
  // normalise month into year
  let m = month - 1;
  year += Math.floor(m / 12);
  m = ((m % 12) + 12) % 12;
  const base = daysFromCivil(year, m + 1, 1) + (day - 1);
  let local = BigInt(base) * 86400n + BigInt(hour) * 3600n + BigInt(min) * 60n + BigInt(sec);
  local = local * NS_PER_SEC + BigInt(nsec);
  const localSec = Number(floorDiv(local, NS_PER_SEC));
  // Go: look up the offset at (local - offset guess), and re-check as time.Date does.
  let { offset } = zone.lookup(localSec);
  const utc = localSec - offset;
  const o2 = zone.lookup(utc).offset;
  if (o2 !== offset) {
    const o3 = zone.lookup(localSec - o2).offset;
    if (o3 === o2) offset = o2;
  }
  return { ns: local - BigInt(offset) * NS_PER_SEC, zone };
}

export function addDate(t: GoTime, years: number, months: number, days: number): GoTime {
  const c = civil(t);
  return goDate(c.year + years, c.month + months, c.day + days, c.hour, c.minute, c.second, c.nano, t.zone);
}

// ---- layout tokenizer (mirrors Go's nextStdChunk) ----

type Std =
  | { k: "lit"; s: string }
  | { k: "LongMonth" | "Month" | "NumMonth" | "ZeroMonth" | "LongWeekDay" | "WeekDay" | "Day" | "UnderDay" | "ZeroDay" }
  | {
      k:
        | "UnderYearDay"
        | "ZeroYearDay"
        | "Hour"
        | "Hour12"
        | "ZeroHour12"
        | "Minute"
        | "ZeroMinute"
        | "Second"
        | "ZeroSecond";
    }
  | { k: "LongYear" | "Year" | "PM" | "pm" | "TZ" }
  | { k: "ISO8601TZ" | "ISO8601SecondsTZ" | "ISO8601ShortTZ" | "ISO8601ColonTZ" | "ISO8601ColonSecondsTZ" }
  | { k: "NumTZ" | "NumSecondsTz" | "NumShortTZ" | "NumColonTZ" | "NumColonSecondsTZ" }
  | { k: "Frac0" | "Frac9"; n: number; sep: string };

function isDigitAt(s: string, i: number): boolean {
  return i < s.length && s[i]! >= "0" && s[i]! <= "9";
}
function startsWithLower(s: string): boolean {
  return s.length > 0 && s[0]! >= "a" && s[0]! <= "z";
}

const layoutCache = new Map<string, { std: Std; text: string }[]>();

/** Splits a layout into literal and std chunks; `text` is the layout text the chunk came from. */
export function tokenizeLayout(layout: string): { std: Std; text: string }[] {
  const hit = layoutCache.get(layout);
  if (hit) return hit;
  const out: { std: Std; text: string }[] = [];
  let lit = "";
  let i = 0;
  const push = (std: Std, len: number) => {
    if (lit) out.push({ std: { k: "lit", s: lit }, text: lit });
    lit = "";
    out.push({ std, text: layout.slice(i, i + len) });
    i += len;
  };
  const at = (s: string) => layout.startsWith(s, i);
  while (i < layout.length) {
    const c = layout[i]!;
    if (c === "J" && at("Jan")) {
      if (at("January")) {
        push({ k: "LongMonth" }, 7);
        continue;
      }
      if (!startsWithLower(layout.slice(i + 3))) {
        push({ k: "Month" }, 3);
        continue;
      }
    } else if (c === "M") {
      if (at("Mon")) {
        if (at("Monday")) {
          push({ k: "LongWeekDay" }, 6);
          continue;
        }
        if (!startsWithLower(layout.slice(i + 3))) {
          push({ k: "WeekDay" }, 3);
          continue;
        }
      }
      if (at("MST")) {
        push({ k: "TZ" }, 3);
        continue;
      }
    } else if (c === "0") {
      const n = layout[i + 1];
      if (n !== undefined && n >= "1" && n <= "6") {
        const kinds = ["ZeroMonth", "ZeroDay", "ZeroHour12", "ZeroMinute", "ZeroSecond", "Year"] as const;
        push({ k: kinds[Number(n) - 1]! }, 2);
        continue;
      }
      if (at("002")) {
        push({ k: "ZeroYearDay" }, 3);
        continue;
      }
    } else if (c === "1") {
      if (at("15")) {
        push({ k: "Hour" }, 2);
        continue;
      }
      push({ k: "NumMonth" }, 1);
      continue;
    } else if (c === "2") {
      if (at("2006")) {
        push({ k: "LongYear" }, 4);
        continue;
      }
      push({ k: "Day" }, 1);
      continue;
    } else if (c === "_") {
      if (layout[i + 1] === "2") {
        if (layout.startsWith("2006", i + 1)) {
          lit += "_";
          i++;
          push({ k: "LongYear" }, 4);
          continue;
        }
        push({ k: "UnderDay" }, 2);
        continue;
      }
      if (at("__2")) {
        push({ k: "UnderYearDay" }, 3);
        continue;
      }
    } else if (c === "3") {
      push({ k: "Hour12" }, 1);
      continue;
    } else if (c === "4") {
      push({ k: "Minute" }, 1);
      continue;
    } else if (c === "5") {
      push({ k: "Second" }, 1);
      continue;
    } else if (c === "P" && layout[i + 1] === "M") {
      push({ k: "PM" }, 2);
      continue;
    } else if (c === "p" && layout[i + 1] === "m") {
      push({ k: "pm" }, 2);
      continue;
    } else if (c === "-") {
      if (at("-070000")) {
        push({ k: "NumSecondsTz" }, 7);
        continue;
      }
      if (at("-07:00:00")) {
        push({ k: "NumColonSecondsTZ" }, 9);
        continue;
      }
      if (at("-0700")) {
        push({ k: "NumTZ" }, 5);
        continue;
      }
      if (at("-07:00")) {
        push({ k: "NumColonTZ" }, 6);
        continue;
      }
      if (at("-07")) {
        push({ k: "NumShortTZ" }, 3);
        continue;
      }
    } else if (c === "Z") {
      if (at("Z070000")) {
        push({ k: "ISO8601SecondsTZ" }, 7);
        continue;
      }
      if (at("Z07:00:00")) {
        push({ k: "ISO8601ColonSecondsTZ" }, 9);
        continue;
      }
      if (at("Z0700")) {
        push({ k: "ISO8601TZ" }, 5);
        continue;
      }
      if (at("Z07:00")) {
        push({ k: "ISO8601ColonTZ" }, 6);
        continue;
      }
      if (at("Z07")) {
        push({ k: "ISO8601ShortTZ" }, 3);
        continue;
      }
    } else if ((c === "." || c === ",") && (layout[i + 1] === "0" || layout[i + 1] === "9")) {
      const ch = layout[i + 1]!;
      let j = i + 1;
      while (j < layout.length && layout[j] === ch) j++;
      if (!isDigitAt(layout, j)) {
        push({ k: ch === "0" ? "Frac0" : "Frac9", n: j - (i + 1), sep: c }, j - i);
        continue;
      }
    }
    lit += c;
    i++;
  }
  if (lit) out.push({ std: { k: "lit", s: lit }, text: lit });
  layoutCache.set(layout, out);
  return out;
}

// ---- formatting ----

function pad(n: number, width: number): string {
  const s = String(Math.abs(n)).padStart(width, "0");
  return n < 0 ? "-" + s : s;
}

export function format(t: GoTime, layout: string): string {
  const c = civil(t);
  let out = "";
  for (const { std } of tokenizeLayout(layout)) {
    switch (std.k) {
      case "lit":
        out += std.s;
        break;
      case "Year":
        out += pad(((c.year % 100) + 100) % 100, 2);
        break;
      case "LongYear":
        out += c.year < 0 ? "-" + pad(-c.year, 4) : pad(c.year, 4);
        break;
      case "Month":
        out += SHORT_MONTHS[c.month - 1];
        break;
      case "LongMonth":
        out += LONG_MONTHS[c.month - 1];
        break;
      case "NumMonth":
        out += String(c.month);
        break;
      case "ZeroMonth":
        out += pad(c.month, 2);
        break;
      case "WeekDay":
        out += SHORT_DAYS[c.weekday];
        break;
      case "LongWeekDay":
        out += LONG_DAYS[c.weekday];
        break;
      case "Day":
        out += String(c.day);
        break;
      case "UnderDay":
        out += (c.day < 10 ? " " : "") + String(c.day);
        break;
      case "ZeroDay":
        out += pad(c.day, 2);
        break;
      case "UnderYearDay":
        out += String(c.yday).padStart(3, " ");
        break;
      case "ZeroYearDay":
        out += pad(c.yday, 3);
        break;
      case "Hour":
        out += pad(c.hour, 2);
        break;
      case "Hour12":
        out += String(c.hour % 12 === 0 ? 12 : c.hour % 12);
        break;
      case "ZeroHour12":
        out += pad(c.hour % 12 === 0 ? 12 : c.hour % 12, 2);
        break;
      case "Minute":
        out += String(c.minute);
        break;
      case "ZeroMinute":
        out += pad(c.minute, 2);
        break;
      case "Second":
        out += String(c.second);
        break;
      case "ZeroSecond":
        out += pad(c.second, 2);
        break;
      case "PM":
        out += c.hour >= 12 ? "PM" : "AM";
        break;
      case "pm":
        out += c.hour >= 12 ? "pm" : "am";
        break;
      case "TZ": {
        if (c.abbrev && !/^[+-]/.test(c.abbrev)) out += c.abbrev;
        else {
          const z = Math.floor(Math.abs(c.offset) / 60);
          out += (c.offset < 0 ? "-" : "+") + pad(Math.floor(z / 60), 2) + (z % 60 ? pad(z % 60, 2) : "");
        }
        break;
      }
      case "Frac0":
      case "Frac9": {
        const digits = String(c.nano).padStart(9, "0").slice(0, std.n);
        if (std.k === "Frac0") out += std.sep + digits;
        else {
          const trimmed = digits.replace(/0+$/, "");
          if (trimmed) out += std.sep + trimmed;
        }
        break;
      }
      default: {
        // numeric zones
        const k = std.k;
        if (k.startsWith("ISO8601") && c.offset === 0) {
          out += "Z";
          break;
        }
        const zs = Math.abs(c.offset);
        const sign = c.offset < 0 ? "-" : "+";
        const hh = pad(Math.floor(zs / 3600), 2);
        const mm = pad(Math.floor((zs % 3600) / 60), 2);
        const ss = pad(zs % 60, 2);
        const colon = k.includes("Colon");
        if (k.endsWith("ShortTZ")) out += sign + hh;
        else if (k.includes("Seconds") || k === "NumSecondsTz")
          out += sign + hh + (colon ? ":" : "") + mm + (colon ? ":" : "") + ss;
        else out += sign + hh + (colon ? ":" : "") + mm;
      }
    }
  }
  return out;
}

// ---- parsing ----

function quote(s: string): string {
  return JSON.stringify(s);
}

function parseErr(layout: string, value: string, layoutElem: string, valueElem: string, msg = ""): GoTimeError {
  if (msg) return new GoTimeError(`parsing time ${quote(value)}${msg}`);
  return new GoTimeError(
    `parsing time ${quote(value)} as ${quote(layout)}: cannot parse ${quote(valueElem)} as ${quote(layoutElem)}`,
  );
}

function getNum(s: string, fixed: boolean): [number, string] | null {
  if (!isDigitAt(s, 0)) return null;
  if (!isDigitAt(s, 1)) {
    if (fixed) return null;
    return [Number(s[0]), s.slice(1)];
  }
  return [Number(s.slice(0, 2)), s.slice(2)];
}

function getNum3(s: string, fixed: boolean): [number, string] | null {
  let n = 0;
  let i = 0;
  for (; i < 3 && isDigitAt(s, i); i++) n = n * 10 + Number(s[i]);
  if (i === 0 || (fixed && i !== 3)) return null;
  return [n, s.slice(i)];
}

function lookupName(table: string[], val: string): [number, string] | null {
  for (let i = 0; i < table.length; i++) {
    const v = table[i]!;
    if (val.length >= v.length && val.slice(0, v.length).toLowerCase() === v.toLowerCase())
      return [i, val.slice(v.length)];
  }
  return null;
}

function parseTimeZone(value: string): number {
  if (value.length < 3) return 0;
  if (value.length >= 4 && (value.startsWith("ChST") || value.startsWith("MeST"))) return 4;
  if (value.startsWith("GMT")) {
    // GMT+h / GMT-h
    let n = 3;
    if (value.length > 3 && (value[3] === "+" || value[3] === "-")) {
      let j = 4;
      while (isDigitAt(value, j)) j++;
      const num = Number(value.slice(4, j));
      if (j > 4 && num <= 23 && !(value[4] === "0" && j > 5)) n = j;
    }
    return n;
  }
  if (value[0] === "+" || value[0] === "-") {
    // numeric abbreviation like +03 / -0330
    let j = 1;
    while (isDigitAt(value, j)) j++;
    return j === 3 || j === 5 ? j : 0;
  }
  let nUpper = 0;
  for (; nUpper < 6 && nUpper < value.length; nUpper++) {
    const ch = value[nUpper]!;
    if (ch < "A" || ch > "Z") break;
  }
  if (nUpper === 0 || nUpper === 1 || nUpper === 2 || nUpper === 6) return 0;
  if (nUpper === 5) return value[4] === "T" ? 5 : 0;
  if (nUpper === 4) return value[3] === "T" || value.startsWith("WITA") ? 4 : 0;
  return 3;
}

/** Go's time.Parse (no default location: zone abbreviations other than UTC resolve to offset 0). */
export function parse(layout: string, value: string): GoTime {
  const alayout = layout;
  const avalue = value;
  let year = 0,
    month = -1,
    day = -1,
    yday = -1,
    hour = 0,
    min = 0,
    sec = 0,
    nsec = 0;
  let pmSet = false,
    amSet = false;
  let zoneOffset = -1;
  let zoneName = "";
  const chunks = tokenizeLayout(layout);
  for (let ci = 0; ci < chunks.length; ci++) {
    const { std, text } = chunks[ci]!;
    if (std.k === "lit") {
      // Go skips spaces leniently only around literal spaces; compare byte-for-byte otherwise
      let p = std.s;
      let v = value;
      while (p.length > 0) {
        if (p[0] === " ") {
          if (v.length > 0 && v[0] !== " ") return fail(text, value);
          p = p.replace(/^ +/, "");
          v = v.replace(/^ +/, "");
          continue;
        }
        if (v.length === 0 || v[0] !== p[0]) return fail(text, value);
        p = p.slice(1);
        v = v.slice(1);
      }
      value = v;
      continue;
    }
    const hold = value;
    let ok = true;
    let r: [number, string] | null = null;
    const k = std.k;
    switch (k) {
      case "Year": {
        if (value.length < 2 || !isDigitAt(value, 0) || !isDigitAt(value, 1)) {
          ok = false;
          break;
        }
        year = Number(value.slice(0, 2));
        value = value.slice(2);
        year += year >= 69 ? 1900 : 2000;
        break;
      }
      case "LongYear": {
        if (value.length < 4 || ![0, 1, 2, 3].every((i) => isDigitAt(value, i))) {
          ok = false;
          break;
        }
        year = Number(value.slice(0, 4));
        value = value.slice(4);
        break;
      }
      case "Month":
      case "LongMonth":
        r = lookupName(k === "Month" ? SHORT_MONTHS : LONG_MONTHS, value);
        if (!r) {
          ok = false;
          break;
        }
        month = r[0] + 1;
        value = r[1];
        break;
      case "NumMonth":
      case "ZeroMonth":
        r = getNum(value, k === "ZeroMonth");
        if (!r || r[0] <= 0 || r[0] > 12) {
          if (r) return rangeErr("month", avalue);
          ok = false;
          break;
        }
        month = r[0];
        value = r[1];
        break;
      case "WeekDay":
      case "LongWeekDay":
        r = lookupName(k === "WeekDay" ? SHORT_DAYS : LONG_DAYS, value);
        if (!r) {
          ok = false;
          break;
        }
        value = r[1];
        break;
      case "Day":
      case "UnderDay":
      case "ZeroDay":
        if (k === "UnderDay" && value.length > 0 && value[0] === " ") value = value.slice(1);
        r = getNum(value, k === "ZeroDay");
        if (!r) {
          ok = false;
          break;
        }
        day = r[0];
        value = r[1];
        break;
      case "UnderYearDay":
      case "ZeroYearDay":
        for (let i = 0; i < 2; i++)
          if (k === "UnderYearDay" && value.length > 0 && value[0] === " ") value = value.slice(1);
        r = getNum3(value, k === "ZeroYearDay");
        if (!r) {
          ok = false;
          break;
        }
        yday = r[0];
        value = r[1];
        break;
      case "Hour":
        r = getNum(value, false);
        if (!r) {
          ok = false;
          break;
        }
        if (r[0] < 0 || r[0] >= 24) return rangeErr("hour", avalue);
        hour = r[0];
        value = r[1];
        break;
      case "Hour12":
      case "ZeroHour12":
        r = getNum(value, k === "ZeroHour12");
        if (!r) {
          ok = false;
          break;
        }
        if (r[0] < 0 || r[0] > 12) return rangeErr("hour", avalue);
        hour = r[0];
        value = r[1];
        break;
      case "Minute":
      case "ZeroMinute":
        r = getNum(value, k === "ZeroMinute");
        if (!r) {
          ok = false;
          break;
        }
        if (r[0] < 0 || r[0] >= 60) return rangeErr("minute", avalue);
        min = r[0];
        value = r[1];
        break;
      case "Second":
      case "ZeroSecond": {
        r = getNum(value, k === "ZeroSecond");
        if (!r) {
          ok = false;
          break;
        }
        if (r[0] < 0 || r[0] >= 60) return rangeErr("second", avalue);
        sec = r[0];
        value = r[1];
        // a fractional second in the value is accepted even if the layout has none
        if (value.length >= 2 && (value[0] === "." || value[0] === ",") && isDigitAt(value, 1)) {
          const next = chunks[ci + 1]?.std;
          if (next && (next.k === "Frac0" || next.k === "Frac9")) break;
          let n = 1;
          while (n < value.length && isDigitAt(value, n)) n++;
          nsec = parseNanos(value.slice(0, n));
          value = value.slice(n);
        }
        break;
      }
      case "PM":
        if (value.length < 2) {
          ok = false;
          break;
        }
        if (value.slice(0, 2) === "PM") pmSet = true;
        else if (value.slice(0, 2) === "AM") amSet = true;
        else {
          ok = false;
          break;
        }
        value = value.slice(2);
        break;
      case "pm":
        if (value.length < 2) {
          ok = false;
          break;
        }
        if (value.slice(0, 2) === "pm") pmSet = true;
        else if (value.slice(0, 2) === "am") amSet = true;
        else {
          ok = false;
          break;
        }
        value = value.slice(2);
        break;
      case "TZ": {
        if (value.length >= 3 && value.slice(0, 3) === "UTC") {
          zoneName = "UTC";
          value = value.slice(3);
          break;
        }
        const n = parseTimeZone(value);
        if (n === 0) {
          ok = false;
          break;
        }
        zoneName = value.slice(0, n);
        value = value.slice(n);
        break;
      }
      case "Frac0": {
        const ndigit = 1 + std.n;
        if (value.length < ndigit || (value[0] !== "." && value[0] !== ",")) {
          ok = false;
          break;
        }
        for (let i = 1; i < ndigit; i++)
          if (!isDigitAt(value, i)) {
            ok = false;
            break;
          }
        if (!ok) break;
        nsec = parseNanos(value.slice(0, ndigit));
        value = value.slice(ndigit);
        break;
      }
      case "Frac9": {
        if (value.length < 2 || (value[0] !== "." && value[0] !== ",") || !isDigitAt(value, 1)) break;
        let i = 0;
        while (i + 1 < value.length && isDigitAt(value, i + 1)) i++;
        nsec = parseNanos(value.slice(0, 1 + i));
        value = value.slice(1 + i);
        break;
      }
      default: {
        // numeric zones (ISO8601 variants accept Z)
        if (k.startsWith("ISO8601") && value.length >= 1 && value[0] === "Z") {
          value = value.slice(1);
          zoneOffset = 0;
          zoneName = "UTC";
          break;
        }
        let sign = "",
          hh = "",
          mm = "00",
          ss = "00";
        const digits = (s: string, n: number) => s.length >= n && [...Array(n).keys()].every((i) => isDigitAt(s, i));
        if (k === "ISO8601ColonTZ" || k === "NumColonTZ") {
          if (value.length < 6 || value[3] !== ":") {
            ok = false;
            break;
          }
          sign = value[0]!;
          hh = value.slice(1, 3);
          mm = value.slice(4, 6);
          value = value.slice(6);
        } else if (k === "NumShortTZ" || k === "ISO8601ShortTZ") {
          if (value.length < 3) {
            ok = false;
            break;
          }
          sign = value[0]!;
          hh = value.slice(1, 3);
          value = value.slice(3);
        } else if (k === "ISO8601ColonSecondsTZ" || k === "NumColonSecondsTZ") {
          if (value.length < 9 || value[3] !== ":" || value[6] !== ":") {
            ok = false;
            break;
          }
          sign = value[0]!;
          hh = value.slice(1, 3);
          mm = value.slice(4, 6);
          ss = value.slice(7, 9);
          value = value.slice(9);
        } else if (k === "ISO8601SecondsTZ" || k === "NumSecondsTz") {
          if (value.length < 7) {
            ok = false;
            break;
          }
          sign = value[0]!;
          hh = value.slice(1, 3);
          mm = value.slice(3, 5);
          ss = value.slice(5, 7);
          value = value.slice(7);
        } else {
          if (value.length < 5) {
            ok = false;
            break;
          }
          sign = value[0]!;
          hh = value.slice(1, 3);
          mm = value.slice(3, 5);
          value = value.slice(5);
        }
        if (!digits(hh, 2) || !digits(mm, 2) || !digits(ss, 2) || (sign !== "+" && sign !== "-")) {
          ok = false;
          break;
        }
        const h = Number(hh),
          m = Number(mm),
          s = Number(ss);
        if (h > 24 || m > 60 || s > 60) return rangeErr("time zone offset", avalue);
        zoneOffset = (h * 60 + m) * 60 + s;
        if (sign === "-") zoneOffset = -zoneOffset;
      }
    }
    if (!ok) throw parseErr(alayout, avalue, text, hold);
  }
  if (value.length > 0) throw parseErr(alayout, avalue, "", "", `: extra text: ${quote(value)}`);
  if (pmSet && hour < 12) hour += 12;
  else if (amSet && hour === 12) hour = 0;

  if (yday >= 0) {
    let m = 0,
      d = 0;
    if (yday < 1 || yday > (isLeap(year) ? 366 : 365)) return rangeErr("day-of-year", avalue);
    const dd = daysFromCivil(year, 1, 1) + yday - 1;
    const [, cm, cd] = civilFromDays(dd);
    m = cm;
    d = cd;
    if (month >= 0 && month !== m) return rangeErr("day-of-year", avalue);
    if (day >= 0 && day !== d) return rangeErr("day-of-year", avalue);
    month = m;
    day = d;
  } else {
    if (month < 0) month = 1;
    if (day < 0) day = 1;
  }
  if (day < 1 || day > daysIn(month, year)) return rangeErr("day", avalue);

  if (zoneOffset !== -1 || (zoneName === "UTC" && zoneOffset === -1)) {
    const off = zoneOffset === -1 ? 0 : zoneOffset;
    const t = goDate(year, month, day, hour, min, sec, nsec, UTC);
    return { ns: t.ns - BigInt(off) * NS_PER_SEC, zone: off === 0 ? UTC : fixedZone("", off) };
  }
  if (zoneName !== "") {
    const t = goDate(year, month, day, hour, min, sec, nsec, UTC);
    let off = 0;
    const gm = /^GMT([+-]\d+)$/.exec(zoneName);
    if (gm) off = Number(gm[1]) * 3600;
    return { ns: t.ns - BigInt(off) * NS_PER_SEC, zone: fixedZone(zoneName, off) };
  }
  return goDate(year, month, day, hour, min, sec, nsec, UTC);

  function fail(elem: string, v: string): never {
    throw parseErr(alayout, avalue, elem, v);
  }
}

function rangeErr(what: string, value: string): never {
  throw new GoTimeError(`parsing time ${quote(value)}: ${what} out of range`);
}

function parseNanos(frac: string): number {
  // frac includes the leading separator
  const digits = frac.slice(1, 10).padEnd(9, "0");
  return Number(digits);
}

const RFC3339_FAST = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))$/;

export function parseRFC3339(value: string): GoTime {
  // Fast path for well-formed input; anything unusual (or out of range) goes through Go's general parser.
  const m = RFC3339_FAST.exec(value);
  if (m) {
    const y = +m[1]!,
      mo = +m[2]!,
      d = +m[3]!,
      h = +m[4]!,
      mi = +m[5]!,
      s = +m[6]!;
    if (mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(mo, y) && h < 24 && mi < 60 && s < 60) {
      const off = m[8] === "Z" ? 0 : (m[9] === "-" ? -1 : 1) * (Number(m[10]) * 3600 + Number(m[11]) * 60);
      if (Math.abs(off) < 24 * 3600) {
        const sec = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off;
        const nano = m[7] ? Number(m[7].padEnd(9, "0")) : 0;
        return { ns: BigInt(sec) * NS_PER_SEC + BigInt(nano), zone: off === 0 ? UTC : fixedZone("", off) };
      }
    }
  }
  return parse(NAMED_LAYOUTS.RFC3339!, value);
}

// ---- durations (Go's time.ParseDuration) ----

const UNIT_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1000n,
  µs: 1000n,
  μs: 1000n,
  ms: 1_000_000n,
  s: NS_PER_SEC,
  m: 60n * NS_PER_SEC,
  h: 3600n * NS_PER_SEC,
};

export function parseDuration(s: string): bigint {
  const orig = s;
  const bad = () => new GoTimeError(`time: invalid duration ${quote(orig)}`);
  let neg = false;
  if (s !== "" && (s[0] === "-" || s[0] === "+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") throw bad();
  let total = 0n;
  const limit = 1n << 63n;
  while (s !== "") {
    if (!(s[0] === "." || isDigitAt(s, 0))) throw bad();
    let i = 0;
    while (isDigitAt(s, i)) i++;
    const intPart = s.slice(0, i);
    s = s.slice(i);
    let fracPart = "";
    const pre = intPart !== "";
    let post = false;
    if (s[0] === ".") {
      s = s.slice(1);
      let j = 0;
      while (isDigitAt(s, j)) j++;
      fracPart = s.slice(0, j);
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) throw bad();
    let u = 0;
    while (u < s.length && s[u] !== "." && !isDigitAt(s, u)) u++;
    if (u === 0) throw new GoTimeError(`time: missing unit in duration ${quote(orig)}`);
    const unitName = s.slice(0, u);
    s = s.slice(u);
    const unit = UNIT_NS[unitName];
    if (unit === undefined) throw new GoTimeError(`time: unknown unit ${quote(unitName)} in duration ${quote(orig)}`);
    const v = BigInt(intPart || "0");
    let part = v * unit;
    if (fracPart) {
      // fractional part scaled down, truncating like Go's float path for exact units
      const scale = 10n ** BigInt(fracPart.length);
      part += (BigInt(fracPart) * unit) / scale;
    }
    total += part;
    if (total > limit) throw bad();
  }
  if (neg) total = -total;
  if (total > limit - 1n) throw bad();
  return total;
}

export function weekdayName(t: GoTime): string {
  return LONG_DAYS[civil(t).weekday]!;
}

/** OPA's time.diff (icza/gox algorithm): [years, months, days, hours, minutes, seconds]. */
export function diff(a: GoTime, b: GoTime): number[] {
  let t1 = a;
  let t2: GoTime = { ns: b.ns, zone: a.zone };
  if (t1.ns > t2.ns) [t1, t2] = [t2, t1];
  const c1 = civil(t1);
  const c2 = civil(t2);
  let year = c2.year - c1.year;
  let month = c2.month - c1.month;
  let day = c2.day - c1.day;
  let hour = c2.hour - c1.hour;
  let min = c2.minute - c1.minute;
  let sec = c2.second - c1.second;
  if (sec < 0) {
    sec += 60;
    min--;
  }
  if (min < 0) {
    min += 60;
    hour--;
  }
  if (hour < 0) {
    hour += 24;
    day--;
  }
  if (day < 0) {
    // days in month of t1: Date(y1, M1, 32) normalised
    const dim = daysIn(c1.month, c1.year);
    day += 32 - (32 - dim);
    month--;
  }
  if (month < 0) {
    month += 12;
    year--;
  }
  return [year, month, day, hour, min, sec];
}
