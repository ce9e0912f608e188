// Builtin families added after the operator set: units, net, semver, crypto, jwt, uuid, uri, graphql.
import type { BuiltinDef } from "./api.ts";

export const extraBuiltins: BuiltinDef[] = [];
