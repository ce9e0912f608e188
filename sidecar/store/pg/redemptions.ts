// Single-use redemption fleet-wide: the INSERT … ON CONFLICT DO NOTHING decides who was first among every sidecar's
// executors; the audit row goes to the redeeming node's chain in the same transaction.
import type { AttestationClaims } from "../../../protocol/index.ts";
import type { NodeChain } from "./audit-chain.ts";
import type { FleetPool } from "./pool.ts";

export class FleetRedemptions {
  constructor(
    private readonly db: FleetPool,
    private readonly node: string,
    private readonly chain: NodeChain,
  ) {}

  async redeem(claims: AttestationClaims, by: string | undefined, at: Date): Promise<{ first: boolean; redeemed_at: string }> {
    const aud = Array.isArray(claims.aud) ? (claims.aud as string[]).join(",") : String(claims.aud);
    return this.chain.tx(this.db, async (c, chain) => {
      const ins = await c.query(
        `INSERT INTO fleet_redemptions (jti, aud, exp, redeemed_at, redeemed_by, node_id) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (jti) DO NOTHING RETURNING redeemed_at`,
        [claims.jti, aud, claims.exp, at.toISOString(), by ?? null, this.node],
      );
      const first = ins.rowCount === 1;
      await chain.append([
        { type: first ? "attestation.redeemed" : "attestation.replay_refused", at, data: { intent_id: claims.jti, aud, by: by ?? null } },
      ]);
      if (first) return { first, redeemed_at: at.toISOString() };
      const prior = await c.query<{ redeemed_at: string }>("SELECT redeemed_at FROM fleet_redemptions WHERE jti = $1", [claims.jti]);
      return { first, redeemed_at: prior.rows[0]!.redeemed_at };
    });
  }
}
