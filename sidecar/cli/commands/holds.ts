import type { Command } from "commander";

/** Registers the `holds` command family. (Placeholder until its owner fills it in.) */
export function registerHolds(_program: Command): void {}
