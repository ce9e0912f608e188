// network.bundle: OPA bundles (.tar.gz or directory) with .manifest, data placed by path, .rego modules; signed
// bundles verified against network.bundle_key; a Wasm-only bundle refused; the revision in GET /v1/policy.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, createHash } from "node:crypto";
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CompactSign } from "jose";
import { loadPolicy } from "../../sidecar/policy/load.ts";
import { PolicyManager } from "../../sidecar/policy/manager.ts";
import { untar } from "../../sidecar/policy/bundle.ts";
import { canonicalize } from "../../protocol/jcs.ts";
import { removeDir, tempDir } from "../sidecar/helpers.ts";

let dir: string;
const rules = `package bundled.net

default allow := false

allow if input.request.host in data.partners.hosts

deny contains sprintf("%s is not a partner (revision %s)", [input.request.host, data.meta.rev]) if not input.request.host in data.partners.hosts
`;

function bundleDir(name: string, files: Record<string, string>): string {
  const d = join(dir, name);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(d, f, ".."), { recursive: true });
    writeFileSync(join(d, f), text);
  }
  return d;
}

function tgz(src: string, out: string): string {
  execFileSync("tar", ["-czf", out, "-C", src, "."]);
  return out;
}

function policy(name: string, extra: string): string {
  const f = join(dir, `${name}.yaml`);
  writeFileSync(f, `version: 1\nnetwork:\n  package: bundled.net\n${extra}`);
  return f;
}

const input = (host: string) => ({ request: { method: "GET", host, port: 443, path: "/", headers: {}, body: null }, source: {} });

const base = {
  ".manifest": JSON.stringify({ revision: "rev-42", roots: ["partners", "meta", "bundled"] }),
  "bundled/net/rules.rego": rules,
  "bundled/net/rules_test.rego": "package bundled.net\ntest_x if true\n",
  "partners/data.json": JSON.stringify({ hosts: ["api.partner.test"] }),
  "meta/data.yaml": "rev: rev-42\n",
};

beforeAll(() => {
  dir = tempDir("bundle-");
});
afterAll(() => removeDir(dir));

describe("network.bundle", () => {
  it("loads a .tar.gz bundle: modules, data placed by directory, revision; tests excluded", async () => {
    const src = bundleDir("b1", base);
    tgz(src, join(dir, "b1.tar.gz"));
    const names = untar(readFileSync(join(dir, "b1.tar.gz"))).map((e) => e.name.replace(/^\.\//, "")).sort();
    expect(names).toContain("partners/data.json");
    const p = await loadPolicy(policy("p1", "  bundle: b1.tar.gz\n"));
    expect(p.network!.spec.modules.map((m) => m.path)).toEqual(["b1.tar.gz/bundled/net/rules.rego"]);
    expect(p.network!.spec.data).toEqual({ partners: { hosts: ["api.partner.test"] }, meta: { rev: "rev-42" } });
    expect(await p.network!.decide(input("api.partner.test"))).toEqual({ allow: true, reasons: [] });
    expect(await p.network!.decide(input("x.test"))).toEqual({ allow: false, reasons: ["x.test is not a partner (revision rev-42)"] });
    expect(p.files).toContain(join(dir, "b1.tar.gz"));

    const m = new PolicyManager(policy("p1", "  bundle: b1.tar.gz\n"), { watch: false });
    await m.start();
    const s = await m.status();
    expect(s!.bundle).toEqual({ path: join(dir, "b1.tar.gz"), revision: "rev-42", roots: ["partners", "meta", "bundled"], signed: false });
    m.stop();
  });

  it("loads a directory bundle and refuses data outside the roots", async () => {
    bundleDir("b2", base);
    const p = await loadPolicy(policy("p2", "  bundle: b2\n"));
    expect(await p.network!.decide(input("api.partner.test"))).toEqual({ allow: true, reasons: [] });
    bundleDir("b3", { ...base, "other/data.json": JSON.stringify({ x: 1 }) });
    await expect(loadPolicy(policy("p3", "  bundle: b3\n"))).rejects.toThrow(/other\/data\.json: data\/other\/x is outside the manifest's roots/);
  });

  it("refuses a bundle with only policy.wasm, saying the Rego sources are needed", async () => {
    bundleDir("w", { ".manifest": JSON.stringify({ revision: "1" }), "policy.wasm": "\0asm", "data.json": "{}" });
    tgz(join(dir, "w"), join(dir, "w.tar.gz"));
    await expect(loadPolicy(policy("pw", "  bundle: w.tar.gz\n"))).rejects.toThrow(/only compiled Wasm \(policy\.wasm\).*needs its \.rego sources/);
  });

  it("verifies a signed bundle against network.bundle_key; refuses a tampered, unsigned or wrongly keyed one", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
    writeFileSync(join(dir, "key.pem"), publicKey.export({ type: "spki", format: "pem" }));
    writeFileSync(join(dir, "other.pem"), other.publicKey.export({ type: "spki", format: "pem" }));
    const hash = (name: string, text: string) =>
      createHash("sha256").update(name.endsWith(".json") ? canonicalize(JSON.parse(text)) : text).digest("hex");
    const sign = async (files: Record<string, string>) => {
      const payload = { files: Object.entries(files).map(([name, text]) => ({ name, hash: hash(name, text), algorithm: "SHA-256" })), keyid: "release" };
      const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: "ES256" }).sign(privateKey);
      return JSON.stringify({ signatures: [jws] });
    };
    const signed = { ...base, ".signatures.json": await sign(base) };
    tgz(bundleDir("s1", signed), join(dir, "s1.tar.gz"));
    const ok = await loadPolicy(policy("ps1", "  bundle: s1.tar.gz\n  bundle_key: key.pem\n"));
    expect((ok.config.network as unknown as { bundle: { signed: boolean; keyid: string } }).bundle).toMatchObject({ signed: true, keyid: "release" });

    await expect(loadPolicy(policy("ps2", "  bundle: s1.tar.gz\n  bundle_key: other.pem\n"))).rejects.toThrow(/does not verify against network\.bundle_key/);
    await expect(loadPolicy(policy("ps3", "  bundle: s1.tar.gz\n"))).rejects.toThrow(/signed .* but no network\.bundle_key/);
    tgz(bundleDir("u", base), join(dir, "u.tar.gz"));
    await expect(loadPolicy(policy("ps4", "  bundle: u.tar.gz\n  bundle_key: key.pem\n"))).rejects.toThrow(/not signed/);
    tgz(bundleDir("t", { ...signed, "partners/data.json": JSON.stringify({ hosts: ["evil.test"] }) }), join(dir, "t.tar.gz"));
    await expect(loadPolicy(policy("ps5", "  bundle: t.tar.gz\n  bundle_key: key.pem\n"))).rejects.toThrow(/partners\/data\.json does not match its signed hash/);
    tgz(bundleDir("x", { ...signed, "bundled/net/extra.rego": "package bundled.net\nallow if true\n" }), join(dir, "x.tar.gz"));
    await expect(loadPolicy(policy("ps6", "  bundle: x.tar.gz\n  bundle_key: key.pem\n"))).rejects.toThrow(/extra\.rego is not covered by the bundle signature/);
  });
});
