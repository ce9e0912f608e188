// Builds, validates, writes and removes NemoClaw's external-component declaration
// (`~/.config/nemoclaw/external-component.json`, mode 0600). The checks mirror the ones NemoClaw applies when it
// loads the file, so `intent-sidecar nemoclaw install` fails here with a readable message instead of NemoClaw
// failing later with only a reason class.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import {
  AUDIENCE,
  DECLARATION_FILE_NAME,
  DECLARATION_MAX_BYTES,
  DECLARATION_SCHEMA_VERSION,
  INTERCEPTOR_ENDPOINT,
  MIDDLEWARE_ENDPOINT,
  NemoClawContractError,
  RESERVED_SERVICE_PREFIX,
  SERVICE_NAME,
  type DeclarationV2,
} from "./contract.ts";

export const DEFAULT_COMPONENT_ID = "intent-sidecar";
export const DEFAULT_MIDDLEWARE_NAME = "intent-sidecar/middleware";
export const DEFAULT_INTERCEPTOR_ENDPOINT = "https://127.0.0.1:7403";
export const DEFAULT_MIDDLEWARE_ENDPOINT = "https://host.openshell.internal:7404";
export const DEFAULT_INTERCEPTOR_AUDIENCE = "urn:intent-sidecar:admission";
export const DEFAULT_MIDDLEWARE_AUDIENCE = "urn:intent-sidecar:middleware";

/** Where NemoClaw looks: `<home>/.config/nemoclaw/external-component.json` (it does not consult XDG_CONFIG_HOME). */
export function defaultDeclarationPath(home = os.homedir()): string {
  return path.join(path.resolve(home), ".config", "nemoclaw", DECLARATION_FILE_NAME);
}

/** The activation socket lives in the data directory, in a 0700 folder the daemon creates. */
export function defaultActivationSocketPath(dataDir: string): string {
  return path.join(path.resolve(dataDir), "nemoclaw", "activation.sock");
}

export interface DeclarationInput {
  componentId?: string;
  activationSocketPath: string;
  caCertificatePath: string;
  interceptorEndpoint?: string;
  interceptorAudience?: string;
  middlewareName?: string;
  middlewareEndpoint?: string;
  middlewareAudience?: string;
  middlewareCaCertificatePath?: string;
  providerProfileSource?: boolean;
}

function fail(code: string, message: string): never {
  throw new NemoClawContractError(code, message);
}

/** NemoClaw's rule for every path in the declaration: absolute, normalised, no NUL, at most 4096 bytes. */
export function checkAbsolutePath(field: string, value: unknown): string {
  if (
    typeof value !== "string" ||
    value.length === 0 ||
    value.length > 4096 ||
    value.includes("\0") ||
    !path.isAbsolute(value) ||
    path.normalize(value) !== value
  ) {
    fail("declaration_invalid", `${field} must be an absolute, normalised path (got ${JSON.stringify(value)})`);
  }
  return value;
}

function checkServiceName(field: string, value: string): string {
  if (!SERVICE_NAME.test(value) || value.startsWith(RESERVED_SERVICE_PREFIX)) {
    fail(
      "declaration_invalid",
      `${field} must match ${SERVICE_NAME.source} and must not start with "${RESERVED_SERVICE_PREFIX}" (got "${value}")`,
    );
  }
  return value;
}

function checkEndpoint(field: string, value: string, pattern: RegExp, example: string): string {
  const match = pattern.exec(value);
  if (!match || Number(match[1]) > 65535) {
    fail("endpoint_restricted", `${field} must look like ${example} (got "${value}")`);
  }
  return value;
}

function checkAudience(field: string, value: string): string {
  if (!AUDIENCE.test(value)) fail("declaration_invalid", `${field} must be 1-256 printable ASCII characters`);
  return value;
}

/** The declaration object, fields in NemoClaw's order, every value checked as NemoClaw checks it. */
export function buildDeclaration(input: DeclarationInput): DeclarationV2 {
  const componentId = checkServiceName("componentId", input.componentId ?? DEFAULT_COMPONENT_ID);
  const declaration: DeclarationV2 = {
    schemaVersion: DECLARATION_SCHEMA_VERSION,
    componentId,
    activationSocketPath: checkAbsolutePath("activationSocketPath", input.activationSocketPath),
    interceptor: {
      endpoint: checkEndpoint(
        "interceptor.endpoint",
        input.interceptorEndpoint ?? DEFAULT_INTERCEPTOR_ENDPOINT,
        INTERCEPTOR_ENDPOINT,
        "https://127.0.0.1:<port>",
      ),
      caCertificatePath: checkAbsolutePath("interceptor.caCertificatePath", input.caCertificatePath),
      audience: checkAudience("interceptor.audience", input.interceptorAudience ?? DEFAULT_INTERCEPTOR_AUDIENCE),
    },
    middleware: {
      name: checkServiceName("middleware.name", input.middlewareName ?? DEFAULT_MIDDLEWARE_NAME),
      endpoint: checkEndpoint(
        "middleware.endpoint",
        input.middlewareEndpoint ?? DEFAULT_MIDDLEWARE_ENDPOINT,
        MIDDLEWARE_ENDPOINT,
        "https://host.openshell.internal:<port>",
      ),
      caCertificatePath: checkAbsolutePath(
        "middleware.caCertificatePath",
        input.middlewareCaCertificatePath ?? input.caCertificatePath,
      ),
      audience: checkAudience("middleware.audience", input.middlewareAudience ?? DEFAULT_MIDDLEWARE_AUDIENCE),
    },
  };
  // When present it must name this interceptor (NemoClaw then uses it as the only provider-profile source).
  if (input.providerProfileSource) declaration.providerProfileSource = componentId;
  return declaration;
}

/** Parses a declaration file's text; null when it is not a v2 declaration we can read. */
export function parseDeclaration(text: string): DeclarationV2 | null {
  try {
    const value = JSON.parse(text) as unknown;
    if (!value || typeof value !== "object" || Array.isArray(value)) return null;
    const record = value as Record<string, unknown>;
    if (record.schemaVersion !== DECLARATION_SCHEMA_VERSION || typeof record.componentId !== "string") return null;
    return record as unknown as DeclarationV2;
  } catch {
    return null;
  }
}

/** Reads an installed declaration; null when there is none. Refuses a symlink, as NemoClaw does. */
export function readDeclaration(file: string): DeclarationV2 | null {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  if (stat.isSymbolicLink()) fail("declaration_symlink", `${file} is a symbolic link; NemoClaw refuses those`);
  return parseDeclaration(fs.readFileSync(file, "utf8"));
}

/** Existing folders on the way to `target` that group or others can write: NemoClaw refuses a socket or CA file
 * below one (for example anything under /tmp). Missing folders are skipped; the daemon creates them 0700. */
export function unsafeParents(target: string): string[] {
  const unsafe: string[] = [];
  let current = path.dirname(target);
  for (;;) {
    try {
      const stat = fs.lstatSync(current);
      if (stat.isSymbolicLink() || (stat.mode & 0o022) !== 0) unsafe.push(current);
    } catch {
      /* not created yet */
    }
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return unsafe;
}

export interface InstallOptions {
  declarationPath: string;
  /** Replace a declaration that belongs to another component. */
  force?: boolean;
}

export interface InstallResult {
  path: string;
  declaration: DeclarationV2;
  replaced: boolean;
}

/** Writes the declaration atomically with mode 0600 (parents 0700 where we create them). */
export function installDeclaration(declaration: DeclarationV2, opts: InstallOptions): InstallResult {
  const file = path.resolve(opts.declarationPath);
  for (const [field, p] of [
    ["activationSocketPath", declaration.activationSocketPath],
    ["interceptor.caCertificatePath", declaration.interceptor.caCertificatePath],
    ["middleware.caCertificatePath", declaration.middleware.caCertificatePath],
  ] as const) {
    const bad = unsafeParents(p);
    if (bad.length > 0) {
      fail(
        "socket_parent_unsafe",
        `${field} ${p} is below ${bad.join(", ")}, which group or others can write (or is a symlink); ` +
          "NemoClaw refuses that. Choose a path under a private folder (e.g. --data-dir in your home).",
      );
    }
  }
  const existing = readDeclaration(file);
  let replaced = false;
  if (fs.existsSync(file)) {
    if (!opts.force && (!existing || existing.componentId !== declaration.componentId)) {
      fail(
        "declaration_exists",
        `${file} already declares ${existing ? `component "${existing.componentId}"` : "another component"}; ` +
          "NemoClaw supports one external component. Re-run with --force to replace it.",
      );
    }
    replaced = true;
  }
  const text = JSON.stringify(declaration, null, 2) + "\n";
  if (Buffer.byteLength(text) > DECLARATION_MAX_BYTES) {
    fail("declaration_invalid", `the declaration is over NemoClaw's ${DECLARATION_MAX_BYTES}-byte limit`);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = path.join(path.dirname(file), `.${DECLARATION_FILE_NAME}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = fs.openSync(tmp, "wx", 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.chmodSync(tmp, 0o600); // umask can only narrow the mode, but be explicit: NemoClaw requires exactly 0600
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  return { path: file, declaration, replaced };
}

export interface UninstallResult {
  path: string;
  removed: boolean;
}

/** Removes the declaration if it is ours (same componentId) or `force`; a missing file is not an error. */
export function uninstallDeclaration(opts: InstallOptions & { componentId?: string }): UninstallResult {
  const file = path.resolve(opts.declarationPath);
  if (!fs.existsSync(file) && !isSymlink(file)) return { path: file, removed: false };
  const componentId = opts.componentId ?? DEFAULT_COMPONENT_ID;
  let existing: DeclarationV2 | null = null;
  try {
    existing = readDeclaration(file);
  } catch {
    existing = null;
  }
  if (!opts.force && existing?.componentId !== componentId) {
    fail(
      "declaration_not_ours",
      `${file} declares ${existing ? `component "${existing.componentId}"` : "something else"}, not "${componentId}"; ` +
        "re-run with --force to remove it anyway.",
    );
  }
  fs.rmSync(file, { force: true });
  return { path: file, removed: true };
}

function isSymlink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}
