// Placeholder registry: the builtins engineer replaces this file with the real registry.
import type { BuiltinDef } from "./api.ts";

export const builtins: Map<string, BuiltinDef> = new Map();
