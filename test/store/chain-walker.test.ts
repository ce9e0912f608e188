// ChainWalker: the checks one hash chain gets, whoever stores it (verifyAudit for the SQLite chain, audit verify
// --store for each fleet node's chain). Property: rows as the fleet writer makes them (chainRows) verify; any single
// edit or deletion is reported at the row where it happened.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ChainWalker, GENESIS_HASH, type StoredRow } from "../../sidecar/store/audit.ts";
import { chainRows } from "../../sidecar/store/pg/audit-chain.ts";

const event = fc.record({
  type: fc.constantFrom("decision", "hold.created", "hold.approved", "attestation.redeemed"),
  data: fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 4 }),
  at: fc.date({ min: new Date("2020-01-01T00:00:00Z"), max: new Date("2030-01-01T00:00:00Z"), noInvalidDate: true }),
});

function rowsOf(events: { type: string; data: Record<string, unknown>; at: Date }[]): { rows: StoredRow[]; head: { seq: number; hash: string } } {
  const { columns: [seq, ts, type, data, prev, hash], head } = chainRows({ seq: 0, hash: GENESIS_HASH }, events);
  return { rows: seq.map((s, i) => ({ seq: s, ts: ts[i]!, type: type[i]!, data_json: data[i]!, prev_hash: prev[i]!, hash: hash[i]! })), head };
}

function walk(rows: StoredRow[], head: { seq: number; hash: string } | undefined) {
  const w = new ChainWalker();
  for (const r of rows) {
    const bad = w.step(r);
    if (bad) return bad;
  }
  return w.end(head, "fleet_audit_heads");
}

describe("ChainWalker", () => {
  it("rows written by the fleet chain writer verify, and the head is the last row", () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 25 }), (events) => {
        const { rows, head } = rowsOf(events);
        expect(walk(rows, head)).toEqual({ ok: true, rows: events.length, head: rows.length ? head.hash : GENESIS_HASH });
      }),
    );
  });

  it("any single edit or deletion is reported at its row", () => {
    const edits = ["data", "type", "ts", "hash", "prev_hash", "delete"] as const;
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 25 }), fc.nat(), fc.constantFrom(...edits), (events, at, edit) => {
        const { rows, head } = rowsOf(events);
        const i = at % rows.length;
        const seq = i + 1;
        const r = rows[i]!;
        if (edit === "delete") rows.splice(i, 1);
        else if (edit === "data") r.data_json = r.data_json === "{}" ? '{"x":1}' : "{}";
        else if (edit === "type") r.type += ".edited";
        else if (edit === "ts") r.ts = new Date(Date.parse(r.ts) + 1).toISOString();
        else if (edit === "hash") r.hash = "sha256:" + "f".repeat(64);
        else r.prev_hash = "sha256:" + "e".repeat(64);
        const out = walk(rows, head);
        expect(out.ok).toBe(false);
        expect(out).toMatchObject({ seq, rows: seq - 1 });
        const problem = (out as { problem: string }).problem;
        if (edit === "delete") expect(problem).toMatch(seq === events.length ? /rows deleted or edited at the end/ : new RegExp(`row ${seq} is missing`));
        else if (edit === "prev_hash") expect(problem).toBe(`row ${seq}: prev_hash does not match the hash of row ${seq - 1}`);
        else expect(problem).toBe(`row ${seq}: contents do not match its hash (edited)`);
      }),
    );
  });

  it("a missing head record is reported unless the chain is empty", () => {
    const { rows } = rowsOf([{ type: "decision", data: {}, at: new Date() }]);
    expect(walk([], undefined)).toEqual({ ok: true, rows: 0, head: GENESIS_HASH });
    expect(walk(rows, undefined)).toEqual({ ok: false, rows: 1, seq: null, problem: "the chain head record (fleet_audit_heads) is missing" });
  });
});
