import type { Command } from "commander";

/** Registers the `audit` command family. (Placeholder until its owner fills it in.) */
export function registerAudit(_program: Command): void {}
