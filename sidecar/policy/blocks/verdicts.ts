// Small constructors so every block words its verdicts the same way.
import type { Reason } from "../../../protocol/index.ts";
import type { BlockVerdict } from "../verdict.ts";

export const reason = (block: string, rule: string, message: string): Reason => ({ block, rule, message });
export const abstain = (block: string): BlockVerdict => ({ block, effect: "abstain", reasons: [] });
export const allow = (block: string, reasons: Reason[] = []): BlockVerdict => ({ block, effect: "allow", reasons });
export const deny = (block: string, reasons: Reason[]): BlockVerdict => ({ block, effect: "deny", reasons });
export const hold = (block: string, reasons: Reason[]): BlockVerdict => ({ block, effect: "hold", reasons });

/** Short form of an address for messages: 0x3333…3333. */
export const shortAddr = (a: string): string => `${a.slice(0, 6)}…${a.slice(-4)}`;
