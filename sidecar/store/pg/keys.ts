// Signing keys in fleet mode: every sidecar keeps its own Ed25519 key (data dir, as always) and registers the public
// half in fleet_keys; every sidecar's JWKS serves the fleet's keys, so any executor or proxy verifies an attestation
// whichever sidecar signed it. The set is cached and refreshed every few seconds and whenever an unknown kid shows up
// (at most once a second), so a database outage keeps the last known set rather than failing verification.
import { MAX_TTL_SECONDS } from "../../../protocol/index.ts";
import type { PublicJwk } from "../../attest/keys.ts";
import type { FleetPool } from "./pool.ts";

export class FleetKeys {
  private fleet: PublicJwk[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastRead = 0;
  private recent: Promise<void> | undefined;

  constructor(
    private readonly db: FleetPool,
    private readonly node: string,
    private readonly own: () => { keys: PublicJwk[] },
  ) {}

  /** Publishes this node's current keys (new ones inserted; keys it no longer publishes marked retired). */
  async register(): Promise<void> {
    const mine = this.own().keys;
    await this.db.tx(async (c) => {
      let added = 0;
      for (const k of mine) {
        const r = await c.query(
          "INSERT INTO fleet_keys (kid, node_id, jwk) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING",
          [k.kid, this.node, JSON.stringify(k)],
        );
        added += r.rowCount ?? 0;
      }
      await c.query("UPDATE fleet_keys SET retired_at = NULL WHERE node_id = $1 AND kid = ANY($2::text[]) AND retired_at IS NOT NULL", [
        this.node,
        mine.map((k) => k.kid),
      ]);
      // the other nodes hear it at once (FleetHolds' listener), not at their next periodic refresh
      if (added > 0) await c.query("SELECT pg_notify('intent_sidecar_keys', $1)", [this.node]);
      await c.query(
        "UPDATE fleet_keys SET retired_at = now() WHERE node_id = $1 AND retired_at IS NULL AND NOT (kid = ANY($2::text[]))",
        [this.node, mine.map((k) => k.kid)],
      );
    });
    await this.refresh();
  }

  /** Re-reads the fleet's keys: current ones, and retired ones still within the longest attestation lifetime. */
  async refresh(): Promise<void> {
    const r = await this.db.query<{ jwk: string }>(
      `SELECT jwk FROM fleet_keys WHERE retired_at IS NULL OR retired_at > now() - $1 * interval '1 second' ORDER BY created_at`,
      [MAX_TTL_SECONDS],
    );
    this.fleet = r.rows.map((row) => JSON.parse(row.jwk) as PublicJwk);
  }

  /** Own keys first, then every other node's. */
  jwks(): { keys: PublicJwk[] } {
    const mine = this.own().keys;
    const seen = new Set(mine.map((k) => k.kid));
    return { keys: [...mine, ...this.fleet.filter((k) => !seen.has(k.kid))] };
  }

  /** For a verifier that met an unknown kid: re-read the set, at most once a second (a flood of forged kids must not
   * become a flood of queries). */
  refreshSoon(): Promise<void> {
    if (Date.now() - this.lastRead < 1000 && this.recent) return this.recent; // concurrent askers share one read
    this.lastRead = Date.now();
    this.recent = this.refresh();
    return this.recent;
  }

  start(intervalMs = 5000): void {
    this.timer = setInterval(() => void this.register().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
