// OTLP logs sink (OpenTelemetry JS: sdk-logs + exporter-logs-otlp-http, OTLP/HTTP JSON to `<endpoint>/v1/logs`).
// Imported only when `exports.otlp` is configured: the daemon bundle keeps it in its own chunk, so an idle daemon
// without it never loads the SDK. Each outbox batch becomes one export request: the records are emitted through a
// LoggerProvider (resource, scope, timestamps) into a processor that only collects them, then handed to the
// exporter directly, so the outbox learns whether the collector took them (and retries the batch if not).
import type { AnyValueMap } from "@opentelemetry/api-logs";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { LoggerProvider, type LogRecordProcessor, type SdkLogRecord } from "@opentelemetry/sdk-logs";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import type { OtlpSinkConfig } from "./config.ts";
import type { OutboxRow, Sink } from "./outbox.ts";

/** The collector's logs URL: a base URL gets `/v1/logs`. */
export function otlpLogsUrl(endpoint: string): string {
  const u = new URL(endpoint);
  if (!u.pathname.endsWith("/v1/logs")) u.pathname = `${u.pathname.replace(/\/+$/, "")}/v1/logs`;
  return u.toString();
}

// OCSF severity_id → OpenTelemetry severity number
const SEVERITY: Record<number, [SeverityNumber, string]> = {
  1: [SeverityNumber.INFO, "INFO"],
  2: [SeverityNumber.INFO2, "INFO"],
  3: [SeverityNumber.WARN, "WARN"],
  4: [SeverityNumber.ERROR, "ERROR"],
  5: [SeverityNumber.FATAL, "FATAL"],
  6: [SeverityNumber.FATAL, "FATAL"],
};

class Collector implements LogRecordProcessor {
  records: SdkLogRecord[] = [];
  onEmit(r: SdkLogRecord): void {
    this.records.push(r);
  }
  forceFlush = () => Promise.resolve();
  shutdown = () => Promise.resolve();
}

export class OtlpSink implements Sink {
  readonly name = "otlp";
  private readonly exporter: OTLPLogExporter;
  private readonly provider: LoggerProvider;
  private readonly collector = new Collector();
  private readonly logger;

  constructor(
    private readonly cfg: OtlpSinkConfig,
    version: string,
  ) {
    this.exporter = new OTLPLogExporter({ url: otlpLogsUrl(cfg.endpoint), headers: { ...cfg.headers }, timeoutMillis: cfg.timeoutMs });
    this.provider = new LoggerProvider({
      resource: resourceFromAttributes({ "service.name": cfg.serviceName, "service.version": version }),
      processors: [this.collector],
    });
    this.logger = this.provider.getLogger("intent-sidecar.exports", version);
  }

  get retry() {
    return this.cfg;
  }

  send(rows: OutboxRow[]): Promise<void> {
    for (const r of rows) {
      const event = JSON.parse(r.body) as AnyValueMap & { time?: number; severity_id?: number; class_uid?: number; type_uid?: number; class_name?: string; activity_name?: string };
      const [severityNumber, severityText] = SEVERITY[event.severity_id ?? 1] ?? [SeverityNumber.UNSPECIFIED, "UNSPECIFIED"];
      this.logger.emit({
        eventName: `ocsf.${String(event.type_uid)}`,
        timestamp: event.time ?? r.created_at,
        severityNumber,
        severityText,
        body: event,
        attributes: {
          "ocsf.class_uid": event.class_uid ?? 0,
          "ocsf.type_uid": event.type_uid ?? 0,
          "ocsf.class_name": event.class_name ?? "",
          "ocsf.activity_name": event.activity_name ?? "",
        },
      });
    }
    const records = this.collector.records.splice(0);
    return new Promise((resolve, reject) => {
      this.exporter.export(records, (result) => {
        if (result.code === 0) resolve();
        else reject(new Error(`OTLP export failed: ${result.error?.message ?? "unknown error"}`));
      });
    });
  }

  async close(): Promise<void> {
    await this.provider.shutdown().catch(() => {});
    await this.exporter.shutdown().catch(() => {});
  }
}
