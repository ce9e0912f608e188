// Fleet mode (docs/fleet.md): this sidecar joins the others on one PostgreSQL store. Loaded by the daemon only when
// `store: postgres://…` (or INTENT_SIDECAR_DATABASE_URL) is set, so a single-host daemon never loads the client.
// What is shared: idempotency keys, the soft-limit ledger, holds and their approvals, redemptions, public keys, and
// one audit chain per node. What stays per host: the signing key, the SQLite journal of this node's decisions (read
// by its agent API, console and `logs`), the proxy's CA and its replay store, webhooks.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Registry } from "prom-client";
import { Gauge } from "prom-client";
import type { Intent } from "../protocol/index.ts";
import type { KeyRing } from "./attest/index.ts";
import type { HoldsPolicy } from "./holds/types.ts";
import type { SoftLimit } from "./limits/types.ts";
import type { RateLimit } from "./limits/rate.ts";
import type { PolicyRef } from "./pipeline-hooks.ts";
import type { PrincipalLookup } from "./principals.ts";
import type { Summary } from "./policy/summary.ts";
import { redactedStoreUrl } from "./config.ts";
import { openPool, errorMessage, type FleetPool } from "./store/pg/pool.ts";
import { migrate } from "./store/pg/migrations.ts";
import { initChain, NodeChain } from "./store/pg/audit-chain.ts";
import { PgDecisions, RATE_PREFIX } from "./store/pg/decisions.ts";
import { pruneLedger } from "./store/pg/ledger-prune.ts";
import { FleetHolds, type ApplyResolution } from "./store/pg/holds.ts";
import { FleetKeys } from "./store/pg/keys.ts";
import { FleetRedemptions } from "./store/pg/redemptions.ts";
import { FLEET_CHECKPOINT_FILE, startFleetCheckpoints } from "./store/pg/checkpoints.ts";

export const NODE_ID_FILE = "fleet-node-id";

export interface FleetOptions {
  url: string;
  dataDir: string;
  keys: KeyRing;
  limits(policy: PolicyRef | undefined): readonly SoftLimit[];
  holdsPolicy(policy: PolicyRef | undefined): HoldsPolicy;
  rateLimits(policy: PolicyRef | undefined): readonly RateLimit[];
  currentPolicy(): PolicyRef | undefined;
  principals?: PrincipalLookup;
  summarize(intent: Intent): Summary;
  log: { info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
  registry?: Registry;
}

export interface Fleet {
  node: string;
  db: FleetPool;
  decisions: PgDecisions;
  holds: FleetHolds;
  keys: FleetKeys;
  redemptions: FleetRedemptions;
  /** The hold summary for operators and webhooks (the policy's names). */
  summarize(intent: Intent): Summary;
  /** Late binding: the origin's side of hold resolutions (the pipeline's approveHeld / closeHeld). */
  onResolution(apply: ApplyResolution): void;
  health(): { kind: "postgres"; up: boolean; since: string; error?: string };
  close(): Promise<void>;
}

/** This data dir's node id: made once (host name + random), kept in a 0600 file so restarts keep their chain. */
export function nodeId(dataDir: string): string {
  const file = join(dataDir, NODE_ID_FILE);
  if (existsSync(file)) {
    const id = readFileSync(file, "utf8").trim();
    if (/^[A-Za-z0-9._-]{1,100}$/.test(id)) return id;
    throw new Error(`${file}: not a node id; delete it to make a new one (this node then starts a new audit chain)`);
  }
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, "-").slice(0, 60) || "sidecar";
  const id = `${host}-${randomBytes(4).toString("hex")}`;
  writeFileSync(file, id + "\n", { mode: 0o600, flag: "wx" });
  return id;
}

/** Connects, migrates, registers this node and its keys, and starts the hold listener. Throws (the daemon does not
 * start) when the database cannot be reached at start: there is nothing to decide with. */
export async function openFleet(o: FleetOptions): Promise<Fleet> {
  const node = nodeId(o.dataDir);
  const db = openPool(o.url);
  const where = redactedStoreUrl(o.url);
  try {
    const applied = await migrate(db);
    if (applied.length > 0) o.log.info({ store: where, applied }, "fleet store migrated");
    await db.query("INSERT INTO fleet_nodes (node_id) VALUES ($1) ON CONFLICT (node_id) DO UPDATE SET started_at = now(), last_seen = now()", [node]);
    await initChain(db.pool, node);
  } catch (e) {
    await db.close().catch(() => undefined);
    throw new Error(`cannot open the fleet store ${where}: ${errorMessage(e)}`);
  }
  const chain = new NodeChain(node); // this node's audit chain: decisions, hold transitions, redemptions
  const keys = new FleetKeys(db, node, () => o.keys.jwks());
  await keys.register();
  keys.start();
  // signed checkpoints of this node's chain (at start, every N rows / T s, at stop), by the key just registered
  const checkpoints = await startFleetCheckpoints({
    db,
    node,
    key: () => o.keys.current,
    file: join(o.dataDir, FLEET_CHECKPOINT_FILE),
    log: o.log,
  }).catch(async (e: unknown) => {
    keys.stop();
    await db.close().catch(() => undefined);
    throw new Error(`cannot sign this node's audit checkpoint in the fleet store ${where}: ${errorMessage(e)}`);
  });
  let apply: ApplyResolution = () => undefined;
  const holds = new FleetHolds({
    db,
    url: o.url,
    node,
    chain,
    limits: () => o.limits(o.currentPolicy()),
    rateLimits: () => o.rateLimits(o.currentPolicy()),
    ...(o.principals ? { principals: () => o.principals } : {}),
    summarize: o.summarize,
    apply: (t) => apply(t),
    log: o.log,
    onKeys: () => void keys.refresh().catch(() => undefined),
  });
  holds.start();
  const decisions = new PgDecisions({
    db,
    node,
    chain,
    rateLimits: (p) => o.rateLimits(p),
    limits: (p) => o.limits(p),
    holdsPolicy: (p) => o.holdsPolicy(p),
    ...(o.principals ? { principals: () => o.principals } : {}),
    unsupported: (p) => {
      const c = (p?.config ?? {}) as { costs?: { budgets?: unknown[] } };
      if (c.costs?.budgets?.length) return "the policy's budgets";
      return undefined;
    },
  });
  db.onHealth((h) => {
    if (h.up) o.log.info({ store: where }, "fleet store reachable again; deciding");
    else o.log.error({ store: where, err: h.lastError }, "fleet store unreachable: every decision is DENIED until it returns");
  });
  if (o.registry) {
    new Gauge({
      name: "intent_sidecar_store_up",
      help: "1 while the shared store (PostgreSQL, fleet mode) answers, 0 while decisions are denied for want of it",
      registers: [o.registry],
      collect() {
        this.set(db.health.up ? 1 : 0);
      },
    });
  }
  const heartbeat = setInterval(() => {
    db.query("UPDATE fleet_nodes SET last_seen = now() WHERE node_id = $1", [node]).catch(() => undefined);
  }, 5000);
  heartbeat.unref();
  // entries that left every window (soft and rate limits of the policy in force); every node may run it
  const prune = setInterval(() => {
    const p = o.currentPolicy();
    const streams = [
      ...o.limits(p).map((l) => ({ limitId: l.id, windowMs: l.windowMs })),
      ...o.rateLimits(p).map((l) => ({ limitId: RATE_PREFIX + l.id, windowMs: l.perMs })),
    ];
    pruneLedger(db, streams).catch((e) => o.log.warn({ err: errorMessage(e) }, "fleet ledger clean-up failed"));
  }, 10 * 60_000);
  prune.unref();
  o.log.info({ store: where, node }, "fleet mode: shared store on PostgreSQL");
  return {
    node,
    db,
    decisions,
    holds,
    keys,
    redemptions: new FleetRedemptions(db, node, chain),
    summarize: (intent) => o.summarize(intent),
    onResolution(fn) {
      apply = fn;
    },
    health: () => ({
      kind: "postgres",
      up: db.health.up,
      since: new Date(db.health.since).toISOString(),
      ...(db.health.lastError ? { error: db.health.lastError } : {}),
    }),
    async close() {
      clearInterval(heartbeat);
      clearInterval(prune);
      keys.stop();
      await holds.close();
      await checkpoints.stop(); // the final head, after the last hold transition
      await db.close().catch(() => undefined);
    },
  };
}
