// The rotating JSONL sink: one OCSF event per line, appended by the outbox loop (never on the decision path). The
// file is 0600 (events name agents, tools and hosts); when the next batch would pass max_bytes the file is renamed to
// <path>.1 (older ones shift up to <path>.<keep>, the oldest is deleted) and a new file is started.
import { chmod, mkdir, open, rename, rm, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import type { JsonlSinkConfig } from "./config.ts";
import type { OutboxRow, Sink } from "./outbox.ts";

export class JsonlSink implements Sink {
  readonly name = "ocsf_jsonl";
  private file: FileHandle | undefined;
  private size = 0;

  constructor(private readonly cfg: JsonlSinkConfig) {}

  get retry() {
    return this.cfg;
  }

  async send(rows: OutboxRow[]): Promise<void> {
    const data = Buffer.from(rows.map((r) => r.body + "\n").join(""), "utf8");
    if (!this.file) await this.openFile();
    if (this.size > 0 && this.size + data.length > this.cfg.maxBytes) await this.rotate();
    try {
      await this.file!.appendFile(data);
      this.size += data.length;
    } catch (e) {
      // reopen next time (the file may have been removed or the disk filled); the batch is retried
      await this.file?.close().catch(() => {});
      this.file = undefined;
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.file?.close().catch(() => {});
    this.file = undefined;
  }

  private async openFile(): Promise<void> {
    await mkdir(dirname(this.cfg.path), { recursive: true, mode: 0o700 });
    this.file = await open(this.cfg.path, "a", 0o600);
    await chmod(this.cfg.path, 0o600); // an existing file keeps its mode on open: tighten it
    this.size = (await this.file.stat()).size;
  }

  private async rotate(): Promise<void> {
    await this.close();
    const p = this.cfg.path;
    if (this.cfg.keep === 0) await rm(p, { force: true });
    else {
      await rm(`${p}.${this.cfg.keep}`, { force: true });
      for (let i = this.cfg.keep - 1; i >= 1; i--) await rename(`${p}.${i}`, `${p}.${i + 1}`).catch(ignoreMissing);
      await rename(p, `${p}.1`).catch(ignoreMissing);
    }
    await this.openFile();
  }
}

function ignoreMissing(e: NodeJS.ErrnoException): void {
  if (e.code !== "ENOENT") throw e;
}
