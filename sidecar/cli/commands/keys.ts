import type { Command } from "commander";

/** Registers the `keys` command family. (Placeholder until its owner fills it in.) */
export function registerKeys(_program: Command): void {}
