import type { Command } from "commander";

/** Registers the `integration` command family. (Placeholder until its owner fills it in.) */
export function registerIntegration(_program: Command): void {}
