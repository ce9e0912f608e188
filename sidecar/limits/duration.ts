// Durations as written in policy files ("90s", "30m", "24h", "7d", "1h30m") to milliseconds.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration string or passes a millisecond number through. Throws a message that says what to write. */
export function durationMs(value: string | number): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`duration must be positive, got ${value}`);
    return value;
  }
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (matched !== value.length || value.length === 0 || total <= 0) {
    throw new Error(`invalid duration "${value}": write e.g. "30m", "24h" or "7d"`);
  }
  return total;
}

/** A short human form of a duration ("24h", "90m", "45s"). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
