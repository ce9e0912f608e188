// Action-name globs ("tool.call", "report.*", "*"): `*` matches any run of characters, dots included.
const cache = new Map<string, RegExp>();

export function globMatch(pattern: string, name: string): boolean {
  let re = cache.get(pattern);
  if (!re) {
    re = new RegExp("^" + pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
    cache.set(pattern, re);
  }
  return re.test(name);
}
