import type { Command } from "commander";

/** Registers the `ca` command family. (Placeholder until its owner fills it in.) */
export function registerCa(_program: Command): void {}
