// Duplicate keys in a JSON text. JSON.parse keeps the last value of a repeated key while an upstream parser may keep
// the first (or reject the body): `{"amount":1000000,"amount":1}` would be inspected and attested as {"amount":1}
// and acted on as 1000000. The proxy refuses such bodies wherever the rules or an attestation read them.
//
// Keys that differ only in case are refused too when asked (`foldCase`): Go's encoding/json matches object keys to
// struct fields case-insensitively (Unicode simple folding: "K" for "k", "ſ" for "s") and keeps the last match, so
// {"amount":1,"AMOUNT":1000000} is inspected as amount 1 and decoded by a Go upstream as 1000000.
//
// One pass over the text, linear in its length: a stack of the keys seen in each open object. Keys are compared
// after unescaping ("a" and "\u0061" are the same key). The text is expected to be JSON that JSON.parse accepted;
// on anything else the scan still terminates and reports what it saw.

/** A key compared without case (upper- then lower-casing covers the simple-folding orbits Go's EqualFold uses; it
 * may also merge a few keys Go keeps apart, like "ß" and "ss": such bodies are refused too). */
function fold(key: string): string {
  return key.toUpperCase().toLowerCase();
}

/** The first key that appears twice in one object, at any depth (with `foldCase`, also keys equal but for case,
 * reported as `"a" / "A"`); null when none does. */
export function duplicateJsonKey(text: string, opts: { foldCase?: boolean } = {}): string | null {
  const foldCase = opts.foldCase === true;
  // one entry per open container: a Map of keys (folded when asked → the key as written) for an object, null for an
  // array
  const stack: (Map<string, string> | null)[] = [];
  // inside an object, whether the next string is a key
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      i++;
      for (; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) {
          escaped = true;
          i++; // skip the escaped character (for \uXXXX the hex digits are plain characters)
        } else if (d === 0x22) break;
      }
      const top = stack.length ? stack[stack.length - 1] : undefined;
      if (top && expectKey) {
        const raw = text.slice(start + 1, i);
        let key = raw;
        if (escaped) {
          try {
            key = JSON.parse(text.slice(start, i + 1)) as string;
          } catch {
            key = raw;
          }
        }
        const k = foldCase ? fold(key) : key;
        const before = top.get(k);
        if (before !== undefined) return before === key ? key : `${before}" / "${key}`;
        top.set(k, key);
        expectKey = false;
      }
      continue;
    }
    switch (c) {
      case 0x7b: // {
        stack.push(new Map());
        expectKey = true;
        break;
      case 0x5b: // [
        stack.push(null);
        expectKey = false;
        break;
      case 0x7d: // }
      case 0x5d: // ]
        stack.pop();
        expectKey = false;
        break;
      case 0x2c: // ,
        expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
        break;
      default:
        break;
    }
  }
  return null;
}
