// The policy glob matcher: the one matcher for every glob a policy writes (actions.allow/deny, tool_calls.allow/deny/
// hold, tool_calls.domains, soft_limits[].actions, network.require_attestation), in the sidecar and in the proxy.
// Pure (no I/O), so everyone may import it. Rego's builtin glob.match (rego/builtins/lib/glob.ts) is not this: it
// follows OPA (separators, `**`, classes, alternatives).
//
// Semantics (docs/policy-reference.md, "globs"):
// - `*` matches any run of characters, dots included, the empty run too: `github.*` matches `github.issues.create`,
//   `*` matches every name.
// - `?` matches exactly one character (any, dots included): `report.?` matches `report.a`, not `report.ab`.
// - every other character matches itself; there is no escape, no class, no alternative.
// - the whole name must match (anchored at both ends).
// - action names match case-sensitively (they are lower-case by the intent schema); tool names and hosts
//   case-insensitively (compileGlobs' caseInsensitive, compileHostGlobs), so `Shell.exec` cannot dodge `shell.*`.
// - host globs: `*.company.com` matches every subdomain, however deep (`a.b.company.com`), but not the apex
//   `company.com` itself (write both), and not `evilcompany.com`. Hosts are compared as given: callers normalize
//   them first (lower-case, no brackets, no trailing dot).
// - a glob is non-empty and holds no white space (globProblem); the policy schema refuses others at load.
//
// Until this module the proxy (require_attestation) and the soft-limit ledger had matchers of their own in which `?`
// was a literal character. Neither action names nor host names can contain `?`, so such a glob matched nothing
// there; here it matches one character, the stricter choice for both (more hosts must carry an attestation, more
// actions count against a limit).

export interface GlobSet {
  readonly patterns: readonly string[];
  /** The first pattern that matches, or undefined. */
  match(name: string): string | undefined;
  test(name: string): boolean;
}

/** Wildcard match without regular expressions: the classic two-pointer algorithm with backtracking to the last `*`,
 * O(name × pattern) in the worst case. A RegExp with several `.*` backtracks polynomially, and names (tool names, hosts
 * in args) come from agents, so they can be long and chosen to be slow. Case-sensitive. */
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

/** Compiles globs once (exact names into a set, wildcards kept for wildcardMatch). Case-sensitive unless told. */
export function compileGlobs(patterns: readonly string[] = [], opts: { caseInsensitive?: boolean } = {}): GlobSet {
  const fold = (s: string) => (opts.caseInsensitive ? s.toLowerCase() : s);
  const exact = new Map<string, string>();
  const wild: { p: string; key: string }[] = [];
  for (const p of patterns) {
    if (/[*?]/.test(p)) wild.push({ p, key: fold(p) });
    else if (!exact.has(fold(p))) exact.set(fold(p), p);
  }
  const match = (name: string): string | undefined => {
    const key = fold(name);
    const hit = exact.get(key);
    if (hit !== undefined) return hit;
    for (const w of wild) if (wildcardMatch(w.key, key)) return w.p;
    return undefined;
  };
  return { patterns: [...patterns], match, test: (name) => match(name) !== undefined };
}

/** Host globs: case-insensitive. */
export function compileHostGlobs(patterns: readonly string[] = []): GlobSet {
  return compileGlobs(patterns, { caseInsensitive: true });
}
