// Globs over dotted names (actions, tools) and host names, compiled once at load.
// `*` matches any run of characters including dots, so `*.company.com` matches every subdomain (but not
// `company.com` itself), `github.*` matches `github.issues.create`; `?` matches one character.

export interface GlobSet {
  readonly patterns: readonly string[];
  /** The first pattern that matches, or undefined. */
  match(name: string): string | undefined;
  test(name: string): boolean;
}

export function globToRegExp(pattern: string, caseInsensitive = false): RegExp {
  let src = "";
  for (const ch of pattern) {
    if (ch === "*") src += ".*";
    else if (ch === "?") src += ".";
    else src += ch.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
  }
  return new RegExp(`^${src}$`, caseInsensitive ? "i" : "");
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
  const wild: { p: string; re: RegExp }[] = [];
  for (const p of patterns) {
    if (/[*?]/.test(p)) wild.push({ p, re: globToRegExp(p, opts.caseInsensitive) });
    else exact.add(opts.caseInsensitive ? p.toLowerCase() : p);
  }
  const match = (name: string): string | undefined => {
    const key = opts.caseInsensitive ? name.toLowerCase() : name;
    if (exact.has(key)) return patterns.find((p) => (opts.caseInsensitive ? p.toLowerCase() : p) === key);
    for (const w of wild) if (w.re.test(name)) return w.p;
    return undefined;
  };
  return { patterns: [...patterns], match, test: (name) => match(name) !== undefined };
}

/** Host globs: case-insensitive. */
export function compileHostGlobs(patterns: readonly string[] = []): GlobSet {
  return compileGlobs(patterns, { caseInsensitive: true });
}
