import type { Command } from "commander";

/** Registers the `policy` command family. (Placeholder until its owner fills it in.) */
export function registerPolicy(_program: Command): void {}
