// Composes the daemon: config → store → keys → policy → pipeline → listeners (agent, proxy, operator).
// Other engineers add their listeners' wiring here (keep edits small; see the marked seams).
import type { Server as NetServer } from "node:net";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { SidecarConfig } from "./config.ts";
import { splitAddr } from "./config.ts";
import { createLogger, type Logger } from "./log.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { statSync } from "node:fs";
import { openDatabase, startCheckpointer, IntentStore, appendAudit, type Db } from "./store/index.ts";
import type { Checkpointer } from "./store/index.ts";
import { startAuditCheckpoints, type AuditCheckpoints } from "./store/audit-checkpoints.ts";
import { KeyRing, inlineSigner, startSignerThread, type Signer } from "./attest/index.ts";
import { Pipeline, type PolicyProvider, type Stages } from "./pipeline.ts";
import { defaultHoldService, noLimits, type HoldService, type LimitLedger } from "./pipeline-hooks.ts";
import { createAgentApp, type Health } from "./api/agent.ts";
import { attestationRoutes } from "./api/attestations.ts"; // also registers the redemption/receipt tables
import { TokenAuth } from "./api/auth.ts";
import { createAgentServer } from "./api/agent-server.ts";
import { createLimitedServer, fitCaps, openFileLimit, OPERATOR_LIMITS, watchListener } from "./api/http-server.ts";
import { openPolicy, type PolicyHandle } from "./policy-runtime.ts";
import { registerPolicyRoutes } from "./operator/policy-routes.ts";
import { createHoldsSubsystem, holdsPolicyOf, limitsOf, rateLimitsOf, type HoldsSubsystem } from "./holds/subsystem.ts";
import { safeSummary, summarizerFor } from "./operator/views.ts";
import type { Fleet } from "./fleet.ts";
import { fleetHoldView } from "./fleet-hold-view.ts";
import type { HoldView } from "./holds/types.ts";
import { startFromDeclaration, type ActivationServer } from "./nemoclaw/index.ts";
import type { OpenShellServices } from "./openshell/index.ts";
import type { Exports } from "./exports/index.ts";
import { join } from "node:path";
import { startProxy, CertificateAuthority, createProxyVerifier, keySourceFromJwks } from "../proxy/index.ts";
import { sqliteReplayStore } from "../executor-gate/replay/sqlite.ts";
import type { NetworkBlock } from "./policy/network.ts";
import { principalLookup } from "./principals.ts";
import { internalErrorSink } from "./internal-errors.ts";
import { lockDataDir, tightenDataDir } from "./datadir.ts";
import { guardListener, listenerHosts } from "./api/guard.ts";

export interface DaemonOptions {
  config: SidecarConfig;
  log?: Logger;
  now?: () => Date;
  /** Benchmark hook: per-stage time accounting. */
  stages?: Stages;
  /** Replace the policy side entirely (tests). */
  policy?: PolicyHandle;
  holds?: HoldService;
  limits?: LimitLedger;
}

export interface Daemon {
  config: SidecarConfig;
  agentAddr: string;
  proxyAddr: string;
  operatorAddr: string;
  db: Db;
  store: IntentStore;
  keys: KeyRing;
  pipeline: Pipeline;
  metrics: Metrics;
  policy: PolicyHandle;
  log: Logger;
  /** Holds, soft limits, webhook outbox and the operator API (sidecar/holds/subsystem.ts). */
  holdsSystem: HoldsSubsystem;
  /** The `ready` line's object. */
  readyInfo(): { event: "ready"; agent_addr: string; proxy_addr: string; operator_addr: string; policy_digest: string | null; middleware_addr?: string; interceptor_addr?: string };
  reloadPolicy(): Promise<{ ok: boolean; digest?: string; error?: string }>;
  close(): Promise<void>;
}

/** A listener as the daemon starts and stops it (node:http servers). */
type Server = NetServer & { closeIdleConnections?(): void; closeAllConnections?(): void };

function listen(server: Server, addr: string): Promise<string> {
  const { host, port } = splitAddr(addr);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const a = server.address() as AddressInfo;
      resolve(`${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections?.();
    // long polls and keep-alive clients must not hold shutdown forever
    setTimeout(() => server.closeAllConnections?.(), 2000).unref();
  });
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const config = opts.config;
  const log = opts.log ?? createLogger();
  const metrics = createMetrics({ defaults: true });
  const lock = lockDataDir(config.dataDir); // one daemon per data dir (sidecar/datadir.ts); throws if taken
  let db: Db;
  try {
    db = openDatabase(config.dataDir, { synchronous: config.synchronous });
  } catch (e) {
    lock.release();
    throw e;
  }
  // The WAL checkpoint thread (another isolate, ~10 MB) starts once the WAL passes 1 MB, i.e. when the daemon writes;
  // an idle daemon does not carry it. Until then SQLite checkpoints at its default 1000 pages (~4 MB).
  let checkpointer: Checkpointer | undefined;
  const walWatch = setInterval(() => {
    try {
      if (statSync(`${db.name}-wal`).size < 1 << 20) return;
    } catch {
      return;
    }
    clearInterval(walWatch);
    checkpointer = startCheckpointer(db);
  }, 250);
  walWatch.unref();
  // The signer thread (a second V8 isolate, ~10 MB) starts with the first signature, so an idle daemon does not carry
  // it; that first signature is made on this thread while the worker boots.
  let signerThread: Signer | undefined;
  const signer: Signer = {
    sign(key, claims) {
      if (signerThread) return signerThread.sign(key, claims);
      signerThread = startSignerThread();
      return inlineSigner.sign(key, claims);
    },
    close: () => signerThread?.close() ?? Promise.resolve(),
  };
  const servers: Server[] = [];
  let timer: NodeJS.Timeout | undefined;
  let nemoclaw: ActivationServer | null = null;
  let openshell: OpenShellServices | null = null;
  let holdsSystem: HoldsSubsystem | undefined;
  let auditCheckpoints: AuditCheckpoints | undefined; // signed checkpoints of the audit chain (at start, N rows/T s, stop)
  let fleet: Fleet | undefined; // fleet mode: the shared PostgreSQL store (sidecar/fleet.ts), loaded only when configured
  let exportsSink: Exports | null = null; // OCSF events to the SIEM (sidecar/exports/), loaded only when configured
  try {
    if (config.exports) {
      const { startExports } = await import("./exports/index.ts");
      exportsSink = await startExports({ config: config.exports, db, log, metrics, sidecarId: config.issuer, ...(opts.now ? { now: opts.now } : {}) });
    }
    const store = new IntentStore(db);
    const keys = KeyRing.open(config.dataDir);
    auditCheckpoints = startAuditCheckpoints({ db, key: () => keys.current, log });
    const policy = opts.policy ?? (await openPolicy(config.policyFile, log, { dataDir: config.dataDir }));
    policy.onReload((r) => {
      metrics.policyReloads.inc({ result: r.ok ? "ok" : "failed" });
      exportsSink?.policyReload(r, config.policyFile);
      try {
        appendAudit(db, r.ok ? { type: "policy.reloaded", digest: r.digest!, file: config.policyFile } : { type: "policy.reload_failed", file: config.policyFile, error: r.error! });
      } catch (e) {
        log.error({ err: (e as Error).message }, "could not audit a policy reload");
      }
      if (r.ok) log.info({ digest: r.digest }, "policy reloaded");
      else log.error({ error: r.error }, "policy reload failed; the last valid policy stays active");
    });
    const provider: PolicyProvider<any> = policy.provider;
    const principals = principalLookup(config.principals);
    /** Fleet mode: a hold event of this node's intent for webhooks and the SIEM (inside the caller's transaction). */
    const announceFleetHold = (type: "created" | "approved" | "denied" | "expired", hold: HoldView) => {
      holdsSystem!.outbox.enqueue({ type: type === "created" ? "hold.pending" : `hold.${type}`, data: hold });
      exportsSink?.holdEvent({
        type: `hold.${type}`,
        hold_id: hold.id,
        intent_id: hold.intent_id,
        agent: hold.agent,
        approvals_required: hold.approvals_required,
        ...(type === "approved" ? { approvals: hold.approvals.length } : {}),
        ...(hold.resolved_by ? { operator: hold.resolved_by } : {}),
      });
    };
    if (config.databaseUrl) {
      const { openFleet } = await import("./fleet.ts");
      fleet = await openFleet({
        url: config.databaseUrl,
        dataDir: config.dataDir,
        keys,
        limits: (p) => limitsOf(p),
        holdsPolicy: (p) => holdsPolicyOf(p),
        rateLimits: (p) => rateLimitsOf(p),
        currentPolicy: () => provider.current(),
        principals,
        summarize: (i) => safeSummary(summarizerFor(provider.current() as Parameters<typeof summarizerFor>[0]), i),
        log,
        registry: metrics.registry,
      });
    }
    holdsSystem = createHoldsSubsystem({
      db,
      store,
      keys,
      dataDir: config.dataDir,
      operatorTokens: config.operatorTokens,
      agentTokens: config.agentTokens,
      registry: metrics.registry,
      currentPolicy: () => provider.current(),
      reloadPolicy: () => policy.reload(),
      issuer: config.issuer,
      ttlSeconds: config.ttlSeconds,
      audienceFor: (action) => (action === "http.request" ? config.audiences.proxy : config.audiences.executor),
      ...(opts.now ? { now: opts.now } : {}),
      log,
      ...(fleet ? { holdsApi: fleet.holds } : {}),
      ...(exportsSink ? { onHoldEvent: exportsSink.holdEvent } : {}),
    });
    // scope: tenant|team soft limits key on the agents' principals (config), never on the intent's context
    holdsSystem.ledger.usePrincipals(principals);
    const pipeline = new Pipeline({
      principals,
      db,
      store,
      keys,
      policies: provider,
      options: {
        issuer: config.issuer,
        ttlSeconds: config.ttlSeconds,
        audienceFor: (action) => (action === "http.request" ? config.audiences.proxy : config.audiences.executor),
      },
      holds: opts.holds ?? holdsSystem.holdHook ?? defaultHoldService,
      limits: opts.limits ?? holdsSystem.limitHook ?? noLimits,
      // inside the decision's transaction: the DENIED webhook and the OCSF event commit with the decision
      onRecorded: (rec) => {
        holdsSystem!.notifyDecision(rec);
        exportsSink?.decision(rec);
        // fleet mode: the hold lives in the shared store; its creation is announced here, in the local journal's
        // transaction, as the SQLite hold service does in its own
        if (fleet && rec.decision === "PENDING" && rec.hold) announceFleetHold("created", fleetHoldView(rec, fleet));
      },
      internalErrors: internalErrorSink(log, metrics.internalErrors),
      signer,
      ...(fleet ? { shared: fleet.decisions } : {}),
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.stages ? { stages: opts.stages } : {}),
      observer: {
        decided(decision, seconds, replay) {
          metrics.decisions.inc({ decision, replay: replay ? "true" : "false" });
          if (!replay) metrics.latency.observe({ decision }, seconds);
        },
      },
    });
    holdsSystem.attach(pipeline);
    // fleet mode: this node's holds, resolved on any node, are carried to its own records (its key signs)
    // one local transaction: the record, the webhook and the OCSF event (the origin applies each resolution once;
    // a crash before it marks the resolution applied makes it apply again: at least once, never lost)
    const applyResolution = db.transaction((t: Parameters<Parameters<Fleet["onResolution"]>[0]>[0]) => {
      const id = t.hold.intent_id;
      if (t.type === "approved") pipeline.approveHeld(id, t.approval!, t.at);
      else if (t.type === "approval") store.update(id, { decision: "PENDING", hold: t.summary }, t.at);
      else pipeline.closeHeld(id, t.type === "denied" ? "DENIED" : "EXPIRED", t.reason!, t.at);
      if (t.type !== "approval") announceFleetHold(t.type, t.hold);
      return store.get(id);
    });
    fleet?.onResolution((t) => applyResolution.immediate(t));
    const publicKeys = fleet?.keys ?? keys;
    const auth = new TokenAuth(config.agentTokens, config.executorTokens);
    if (auth.devMode) {
      log.warn(
        "DEV MODE: no agent tokens configured (INTENT_SIDECAR_AGENT_TOKENS or agent_tokens); any local process may declare intents as any agent",
      );
    }
    const health = (): Health => {
      const p = provider.current();
      const storeHealth = fleet?.health();
      return {
        status: !p ? "no_policy" : storeHealth && !storeHealth.up ? "store_unavailable" : "ok",
        ...(storeHealth ? { store: storeHealth } : {}),
        policy: p ? { digest: p.digest, file: config.policyFile, ...(p.loadedAt ? { loaded_at: new Date(p.loadedAt).toISOString() } : {}) } : null,
        last_reload_error: policy.lastError(),
      };
    };
    const agentApp = createAgentApp({ pipeline, keys: publicKeys, metrics, auth, bodyLimitBytes: config.bodyLimitBytes, health,
      extend: attestationRoutes({ db, jwks: () => publicKeys.jwks(), issuer: config.issuer,
        ...(fleet ? { redemptions: fleet.redemptions, refreshKeys: () => fleet!.keys.refreshSoon() } : {}), ...(exportsSink ? { onDetection: exportsSink.detection } : {}) }) });

    // --- listeners -----------------------------------------------------------------------------------------------
    // Connection caps per listener, lowered to fit the open-file limit so a flood of agent or proxy connections
    // cannot take the descriptors the operator listener and the store need (sidecar/api/http-server.ts).
    const fitted = fitCaps(config.maxConnections ?? { agent: 1024, proxy: 1024, operator: 64 }, openFileLimit());
    const caps = fitted.caps;
    if (fitted.lowered) log.warn({ max_connections: caps }, "connection caps lowered to fit the open-file limit (ulimit -n)");
    const agentServer = createAgentServer(
      agentApp,
      { pipeline, auth, bodyLimitBytes: config.bodyLimitBytes },
      {
        limits: { maxConnections: caps.agent },
        // loopback Host only, no Origin (not for browsers); dev mode: JSON bodies only (sidecar/api/guard.ts)
        guard: { listener: "agent API", origin: "refuse", requireJson: auth.devMode, hosts: listenerHosts(config.agentAddr) },
      },
    );
    const agentAddr = await listen(agentServer, config.agentAddr);
    servers.push(agentServer);
    watchListener(agentServer, "agent", log);

    // Proxy listener (proxy/): every request decided by the active policy's network block (read per request, so
    // reloads apply at once); attestations verified against our own keys; denials audited.
    const proxyReplay = sqliteReplayStore(join(config.dataDir, "proxy-replay.sqlite"), { synchronous: config.synchronous });
    const proxy = await startProxy({
      ...(({ host, port }) => ({ host, port }))(splitAddr(config.proxyAddr)),
      ca: await CertificateAuthority.loadOrCreate(config.dataDir),
      policy: () => (provider.current() as { network?: NetworkBlock } | undefined)?.network?.proxy ?? null,
      attestations: createProxyVerifier({
        keys: keySourceFromJwks(() => publicKeys.jwks()),
        issuer: config.issuer,
        audience: config.audiences.proxy,
        replay: proxyReplay,
      }),
      sandboxId: config.sandboxId ?? null,
      limits: { maxConnections: caps.proxy },
      onDecision: (e) => {
        exportsSink?.proxyDecision(e);
        if (e.allowed) return;
        const { allowed: _allowed, ...denial } = e;
        appendAudit(db, { type: "proxy.denied", ...denial });
      },
    });
    servers.push(proxy.server);
    watchListener(proxy.server, "proxy", log);
    proxy.server.once("close", () => proxyReplay.close());
    const proxyAddr = `${proxy.host.includes(":") ? `[${proxy.host}]` : proxy.host}:${proxy.port}`;

    // Operator listener: operator API and console (sidecar/operator/, wired by sidecar/holds/subsystem.ts).
    const operatorApp = holdsSystem.operatorApp;
    if (policy.manager) registerPolicyRoutes(operatorApp, { manager: policy.manager, audit: (e) => void appendAudit(db, e) });
    const operatorServer = createLimitedServer({ ...OPERATOR_LIMITS, maxConnections: caps.operator });
    operatorServer.on(
      "request",
      guardListener(getRequestListener(operatorApp.fetch), {
        listener: "operator API",
        origin: "same-origin", // the console's own requests carry Origin http://<Host>
        requireJson: false,
        hosts: listenerHosts(config.operatorAddr),
      }),
    );
    const operatorAddr = await listen(operatorServer, config.operatorAddr);
    servers.push(operatorServer);
    watchListener(operatorServer, "operator", log);

    // NemoClaw activation socket (sidecar/nemoclaw/): served only when `intent-sidecar nemoclaw install` declared
    // a socket inside this data dir. Answers with the active policy's digest; no policy, no activation.
    nemoclaw = await startFromDeclaration({
      dataDir: config.dataDir,
      activePolicyDigest: () => provider.current()?.digest,
      log: (note) => log.info(note, "nemoclaw"),
    });
    if (nemoclaw) log.info({ socket: nemoclaw.socketPath }, "serving the NemoClaw activation socket");

    // OpenShell supervisor middleware and gateway interceptor (sidecar/openshell/): only when an address is configured.
    // Loaded only then: gRPC, protobuf and the OpenShell services are ~1 MB of code an idle daemon need not carry.
    if (config.openshell?.middlewareAddr || config.openshell?.interceptorAddr) {
      const { startOpenShell } = await import("./openshell/index.ts");
      openshell = await startOpenShell({
        config,
        db,
        keys,
        log,
        policy: () => provider.current(),
        nemoclaw: () => nemoclaw,
      });
    }

    // `keys rotate` runs as a separate command on the data dir: pick its result up.
    timer = setInterval(() => {
      try {
        if (keys.refresh()) log.info({ kid: keys.current.kid }, "signing key rotated");
      } catch (e) {
        log.error({ err: (e as Error).message }, "could not reload signing keys; keeping the current ones");
      }
    }, 2000);
    timer.unref();

    tightenDataDir(config.dataDir); // 0700 dir, 0600 files, including files older versions made 0644

    let closed = false;
    const daemon: Daemon = {
      config,
      agentAddr,
      proxyAddr,
      operatorAddr,
      db,
      store,
      keys,
      pipeline,
      metrics,
      policy,
      log,
      holdsSystem,
      readyInfo: () => ({
        event: "ready",
        agent_addr: agentAddr,
        proxy_addr: proxyAddr,
        operator_addr: operatorAddr,
        ...(openshell?.middlewareAddr ? { middleware_addr: openshell.middlewareAddr } : {}),
        ...(openshell?.interceptorAddr ? { interceptor_addr: openshell.interceptorAddr } : {}),
        policy_digest: provider.current()?.digest ?? null,
      }),
      reloadPolicy: () => policy.reload(),
      async close() {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        await openshell?.close();
        await nemoclaw?.close();
        await Promise.all(servers.map(closeServer));
        await holdsSystem!.close();
        await fleet?.close();
        await policy.close();
        await signer.close();
        clearInterval(walWatch);
        await checkpointer?.stop();
        auditCheckpoints?.stop();
        await exportsSink?.close();
        db.close();
        lock.release();
      },
    };
    return daemon;
  } catch (e) {
    clearInterval(timer);
    await openshell?.close();
    await nemoclaw?.close();
    await Promise.all(servers.map(closeServer));
    await holdsSystem?.close();
    await fleet?.close();
    await signer.close();
    clearInterval(walWatch);
    await checkpointer?.stop();
    auditCheckpoints?.stop();
    await exportsSink?.close();
    db.close();
    lock.release();
    throw e;
  }
}
