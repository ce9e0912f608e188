// Policy globs: the one matcher lives in protocol/glob.ts (the proxy needs it too and may not import sidecar/).
// This file only forwards it for the policy compiler and schema; add nothing here.
export { compileGlobs, compileHostGlobs, globProblem, type GlobSet } from "../../protocol/glob.ts";
