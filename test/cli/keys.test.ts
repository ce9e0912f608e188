// `keys rotate` (real CLI process) against the data dir of a running daemon: the daemon signs with the new key,
// the JWKS publishes both, and attestations signed before the rotation still verify.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { statSync } from "node:fs";
import { join } from "node:path";
import { http, removeDir, startTestDaemon } from "../sidecar/helpers.ts";
import { fakePolicy } from "../sidecar/fake-policy.ts";
import { runCli } from "./daemon-process.ts";

let d: Awaited<ReturnType<typeof startTestDaemon>>;
beforeAll(async () => {
  d = await startTestDaemon({ policy: fakePolicy({ allow: ["report.send"] }) });
});
afterAll(async () => {
  await d.close();
  removeDir(d.dataDir);
});

const declare = async () =>
  (await http(`${d.url}/v1/intents`, { body: { agent: "bot", action: "report.send", params: {} } })).body
    .attestation as string;

describe("keys rotate", () => {
  it("rotates while the daemon runs; old and new attestations verify against the JWKS", async () => {
    const before = await declare();
    const oldKid = decodeProtectedHeader(before).kid!;
    const r = runCli(["keys", "rotate", "--data-dir", d.dataDir]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.previous_kid).toBe(oldKid);
    expect(out.current_kid).not.toBe(oldKid);
    expect(statSync(join(d.dataDir, "keys", `${out.current_kid}.pem`)).mode & 0o777).toBe(0o600);

    // the daemon picks the rotation up within a few seconds
    let after = before;
    for (let i = 0; i < 50 && decodeProtectedHeader(after).kid === oldKid; i++) {
      await new Promise((res) => setTimeout(res, 200));
      after = await declare();
    }
    expect(decodeProtectedHeader(after).kid).toBe(out.current_kid);
    const kids = (await http(`${d.url}/.well-known/jwks.json`)).body.keys.map((k: { kid: string }) => k.kid);
    expect(kids.sort()).toEqual([oldKid, out.current_kid].sort());
    const jwks = createRemoteJWKSet(new URL(`${d.url}/.well-known/jwks.json`));
    await jwtVerify(before, jwks);
    await jwtVerify(after, jwks);
  });

  it("keys list prints the published set", () => {
    const r = runCli(["keys", "list", "--data-dir", d.dataDir]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.keys.length).toBe(2);
    expect(out.keys[0].kid).toBe(out.current_kid);
  });
});
