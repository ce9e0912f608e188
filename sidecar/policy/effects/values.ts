// Reading amounts, addresses and booleans out of untrusted JSON exactly, or not at all. An amount written as a
// decimal string, a 0x-hex string or a JSON safe integer normalizes to one bigint; anything else (whitespace, signs,
// exponents, fractions, floats past 2^53, arrays, objects) is refused, so no encoding can read as a smaller number.

export type Read<T> = { ok: true; value: T } | { ok: false; message: string };

const show = (v: unknown): string => {
  const s = typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** An unsigned integer of at most `bits` bits. */
export function readUint(v: unknown, bits = 256): Read<bigint> {
  let n: bigint | undefined;
  if (typeof v === "bigint") n = v;
  else if (typeof v === "number") {
    if (Number.isSafeInteger(v)) n = BigInt(v);
  } else if (typeof v === "string") {
    if (/^[0-9]{1,78}$/.test(v)) n = BigInt(v);
    else if (/^0x[0-9a-fA-F]{1,64}$/.test(v)) n = BigInt(v);
  }
  if (n === undefined)
    return {
      ok: false,
      message: `${show(v)} is not an exact unsigned integer (use a decimal string, a 0x-hex string or a safe JSON integer)`,
    };
  if (n < 0n) return { ok: false, message: `${show(v)} is negative` };
  if (n >> BigInt(bits) !== 0n) return { ok: false, message: `${show(v)} does not fit in uint${bits}` };
  return { ok: true, value: n };
}

/** A 20-byte address, lower-cased. */
export function readAddress(v: unknown): Read<string> {
  if (typeof v === "string" && /^0x[0-9a-fA-F]{40}$/.test(v)) return { ok: true, value: v.toLowerCase() };
  return { ok: false, message: `${show(v)} is not a 20-byte 0x address` };
}

/** A boolean; EIP-712 encodes only true and false. */
export function readBool(v: unknown): Read<boolean> {
  if (typeof v === "boolean") return { ok: true, value: v };
  return { ok: false, message: `${show(v)} is not a boolean` };
}
