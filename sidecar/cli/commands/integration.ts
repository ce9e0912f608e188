// `nemoclaw install|uninstall`, `service install` and `policy simulate`: the commands that fit the sidecar into
// the places it runs. Registered after `policy`, so `simulate` joins that family.
import path from "node:path";
import fs from "node:fs";
import { Command } from "commander";
import { ExitError } from "../exit.ts";
import {
  NemoClawContractError,
  buildDeclaration,
  defaultActivationSocketPath,
  defaultDeclarationPath,
  installDeclaration,
  uninstallDeclaration,
  DEFAULT_COMPONENT_ID,
} from "../../nemoclaw/index.ts";
import { installUnit, renderUnit } from "../../service/systemd.ts";
import { checkInstallation } from "../../nemoclaw/check.ts";
import { PACKAGE_DIR } from "../../package-root.ts";

const DEFAULT_DATA_DIR = "./.intent-sidecar";
/** The proxy CA certificate file in the data directory (proxy/ca.ts CA_CERT_FILE). */
const PROXY_CA_CERT_FILE = "proxy-ca.crt.pem";
const CLI_PATH = path.join(PACKAGE_DIR, "bin", "intent-sidecar.mjs");

function usage(err: unknown): never {
  if (err instanceof NemoClawContractError) throw new ExitError(2, `intent-sidecar: ${err.message} [${err.code}]`);
  throw new ExitError(2, `intent-sidecar: ${(err as Error).message}`);
}

function registerNemoClaw(program: Command): void {
  const nemoclaw = program.command("nemoclaw").description("attach the sidecar to NemoClaw as its external component");

  nemoclaw
    .command("install")
    .description("write ~/.config/nemoclaw/external-component.json (mode 0600) pointing NemoClaw at this sidecar")
    .option(
      "--data-dir <dir>",
      "the sidecar's data directory (holds the activation socket and proxy CA)",
      DEFAULT_DATA_DIR,
    )
    .option("--home <dir>", "home folder whose .config/nemoclaw receives the declaration")
    .option("--declaration <file>", "write the declaration here instead")
    .option("--component-id <id>", "componentId (also the OpenShell interceptor name)", DEFAULT_COMPONENT_ID)
    .option("--socket <path>", "activation socket path (default <data-dir>/nemoclaw/activation.sock)")
    .option(
      "--ca-cert <path>",
      "CA certificate NemoClaw pins for both connections (default <data-dir>/proxy-ca.crt.pem)",
    )
    .option("--interceptor-endpoint <url>", "https://127.0.0.1:<port>")
    .option("--interceptor-audience <aud>", "audience of the interceptor's extension credentials")
    .option("--middleware-name <name>", "middleware registration name")
    .option("--middleware-endpoint <url>", "https://host.openshell.internal:<port>")
    .option("--middleware-audience <aud>", "audience of the middleware's extension credentials")
    .option("--provider-profile-source", "make this interceptor NemoClaw's only provider-profile source")
    .option("--force", "replace a declaration that belongs to another component")
    .action((o) => {
      try {
        const dataDir = path.resolve(o.dataDir);
        const declaration = buildDeclaration({
          componentId: o.componentId,
          activationSocketPath: path.resolve(o.socket ?? defaultActivationSocketPath(dataDir)),
          caCertificatePath: path.resolve(o.caCert ?? path.join(dataDir, PROXY_CA_CERT_FILE)),
          interceptorEndpoint: o.interceptorEndpoint,
          interceptorAudience: o.interceptorAudience,
          middlewareName: o.middlewareName,
          middlewareEndpoint: o.middlewareEndpoint,
          middlewareAudience: o.middlewareAudience,
          providerProfileSource: Boolean(o.providerProfileSource),
        });
        const file = o.declaration ?? defaultDeclarationPath(o.home);
        const result = installDeclaration(declaration, { declarationPath: file, force: Boolean(o.force) });
        process.stdout.write(
          JSON.stringify({ event: "nemoclaw.installed", path: result.path, replaced: result.replaced, declaration }) +
            "\n",
        );
        if (!fs.existsSync(declaration.interceptor.caCertificatePath)) {
          process.stderr.write(
            `note: ${declaration.interceptor.caCertificatePath} does not exist yet; create it before NemoClaw ` +
              `onboards: intent-sidecar ca export --data-dir ${dataDir} > /dev/null (or start the sidecar once)\n`,
          );
        }
      } catch (err) {
        usage(err);
      }
    });

  registerNemoClawCheck(nemoclaw);

  nemoclaw
    .command("uninstall")
    .description("remove the NemoClaw declaration if it names this component")
    .option("--home <dir>", "home folder whose .config/nemoclaw holds the declaration")
    .option("--declaration <file>", "the declaration file")
    .option("--component-id <id>", "componentId to remove", DEFAULT_COMPONENT_ID)
    .option("--force", "remove it even if it names another component")
    .action((o) => {
      try {
        const result = uninstallDeclaration({
          declarationPath: o.declaration ?? defaultDeclarationPath(o.home),
          componentId: o.componentId,
          force: Boolean(o.force),
        });
        process.stdout.write(JSON.stringify({ event: "nemoclaw.uninstalled", ...result }) + "\n");
      } catch (err) {
        usage(err);
      }
    });
}

function registerNemoClawCheck(nemoclaw: Command): void {
  nemoclaw
    .command("check")
    .description("run NemoClaw's own checks on the installed declaration, CA files and activation socket")
    .option("--home <dir>", "home folder whose .config/nemoclaw holds the declaration")
    .option("--declaration <file>", "the declaration file")
    .option("--json", "print the results as JSON")
    .option("--middleware-addr <host:port>", "reach the OpenShell middleware here (default 127.0.0.1:<declared port>)")
    .option("--no-services", "do not probe the OpenShell middleware and interceptor services")
    .action(async (o) => {
      const results = await checkInstallation(path.resolve(o.declaration ?? defaultDeclarationPath(o.home)), {
        middlewareAddr: o.middlewareAddr,
        skipServices: o.services === false,
      });
      if (o.json) process.stdout.write(JSON.stringify(results) + "\n");
      else for (const r of results) process.stdout.write(`${r.ok ? "ok  " : "FAIL"} ${r.check}: ${r.message}\n`);
      if (results.some((r) => !r.ok)) throw new ExitError(1);
    });
}

function registerService(program: Command): void {
  const service = program.command("service").description("run the sidecar under a supervisor");
  service
    .command("install")
    .description("write a systemd user unit (does not run systemctl)")
    .option("--output <path>", "unit file or folder (default $XDG_CONFIG_HOME/systemd/user/<name>.service)")
    .option("--name <name>", "unit name", "intent-sidecar")
    .option("--data-dir <dir>", "data directory", DEFAULT_DATA_DIR)
    .option("--policy <file>", "policy file")
    .option("--config <file>", "config file")
    .option("--env-file <file>", "EnvironmentFile= with INTENT_SIDECAR_*_TOKENS (keeps tokens out of the unit)")
    .option("--print", "print the unit instead of writing it")
    .option("--force", "replace an existing, different unit")
    .action((o) => {
      try {
        const opts = {
          name: o.name,
          cli: CLI_PATH,
          dataDir: o.dataDir,
          policy: o.policy,
          config: o.config,
          environmentFile: o.envFile,
          output: o.output,
          force: Boolean(o.force),
        };
        if (o.print) {
          // render without writing
          process.stdout.write(renderUnit(opts));
          return;
        }
        const result = installUnit(opts);
        process.stdout.write(
          JSON.stringify({ event: "service.installed", path: result.path, unchanged: result.unchanged }) + "\n",
        );
        process.stderr.write(`next: systemctl --user daemon-reload && systemctl --user enable --now ${o.name}\n`);
      } catch (err) {
        usage(err);
      }
    });
}

function registerSimulate(program: Command): void {
  let policy = program.commands.find((c) => c.name() === "policy");
  if (!policy) policy = program.command("policy").description("policy tools");
  policy
    .command("simulate")
    .description("replay recorded intents against a candidate policy and report which decisions would change")
    .requiredOption("--policy <file>", "the candidate policy file")
    .option("--data-dir <dir>", "data directory with the sidecar's SQLite store", DEFAULT_DATA_DIR)
    .option("--limit <n>", "replay at most the N most recent intents", "1000")
    .option("--json", "one JSON object instead of a table")
    .option("--fail-on-change", "exit 1 when any decision would change")
    .option("--config <file>", "the sidecar config file, whose principals give agents their tenant and team (scoped rules)")
    .action(async (o) => {
      const { runSimulate } = await import("../../simulate/command.ts");
      await runSimulate(o);
    });
}

export function registerIntegration(program: Command): void {
  registerNemoClaw(program);
  registerService(program);
  registerSimulate(program);
}
