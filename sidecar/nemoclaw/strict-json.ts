// JSON.parse plus a duplicate-key check. NemoClaw parses our answers with a strict parser that rejects duplicate
// keys; we hold its requests to the same rule, so `{"componentId":"a","componentId":"b"}` cannot mean two things.
export class DuplicateKeyError extends Error {}

/** Parses `text` as JSON; throws SyntaxError for invalid JSON and DuplicateKeyError for a repeated key. */
export function parseStrictJson(text: string): unknown {
  const value = JSON.parse(text) as unknown; // validates the grammar; the scan below can then trust the structure
  const stack: (Set<string> | null)[] = []; // one entry per open container: a key set for objects, null for arrays
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") {
      stack.push(new Set());
      expectKey = true;
    } else if (c === "[") {
      stack.push(null);
      expectKey = false;
    } else if (c === "}" || c === "]") {
      stack.pop();
      expectKey = false;
    } else if (c === ",") {
      expectKey = stack[stack.length - 1] instanceof Set;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) throw new DuplicateKeyError(`duplicate key ${JSON.stringify(key)}`);
        keys.add(key);
        expectKey = false;
      }
      i = j;
    }
  }
  return value;
}
