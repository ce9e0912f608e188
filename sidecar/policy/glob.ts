// Globs over dotted names (actions, tools) and host names, compiled once at load.
// `*` matches any run of characters including dots, so `*.company.com` matches every subdomain (but not
// `company.com` itself), `github.*` matches `github.issues.create`; `?` matches one character.

export interface GlobSet {
  readonly patterns: readonly string[];
  /** The first pattern that matches, or undefined. */
  match(name: string): string | undefined;
  test(name: string): boolean;
}

/** Wildcard match without regular expressions: the classic two-pointer algorithm with backtracking to the last `*`,
 * O(name × pattern) in the worst case. A RegExp with several `.*` backtracks polynomially, and names (tool names, hosts
 * in args) come from agents, so they can be long and chosen to be slow. */
export function wildcardMatch(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let mark = 0;
  while (n < name.length) {
    if (p < pattern.length && (pattern[p] === "?" || pattern[p] === name[n])) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      mark = n;
    } else if (star !== -1) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

/** Validates a glob: non-empty, no whitespace. Returns a message or undefined. */
export function globProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'is empty; use a name or a glob such as "github.*"';
  if (/\s/.test(pattern))
    return `${JSON.stringify(pattern)} contains whitespace; globs match names like "github.*" or hosts like "*.company.com"`;
  return undefined;
}

export function compileGlobs(patterns: readonly string[] = [], opts: { caseInsensitive?: boolean } = {}): GlobSet {
  const exact = new Set<string>();
  const wild: { p: string; key: string }[] = [];
  for (const p of patterns) {
    if (/[*?]/.test(p)) wild.push({ p, key: opts.caseInsensitive ? p.toLowerCase() : p });
    else exact.add(opts.caseInsensitive ? p.toLowerCase() : p);
  }
  const match = (name: string): string | undefined => {
    const key = opts.caseInsensitive ? name.toLowerCase() : name;
    if (exact.has(key)) return patterns.find((p) => (opts.caseInsensitive ? p.toLowerCase() : p) === key);
    for (const w of wild) if (wildcardMatch(w.key, key)) return w.p;
    return undefined;
  };
  return { patterns: [...patterns], match, test: (name) => match(name) !== undefined };
}

/** Host globs: case-insensitive. */
export function compileHostGlobs(patterns: readonly string[] = []): GlobSet {
  return compileGlobs(patterns, { caseInsensitive: true });
}
