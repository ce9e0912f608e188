// The proxy CA: persisted once in the data dir (key 0600), leaves per host, cached, one issuance per host even
// when many first connections arrive together.
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, statSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CertificateAuthority, CaError } from "../../proxy/ca.ts";

const dir = mkdtempSync(path.join(tmpdir(), "proxy-ca-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("CertificateAuthority", () => {
  it("creates the CA once and loads the same one afterwards", async () => {
    const a = await CertificateAuthority.loadOrCreate(path.join(dir, "d"));
    const b = await CertificateAuthority.loadOrCreate(path.join(dir, "d"));
    expect(b.certPem).toBe(a.certPem);
    expect(statSync(a.files!.keyPath).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(a.certPem);
    expect(cert.ca).toBe(true);
  });

  it("issues ECDSA P-256 leaves for names and IPs, signed by the CA", async () => {
    const ca = await CertificateAuthority.ephemeral();
    const caCert = new X509Certificate(ca.certPem);
    for (const [host, san] of [
      ["api.github.com", "DNS:api.github.com"],
      ["93.184.216.34", "IP Address:93.184.216.34"],
    ]) {
      const leaf = new X509Certificate((await ca.issueLeafPem(host!)).certPem);
      expect(leaf.subjectAltName).toBe(san);
      expect(leaf.verify(caCert.publicKey)).toBe(true);
      expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
      expect(leaf.ca).toBe(false);
    }
    await expect(ca.issueLeafPem("bad host")).rejects.toBeInstanceOf(CaError);
  });

  it("shares one issuance among concurrent first requests for a host", async () => {
    const ca = await CertificateAuthority.ephemeral();
    let issued = 0;
    const orig = ca.issueLeafPem.bind(ca);
    ca.issueLeafPem = async (h: string) => {
      issued++;
      return orig(h);
    };
    const ctxs = await Promise.all(Array.from({ length: 10 }, () => ca.contextFor("Slack.com")));
    expect(new Set(ctxs).size).toBe(1);
    expect(await ca.contextFor("slack.com")).toBe(ctxs[0]);
    expect(issued).toBe(1);
  });

  it("refuses a corrupt CA with a message saying what to do", async () => {
    const d = path.join(dir, "corrupt");
    const ca = await CertificateAuthority.loadOrCreate(d);
    writeFileSync(ca.files!.keyPath, "garbage");
    await expect(CertificateAuthority.loadOrCreate(d)).rejects.toThrow(/delete both files/);
    expect(readFileSync(ca.files!.certPath, "utf8")).toBe(ca.certPem);
  });
});

describe("concurrent creation", () => {
  it("many creators racing on an empty data dir end up with one CA", async () => {
    const d = path.join(dir, "race");
    const cas = await Promise.all(Array.from({ length: 8 }, () => CertificateAuthority.loadOrCreate(d)));
    expect(new Set(cas.map((c) => c.certPem)).size).toBe(1);
    const again = await CertificateAuthority.loadOrCreate(d);
    expect(again.certPem).toBe(cas[0]!.certPem);
  });
});
