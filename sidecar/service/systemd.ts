// Writes a systemd *user* unit for the sidecar. NemoClaw does not supervise external components, so something
// else must keep the daemon running: systemd restarts it on failure, stops it with SIGTERM (the daemon drains and
// closes SQLite cleanly) and reloads policy with SIGHUP (`systemctl --user reload`). We only write the file; the
// operator runs systemctl, so installing never touches the running system.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface UnitOptions {
  /** Unit name without `.service`. */
  name?: string;
  /** Absolute path of the node binary that runs the CLI. */
  node?: string;
  /** Absolute path of bin/intent-sidecar.mjs. */
  cli: string;
  dataDir: string;
  policy?: string;
  config?: string;
  /** Optional file with INTENT_SIDECAR_AGENT_TOKENS / INTENT_SIDECAR_OPERATOR_TOKENS: tokens never go in the unit. */
  environmentFile?: string;
  workingDirectory?: string;
}

export const DEFAULT_UNIT_NAME = "intent-sidecar";

/** `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`. */
export function userUnitDir(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
  const base =
    env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(home, ".config");
  return path.join(base, "systemd", "user");
}

/** Quotes one ExecStart word for systemd: `%` and `$` are specifiers/expansions there, so double them. */
export function systemdQuote(word: string): string {
  if (/[\n\r]/u.test(word)) throw new Error(`a newline cannot appear in a unit file argument: ${JSON.stringify(word)}`);
  const escaped = word.replace(/%/gu, "%%").replace(/\$/gu, "$$$$");
  if (/^[A-Za-z0-9_@%$+=:,./-]+$/u.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/gu, "\\\\").replace(/"/gu, '\\"')}"`;
}

/** Same rule for values that are paths in other directives (WorkingDirectory=, EnvironmentFile=). */
function pathValue(p: string): string {
  if (/[\n\r]/u.test(p)) throw new Error("a newline cannot appear in a unit file path");
  return p.replace(/%/gu, "%%");
}

export function renderUnit(opts: UnitOptions): string {
  const abs = (p: string) => path.resolve(p);
  const args = [opts.node ?? process.execPath, abs(opts.cli), "start", "--data-dir", abs(opts.dataDir)];
  if (opts.policy) args.push("--policy", abs(opts.policy));
  if (opts.config) args.push("--config", abs(opts.config));
  const lines = [
    "# Written by `intent-sidecar service install`. Enable with:",
    `#   systemctl --user daemon-reload && systemctl --user enable --now ${opts.name ?? DEFAULT_UNIT_NAME}`,
    "[Unit]",
    "Description=intent-sidecar: policy decisions and attestations for AI agents",
    "Documentation=file://" + pathValue(path.resolve(path.dirname(abs(opts.cli)), "..", "docs", "integration.md")),
    "After=network.target",
    "",
    "[Service]",
    "Type=simple",
    `WorkingDirectory=${pathValue(abs(opts.workingDirectory ?? path.dirname(abs(opts.dataDir))))}`,
    `ExecStart=${args.map(systemdQuote).join(" ")}`,
    // SIGHUP reloads the policy; SIGTERM stops accepting, drains and closes the store.
    "ExecReload=/bin/kill -HUP $MAINPID",
    "KillSignal=SIGTERM",
    "KillMode=mixed",
    "TimeoutStopSec=30",
    "Restart=on-failure",
    "RestartSec=2s",
    // key files and the socket must stay private to the user
    "UMask=0077",
    "NoNewPrivileges=yes",
  ];
  if (opts.environmentFile) lines.push(`EnvironmentFile=-${pathValue(abs(opts.environmentFile))}`);
  lines.push("", "[Install]", "WantedBy=default.target", "");
  return lines.join("\n");
}

export interface InstallUnitOptions extends UnitOptions {
  /** A file path, or a folder to write `<name>.service` into. Default: the user unit folder. */
  output?: string;
  force?: boolean;
}

/** Writes the unit (mode 0644: it holds no secret) and returns where. Refuses to overwrite a different unit
 * unless `force`. */
export function installUnit(opts: InstallUnitOptions): { path: string; unit: string; unchanged: boolean } {
  const name = opts.name ?? DEFAULT_UNIT_NAME;
  if (!/^[A-Za-z0-9:_.@-]+$/u.test(name)) throw new Error(`invalid unit name "${name}"`);
  let file = opts.output ? path.resolve(opts.output) : path.join(userUnitDir(), `${name}.service`);
  if (opts.output && (opts.output.endsWith("/") || (fs.existsSync(file) && fs.statSync(file).isDirectory()))) {
    file = path.join(file, `${name}.service`);
  }
  const unit = renderUnit(opts);
  if (fs.existsSync(file)) {
    const existing = fs.readFileSync(file, "utf8");
    if (existing === unit) return { path: file, unit, unchanged: true };
    if (!opts.force) throw new Error(`${file} exists with different content; re-run with --force to replace it`);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, unit, { mode: 0o644 });
  fs.renameSync(tmp, file);
  return { path: file, unit, unchanged: false };
}
