// OTLP logs export through the real daemon to an OTLP/HTTP receiver on loopback (a plain node:http server accepting
// POST /v1/logs, decoding the JSON encoding): one log record per OCSF event, the event as the record's body, the
// OCSF class in the attributes, the OCSF severity as the OpenTelemetry severity, the service in the resource.
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { validateOcsf } from "../../sidecar/exports/validate.ts";
import { http, removeDir, tempDir } from "../sidecar/helpers.ts";
import { piiPolicy, startExportDaemon, startReceiver, waitFor, type Receiver } from "./helpers.ts";

vi.setConfig({ testTimeout: 60_000 });

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean; arrayValue?: { values?: AnyValue[] }; kvlistValue?: { values?: { key: string; value: AnyValue }[] } };

/** OTLP JSON AnyValue → plain JSON. */
function decode(v: AnyValue | undefined): unknown {
  if (!v) return null;
  if ("stringValue" in v) return v.stringValue;
  if ("intValue" in v) return Number(v.intValue);
  if ("doubleValue" in v) return v.doubleValue;
  if ("boolValue" in v) return v.boolValue;
  if ("arrayValue" in v) return (v.arrayValue?.values ?? []).map(decode);
  if ("kvlistValue" in v) return Object.fromEntries((v.kvlistValue?.values ?? []).map((kv) => [kv.key, decode(kv.value)]));
  return null;
}

interface Received {
  resource: Record<string, unknown>;
  scope: string;
  severityNumber: number;
  timeUnixNano: string;
  attributes: Record<string, unknown>;
  body: Record<string, any>;
}

function records(r: Receiver): Received[] {
  return r.requests.flatMap((q) => {
    const doc = JSON.parse(q.body.toString("utf8")) as { resourceLogs: any[] };
    return doc.resourceLogs.flatMap((rl) =>
      rl.scopeLogs.flatMap((sl: any) =>
        sl.logRecords.map((lr: any) => ({
          resource: Object.fromEntries(rl.resource.attributes.map((a: any) => [a.key, decode(a.value)])),
          scope: sl.scope.name,
          severityNumber: lr.severityNumber,
          timeUnixNano: String(lr.timeUnixNano),
          attributes: Object.fromEntries((lr.attributes ?? []).map((a: any) => [a.key, decode(a.value)])),
          body: decode(lr.body) as Record<string, any>,
        })),
      ),
    );
  });
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("OTLP logs export", () => {
  it("an OTLP/HTTP receiver gets each event as a log record, after a failed first attempt", async () => {
    const dir = tempDir("isc-exports-otlp-");
    cleanups.push(() => removeDir(dir));
    const otlp = await startReceiver({ failFirst: 1, fail: { status: 400, body: "{}" } }); // 400: not retried by the SDK, so by the outbox
    cleanups.push(() => otlp.close());
    const d = await startExportDaemon(
      {
        otlp: { endpoint: otlp.url, headers: { "x-collector-key": "k1" }, flush_ms: 30, retry_initial_ms: 50, retry_max_ms: 100 },
        ocsf_jsonl: join(dir, "also.jsonl"),
      },
      { base: dir, policy: piiPolicy() },
    );
    cleanups.push(() => d.close());
    const ok = await http(`${d.url}/v1/intents`, { body: { agent: "a1", action: "ok.read", params: {} } });
    const pii = await http(`${d.url}/v1/intents`, { body: { agent: "a1", action: "pii.post", params: { detectors: ["email"], note: "x@y.example" } } });
    expect([ok.body.decision, pii.body.decision]).toEqual(["APPROVED", "DENIED"]);

    const got = await waitFor(() => {
      const r = records(otlp);
      return r.length >= 3 && r;
    }, 20_000, "3 log records at the OTLP receiver");
    for (const q of otlp.requests) {
      expect(q.path).toBe("/v1/logs");
      expect(q.headers["content-type"]).toMatch(/application\/json/);
      expect(q.headers["x-collector-key"]).toBe("k1");
    }
    for (const r of got) {
      expect(validateOcsf(r.body).errors).toEqual([]);
      expect(r.resource["service.name"]).toBe("intent-sidecar");
      expect(r.scope).toBe("intent-sidecar.exports");
      expect(r.attributes["ocsf.class_uid"]).toBe(r.body.class_uid);
      expect(r.attributes["ocsf.type_uid"]).toBe(r.body.type_uid);
      expect(BigInt(r.timeUnixNano)).toBe(BigInt(r.body.time) * 1_000_000n);
    }
    const approved = got.find((r) => r.body.status_code === "APPROVED")!;
    expect(approved.body).toMatchObject({ class_uid: 6003, api: { operation: "ok.read", request: { uid: ok.body.intent_id } } });
    expect(approved.severityNumber).toBe(9); // INFO
    const finding = got.find((r) => r.body.class_uid === 2004)!;
    expect(finding.body.finding_info.analytic.name).toBe("email");
    expect(finding.severityNumber).toBe(13); // WARN: OCSF Medium
    expect(JSON.stringify(got)).not.toContain("x@y.example");
  });
});
