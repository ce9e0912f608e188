// Semantic Versioning 2.0.0 parsing and precedence (OPA's internal/semver: strict, no "v" prefix).

export interface SemVer {
  major: bigint;
  minor: bigint;
  patch: bigint;
  pre: string[];
  build: string;
}

// OPA's internal/semver.Parse: metadata after the first `+`, pre-release after the first `-` (identifiers
// `[0-9A-Za-z-]+` separated by dots; numeric ones may have leading zeros), then exactly three dot-separated
// components read with strconv.ParseInt(s, 10, 64): leading zeros are accepted, values past int64 are not.
const IDENTS = /^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$/;
const INT64_MAX = 2n ** 63n - 1n;

function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v > INT64_MAX || v < -INT64_MAX - 1n ? undefined : v;
}

function cut(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + 1)];
}

export function parseSemver(s: string): SemVer | undefined {
  const [rest, build] = cut(s, "+");
  if (build !== "" && !IDENTS.test(build)) return undefined;
  const [version, pre] = cut(rest, "-");
  if (pre !== "" && !IDENTS.test(pre)) return undefined;
  const parts = version.split(".");
  if (parts.length !== 3) return undefined;
  const [major, minor, patch] = parts.map(parseInt64);
  if (major === undefined || minor === undefined || patch === undefined) return undefined;
  return { major, minor, patch, pre: pre ? pre.split(".") : [], build };
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpIdent(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return cmpBig(BigInt(a), BigInt(b));
  if (an) return -1;
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareSemver(a: SemVer, b: SemVer): number {
  const c = cmpBig(a.major, b.major) || cmpBig(a.minor, b.minor) || cmpBig(a.patch, b.patch);
  if (c) return c;
  if (a.pre.length === 0 && b.pre.length === 0) return 0;
  if (a.pre.length === 0) return 1;
  if (b.pre.length === 0) return -1;
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i++) {
    const d = cmpIdent(a.pre[i]!, b.pre[i]!);
    if (d) return d;
  }
  return a.pre.length < b.pre.length ? -1 : a.pre.length > b.pre.length ? 1 : 0;
}
