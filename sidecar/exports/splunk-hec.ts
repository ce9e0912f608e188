// Splunk HTTP Event Collector sink: one POST per batch, the events concatenated as HEC expects
// ({"time": <s>, "sourcetype": "ocsf", "event": <OCSF event>, ...} per event), `Authorization: Splunk <token>`.
// Any non-2xx answer (or a timeout) fails the whole batch, which the outbox retries with backoff; HEC indexes a batch
// as a unit only when it answers 200, so a retry may duplicate at worst, never lose.
import { readFileSync } from "node:fs";
import type { HecSinkConfig } from "./config.ts";
import type { OutboxRow, Sink } from "./outbox.ts";

/** The token from its file (trimmed). Throws a message that says what to fix; never includes the token. */
export function readHecToken(file: string): string {
  let t: string;
  try {
    t = readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new Error(`exports.splunk_hec.token_file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!t) throw new Error(`exports.splunk_hec.token_file: ${file} is empty; put the HEC token in it`);
  if (/\s/.test(t)) throw new Error(`exports.splunk_hec.token_file: ${file} must hold one token and nothing else`);
  return t;
}

/** The collector URL: a base URL (no path) gets HEC's JSON event endpoint. */
export function hecEndpoint(url: string): string {
  const u = new URL(url);
  if (u.pathname === "/" || u.pathname === "") u.pathname = "/services/collector/event";
  return u.toString();
}

export class SplunkHecSink implements Sink {
  readonly name = "splunk_hec";
  private readonly url: string;
  private readonly token: string;

  constructor(
    private readonly cfg: HecSinkConfig,
    private readonly fetchImpl: typeof fetch = globalThis.fetch,
  ) {
    this.url = hecEndpoint(cfg.url);
    this.token = readHecToken(cfg.tokenFile);
  }

  get retry() {
    return this.cfg;
  }

  async send(rows: OutboxRow[]): Promise<void> {
    const body = rows
      .map((r) => {
        const time = (JSON.parse(r.body) as { time?: number }).time ?? r.created_at;
        // the event is spliced in as stored: no second serialization of the OCSF object
        return `{"time":${(time / 1000).toFixed(3)},"sourcetype":${JSON.stringify(this.cfg.sourcetype)}${this.cfg.source ? `,"source":${JSON.stringify(this.cfg.source)}` : ""}${this.cfg.index ? `,"index":${JSON.stringify(this.cfg.index)}` : ""}${this.cfg.host ? `,"host":${JSON.stringify(this.cfg.host)}` : ""},"event":${r.body}}`;
      })
      .join("\n");
    let res: Response;
    try {
      res = await this.fetchImpl(this.url, {
        method: "POST",
        headers: { authorization: `Splunk ${this.token}`, "content-type": "application/json", "user-agent": "intent-sidecar-exports/1" },
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.cfg.timeoutMs),
      });
    } catch (e) {
      throw new Error((e as Error).name === "TimeoutError" ? `HEC timed out after ${this.cfg.timeoutMs} ms` : `HEC unreachable: ${(e as Error).message}`);
    }
    const text = await res.text().catch(() => "");
    if (res.status < 200 || res.status >= 300) {
      // HEC answers {"text": "...", "code": n}; the text names the problem (bad token, disabled, wrong index)
      let why = "";
      try {
        why = String((JSON.parse(text) as { text?: unknown }).text ?? "");
      } catch {
        /* not JSON */
      }
      throw new Error(`HEC answered HTTP ${res.status}${why ? `: ${why.slice(0, 200)}` : ""}`);
    }
  }
}
