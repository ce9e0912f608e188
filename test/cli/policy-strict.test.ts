// `policy eval` and `policy test` keep OPA's default semantics (a failing builtin call is undefined) and report the
// error with `--strict-builtin-errors`, as `opa eval|test --strict-builtin-errors` do. Real child processes.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = path.join(root, "bin", "intent-sidecar.mjs");
const tmp = mkdtempSync(path.join(tmpdir(), "policy-strict-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
vi.setConfig({ testTimeout: 240_000 });

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, "policy", ...args], { cwd: tmp, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function write(name: string, text: string): string {
  const p = path.join(tmp, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
}

const rules = write(
  "net/egress.rego",
  `package nemoclaw.network

deny contains "too much" if {
	to_number(input.request.body.amount) > 1000
}
`,
);
const input = write("input.json", JSON.stringify({ request: { body: { amount: " 5000" } } }));
write(
  "tests/egress_test.rego",
  `package nemoclaw.network_test

import data.nemoclaw.network

test_padded_amount_is_not_denied if {
	count(network.deny) == 0 with input as {"request": {"body": {"amount": " 5000"}}}
}
`,
);
write(
  "tests/egress.rego",
  `package nemoclaw.network

deny contains "too much" if {
	to_number(input.request.body.amount) > 1000
}
`,
);

describe("policy eval", () => {
  it("without the flag gives OPA's undefined call: deny is an empty set", () => {
    const r = run("eval", "-d", rules, "-i", input, "-f", "json", "data.nemoclaw.network.deny");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).result[0].expressions[0].value).toEqual([]);
  });

  it("with --strict-builtin-errors reports the builtin error with its location (json and raw)", () => {
    const r = run(
      "eval",
      "--strict-builtin-errors",
      "-d",
      rules,
      "-i",
      input,
      "-f",
      "json",
      "data.nemoclaw.network.deny",
    );
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.errors).toEqual([
      {
        code: "eval_builtin_error",
        message: 'to_number: strconv.ParseFloat: parsing " 5000": invalid syntax',
        location: { file: "net/egress.rego", row: 4, col: expect.any(Number) },
      },
    ]);
    const raw = run(
      "eval",
      "--strict-builtin-errors",
      "-d",
      rules,
      "-i",
      input,
      "-f",
      "raw",
      "data.nemoclaw.network.deny",
    );
    expect(raw.code).toBe(1);
    expect(raw.err).toContain(
      'net/egress.rego:4: eval_builtin_error: to_number: strconv.ParseFloat: parsing " 5000": invalid syntax',
    );
  });
});

describe("policy test", () => {
  it("passes without the flag and is an ERROR naming the builtin with --strict-builtin-errors", () => {
    const r = run("test", "tests");
    expect(r.out.trim()).toBe("PASS: 1/1");
    expect(r.code).toBe(0);
    const s = run("test", "--strict-builtin-errors", "tests");
    expect(s.code).toBe(1);
    expect(s.out).toContain("data.nemoclaw.network_test.test_padded_amount_is_not_denied: ERROR");
    expect(s.out).toContain('eval_builtin_error: to_number: strconv.ParseFloat: parsing " 5000": invalid syntax');
    expect(s.out).toContain("ERROR: 1/1");
  });
});
