// Go encoding/json syntax error texts, for json.unmarshal on malformed input.

function quoteChar(c: string): string {
  if (c === "'") return "'\\''";
  if (c === '"') return "'\"'";
  const cp = c.codePointAt(0)!;
  if (cp < 0x20) return `'\\x${cp.toString(16).padStart(2, "0")}'`;
  return `'${c}'`;
}

/** Returns Go's error message for the first syntax error in s, or undefined when s is valid JSON. */
export function goJSONSyntaxError(s: string): string | undefined {
  let i = 0;
  const ws = () => {
    while (i < s.length && " \t\r\n".includes(s[i]!)) i++;
  };
  const bad = (ctx: string): never => {
    if (i >= s.length) throw new Error("unexpected end of JSON input");
    throw new Error(`invalid character ${quoteChar(String.fromCodePoint(s.codePointAt(i)!))} ${ctx}`);
  };
  const value = (ctx: string): void => {
    ws();
    const c = s[i];
    if (c === "{") {
      i++;
      ws();
      if (s[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (s[i] !== '"') bad("looking for beginning of object key string");
        string();
        ws();
        if (s[i] !== ":") bad("after object key");
        i++;
        value("looking for beginning of value");
        ws();
        if (s[i] === ",") {
          i++;
          continue;
        }
        if (s[i] === "}") {
          i++;
          return;
        }
        bad("after object key:value pair");
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (s[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value("looking for beginning of value");
        ws();
        if (s[i] === ",") {
          i++;
          continue;
        }
        if (s[i] === "]") {
          i++;
          return;
        }
        bad("after array element");
      }
    }
    if (c === '"') return string();
    for (const lit of ["true", "false", "null"]) {
      if (s.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
      if (c === lit[0]) {
        let j = 0;
        while (i < s.length && s[i] === lit[j]) {
          i++;
          j++;
        }
        bad(`in literal ${lit} (expecting ${quoteChar(lit[j]!)})`);
      }
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(s.slice(i));
    if (m && m[0] !== "" && m[0] !== "-") {
      i += m[0].length;
      return;
    }
    if (c === "-") {
      i++;
      bad("in numeric literal");
    }
    bad(ctx);
  };
  const string = () => {
    i++;
    while (i < s.length) {
      const c = s[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === "\\") {
        const e = s[i + 1];
        if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) i += 6;
        else {
          i++;
          bad("in string escape code");
        }
        continue;
      }
      if (c.charCodeAt(0) < 0x20) bad("in string literal");
      i++;
    }
    bad("in string literal");
  };
  try {
    value("looking for beginning of value");
    ws();
    if (i < s.length) bad("after top-level value");
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
