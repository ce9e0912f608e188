import type { Command } from "commander";

/** Registers the `start` command family. (Placeholder until its owner fills it in.) */
export function registerStart(_program: Command): void {}
