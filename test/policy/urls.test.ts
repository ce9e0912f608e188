// Class 5: URL spellings. Every spelling that WHATWG/fetch, curl or Python's urllib would send to a denied host is
// DENIED under the reference policy's tool_calls.domains (allow: *.company.com, api.github.com, slack.com; deny:
// pastebin.com, *.ngrok.io), URLs the clients read differently are denied, and ordinary text stays allowed.
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { loadPolicy, type LoadedPolicy } from "../../sidecar/policy/index.ts";
import { readDeclaredUrl, readUrls } from "../../sidecar/policy/urls.ts";
import { intentInput } from "../../sidecar/policy/network.ts";
import { decide, intent } from "./helpers.ts";
import { parseIntent } from "../../protocol/index.ts";

/** The one host a declared URL names, or why there is not one. */
function hostOfUrl(url: string): { host: string } | { error: string } {
  const r = readDeclaredUrl(url);
  return "error" in r ? { error: r.error } : { host: r.host };
}

const REFERENCE = new URL("../../policy-examples/reference/policy.yaml", import.meta.url).pathname;
let policy: LoadedPolicy;
beforeAll(async () => {
  policy = await loadPolicy(REFERENCE);
});

const rules = (r: { reasons: { block: string; rule: string }[] }) => r.reasons.map((x) => `${x.block}/${x.rule}`);
const fetchCall = (args: Record<string, unknown>) =>
  intent({ action: "tool.call", params: { tool: "web.fetch", args } });
const httpGet = (url: string) => intent({ action: "http.request", params: { method: "GET", url } });
/** An http.request url is either refused when declared (credentials in the URL: 400 at params.url) or decided:
 * either way it is never approved. Returns the decision, or undefined when the declaration was refused. */
async function declareGet(url: string) {
  const parsed = parseIntent({ agent: "treasury-bot", action: "http.request", params: { method: "GET", url } });
  if (!parsed.ok) {
    expect(parsed.issues.map((i) => i.path), url).toContain("params.url");
    return undefined;
  }
  return decide(policy, parsed.intent);
}
const hostsOf = (v: unknown) => readUrls(v).flatMap((f) => f.hosts);

// Spellings that some client sends to pastebin.com (checked by hand against Node 20, curl 7.88 and Python 3.11).
const PASTEBIN = [
  "https://pastebin.com/raw/1",
  "https:/pastebin.com",
  "https:pastebin.com",
  "https:\\\\pastebin.com",
  "https:/\\pastebin.com/x",
  "https:///pastebin.com",
  "https://api.github.com'@pastebin.com",
  'https://api.github.com"@pastebin.com/x',
  "https://api.github.com@pastebin.com",
  "https://u:p@api.github.com@pastebin.com",
  "https://api.github.com\\@pastebin.com",
  "https://pastebin.com?@api.github.com",
  "https://pastebin.com#@api.github.com",
  "https://%70astebin.com",
  "https://PASTEBIN%2ecom",
  "https://pastebin。com",
  "https://pastebin．com/x",
  "https://ｐａｓｔｅｂｉｎ.com",
  "https://ＰＡＳＴＥＢＩＮ.ＣＯＭ",
  "https://pastebin.com.",
  "HTTPS://PASTEBIN.COM/X",
  "hTtPs://PasteBin.Com",
  "http://pastebin.com:80/x",
  "ws://pastebin.com/socket",
  "wss:\\\\pastebin.com",
  "ftp://pastebin.com/file",
  "sftp://pastebin.com/x",
  "git+ssh://git@pastebin.com/x.git",
  "//pastebin.com/x",
  "\\\\pastebin.com\\share",
  "ht\ntps://paste\tbin.com/x",
  "https://paste\nbin.com",
  "x.https:pastebin.com",
  "https://abc.eu.ngrok.io/",
  "http:api.github.com\\@abc.eu.ngrok.io",
];
// Scheme-less: URLs to curl only as whole values (and as keys when they have a path or port).
const BARE = [
  "pastebin.com",
  "pastebin.com/raw/x",
  "pastebin.com:443",
  "user@pastebin.com/x",
  "PASTEBIN.COM.",
  "  pastebin.com/raw/x  ",
  "ｐａｓｔｅｂｉｎ。com",
  "abc.eu.ngrok.io",
];

describe("readUrls", () => {
  it("reads the host every client would contact", () => {
    const one = (s: string) => readUrls(s).map((f) => [f.host, f.ambiguous]);
    expect(one("https:pastebin.com")).toEqual([["pastebin.com", false]]);
    expect(one("https:\\\\pastebin.com")).toEqual([["pastebin.com", false]]);
    expect(one("https://%70astebin.com")).toEqual([["pastebin.com", false]]);
    expect(one("https://ｐａｓｔｅｂｉｎ。com.")).toEqual([["pastebin.com", false]]);
    expect(one("http://0x7f.1/")).toEqual([["127.0.0.1", false]]);
    expect(one("http://2130706433/")).toEqual([["127.0.0.1", false]]);
    expect(one("https://[0:0::1]:8080/x")).toEqual([["::1", false]]);
    expect(one("https://bücher.example/")).toEqual([["xn--bcher-kva.example", false]]);
    expect(one("https://evil.com?@good.com")).toEqual([["evil.com", false]]);
    expect(one("https://good.com#@evil.com")).toEqual([["good.com", false]]);
    expect(one("https://a@b@evil.com")).toEqual([["evil.com", false]]);
  });

  it("marks a URL the clients read differently as ambiguous, with every host", () => {
    const f = readUrls("https://good.com\\@evil.com/x");
    expect(f).toHaveLength(1);
    expect(f[0]!.ambiguous).toBe(true);
    expect(f[0]!.hosts.sort()).toEqual(["evil.com", "good.com"]);
    // IDNA2003 (Python) and UTS-46 (WHATWG, curl) disagree on ß
    expect(readUrls("https://faß.de/")[0]!.hosts.sort()).toEqual(["fass.de", "xn--fa-hia.de"]);
    expect(readUrls("go to https://api.github.com'@pastebin.com now")[0]).toMatchObject({ ambiguous: true });
    expect(readUrls("https://{{host}}/x")[0]).toMatchObject({ ambiguous: true, hosts: [] });
  });

  it("finds URLs in keys, at any depth, inside text", () => {
    let deep: unknown = { "see https:pastebin.com/x": ["and //evil.example/y"] };
    for (let i = 0; i < 3000; i++) deep = i % 2 ? { k: deep } : [deep];
    expect(hostsOf(deep).sort()).toEqual(["evil.example", "pastebin.com"]);
  });

  it("leaves ordinary text alone", () => {
    for (const s of [
      "report.pdf",
      "deploy.sh",
      "archive.tar.gz",
      "bob@company.com",
      "Node.js",
      "v1.2.3",
      "12:30",
      "C:\\Users\\bob",
      "Use https: everywhere",
      "https://",
      "file:///tmp/x",
      "mailto:bob@example.com",
      "// comment",
      "//TODO: fix",
      "reviews:pending",
      '{"protocol":"https:","host":"x"}',
      "e.g. this",
    ])
      expect(readUrls(s), s).toEqual([]);
    expect(hostsOf("(see https://api.github.com/repos/x).")).toEqual(["api.github.com"]);
    expect(hostsOf('<a href="https://wiki.company.com/x">docs</a>')).toEqual(["wiki.company.com"]);
    expect(hostsOf("curl 'https://api.github.com' -H x")).toEqual(["api.github.com"]);
  });

  it("stays linear on hostile input", () => {
    const t0 = performance.now();
    readUrls("https:".repeat(50_000));
    readUrls(`https://${"a@".repeat(100_000)}x`);
    readUrls(`${"a.".repeat(100_000)} https://evil.example/`);
    readUrls("//a".repeat(50_000));
    expect(performance.now() - t0).toBeLessThan(5_000);
    const many = readUrls(Array.from({ length: 6000 }, (_, i) => `https://h${i}.company.com/`).join(" "));
    expect(many.at(-1)).toMatchObject({ ambiguous: true });
  });
});

describe("declared URLs (http.request)", () => {
  it("hostOfUrl and readDeclaredUrl", () => {
    expect(hostOfUrl("HTTPS://API.GITHUB.COM./repos/x")).toEqual({ host: "api.github.com" });
    expect(hostOfUrl("https:/pastebin.com")).toEqual({ host: "pastebin.com" });
    expect(hostOfUrl("https://good.com\\@evil.com")).toMatchObject({ error: expect.stringContaining("evil.com") });
    expect(readDeclaredUrl("https://a.example:8443/x/../y?q=1")).toMatchObject({
      host: "a.example",
      port: 8443,
      pathAndQuery: "/y?q=1",
      authority: "a.example:8443",
    });
  });
  it("intentInput refuses a URL the clients read differently", () => {
    const i = httpGet("https://api.github.com\\@pastebin.com/x");
    expect(() => intentInput(i, new Date())).toThrow(/ambiguous.*pastebin\.com/);
    expect(intentInput(httpGet("https:pastebin.com/x"), new Date()).request.host).toBe("pastebin.com");
  });
});

describe("reference policy: tool_calls.domains", () => {
  it.each(PASTEBIN)("denies %j as a value, in text and as a key", async (s) => {
    for (const args of [{ url: s }, { text: `fetch ${s} please`, nested: [{}] }, { deep: [{ [s]: true }] }]) {
      const r = await decide(policy, fetchCall(args));
      expect(r.effect, JSON.stringify(args)).toBe("deny");
      expect(rules(r)).toContain("tool_calls/domains");
    }
  });

  it.each(BARE)("denies the scheme-less %j as a whole value", async (s) => {
    const all = [{ target: s }, { list: [s] }];
    if (/[/:]/.test(s.trim())) all.push({ deep: [{ [s]: true }] } as never);
    for (const args of all) {
      const r = await decide(policy, fetchCall(args));
      expect(r.effect, JSON.stringify(args)).toBe("deny");
      expect(rules(r)).toContain("tool_calls/domains");
    }
  });

  it("denies http.request urls in those spellings", async () => {
    for (const s of PASTEBIN.filter((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol))) {
      const r = await declareGet(s);
      if (!r) continue; // refused at declaration (credentials in the URL)
      expect(r.effect, s).toBe("deny");
      expect(rules(r), s).toContain("tool_calls/domains");
    }
  });

  it("names the URL and the hosts of an ambiguous URL", async () => {
    const r = await decide(policy, fetchCall({ url: `https://api.github.com\\@pastebin.com/${"x".repeat(300)}` }));
    const m = r.reasons.find((x) => x.message.includes("ambiguous"))!.message;
    expect(m).toContain("api.github.com, pastebin.com");
    expect(m).toContain("https://api.github.com\\@pastebin.com/");
    expect(m.length).toBeLessThan(300);
  });

  it("keeps allowed hosts allowed", async () => {
    for (const args of [
      { url: "https://api.github.com/repos/x" },
      { url: "https://hooks.company.com/services/T0/B0" },
      { url: "https://slack.com/api/chat.postMessage" },
      { url: "HTTPS://API.GITHUB.COM./repos/x" },
      { url: "https:api.github.com/repos/x" },
      { url: "api.github.com/repos/x" },
      { text: "see (https://wiki.company.com/page), or <https://slack.com/x>." },
      { html: '<a href="https://wiki.company.com/x">docs</a>' },
      { file: "report.pdf", owner: "bob@company.com", note: "Use https: everywhere", when: "12:30" },
      { code: "// fetch later\nconst x = 1; // TODO\n" },
    ]) {
      const r = await decide(policy, fetchCall(args));
      expect(r.effect, JSON.stringify(args)).toBe("allow");
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Property-based: generated spellings of a denied host are never APPROVED.

const randomCase = (s: string) =>
  fc
    .array(fc.boolean(), { minLength: s.length, maxLength: s.length })
    .map((up) => [...s].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(""));

const hex = (c: string) => c.charCodeAt(0).toString(16);
/** One spelling of a host: per character plain, upper case, percent-encoded or fullwidth; dots as ASCII,
 * ideographic, fullwidth, halfwidth or %2e; maybe a trailing dot. */
const hostSpelling = (host: string, opts: { percent: boolean } = { percent: true }) =>
  fc
    .tuple(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: host.length, maxLength: host.length }), fc.boolean())
    .map(([picks, trailingDot]) => {
      const out = [...host].map((c, i) => {
        const k = picks[i]!;
        if (c === ".") return [".", "。", "．", "｡", opts.percent ? "%2e" : "."][k]!;
        if (!/[a-z]/.test(c)) return c;
        if (k === 1) return c.toUpperCase();
        if (k === 2 && opts.percent) return `%${hex(c)}`;
        if (k === 3) return String.fromCharCode(0xff41 + c.charCodeAt(0) - 97); // fullwidth small
        if (k === 4) return String.fromCharCode(0xff21 + c.charCodeAt(0) - 97); // fullwidth capital
        return c;
      });
      return out.join("") + (trailingDot ? "." : "");
    });

const specialScheme = fc.constantFrom("http", "https", "ws", "wss", "ftp").chain(randomCase);
const slashes = fc.array(fc.constantFrom("/", "\\"), { maxLength: 4 }).map((a) => a.join(""));
const prefix = fc.oneof(
  fc.tuple(specialScheme, slashes).map(([s, sl]) => `${s}:${sl}`),
  fc.constantFrom("ssh", "git+https", "s3", "sftp").map((s) => `${s}://`),
  fc.constantFrom("//", "\\\\", "/\\"),
);
const userinfo = fc.constantFrom(
  "",
  "user@",
  "u:p@",
  "api.github.com@",
  "api.github.com'@",
  'api.github.com"@',
  "api.github.com\\@",
  "a@b@",
  "wiki.company.com:443@",
);
const tail = fc.constantFrom("", "/", "/raw/x", ":443/x", ":8080", "?q=1", "#frag", "/a?b#c");

const spellingOf = (host: string) =>
  fc
    .tuple(prefix, userinfo, hostSpelling(host), tail)
    .map(([p, u, h, t]) => (p.startsWith("/") || p.startsWith("\\") ? `${p}${h}${t}` : `${p}${u}${h}${t}`));

/** Puts the string somewhere in args: whole value, inside text, or a key, under a few levels of nesting. */
const placed = (s: fc.Arbitrary<string>) =>
  fc
    .tuple(
      s,
      fc.constantFrom("value", "text", "key"),
      fc.string({ maxLength: 12 }),
      fc.constantFrom(" ", "\n", "(", '"', "'", "<", "="),
      fc.constantFrom(" ", "\n", ")", '"', "'", ">", ", ", ". "),
      fc.array(fc.constantFrom("obj", "arr"), { maxLength: 4 }),
    )
    .map(([url, where, words, before, after, path]) => {
      const text = where === "text" ? `${words}${before}${url}${after}${words}` : url;
      let v: unknown = where === "key" ? { [text]: 1 } : text;
      for (const p of path) v = p === "arr" ? [v] : { k: v };
      return { payload: v };
    });

describe("property: spellings of a denied host are never approved", () => {
  it("pastebin.com in any spelling, anywhere in args", async () => {
    await fc.assert(
      fc.asyncProperty(placed(spellingOf("pastebin.com")), async (args) => {
        const r = await decide(policy, fetchCall(args));
        expect(r.effect).not.toBe("allow");
      }),
      { numRuns: 400 },
    );
  });

  it("*.ngrok.io in any spelling, anywhere in args", async () => {
    await fc.assert(
      fc.asyncProperty(placed(spellingOf("abc.eu.ngrok.io")), async (args) => {
        expect((await decide(policy, fetchCall(args))).effect).not.toBe("allow");
      }),
      { numRuns: 200 },
    );
  });

  it("scheme-less spellings of pastebin.com as whole values", async () => {
    const bare = fc
      .tuple(hostSpelling("pastebin.com", { percent: false }), tail, fc.constantFrom("", " ", "\n"))
      .map(([h, t, ws]) => `${ws}${h}${t}${ws}`);
    await fc.assert(
      fc.asyncProperty(bare, async (s) => {
        expect((await decide(policy, fetchCall({ target: s }))).effect).not.toBe("allow");
      }),
      { numRuns: 200 },
    );
  });

  it("http.request urls naming pastebin.com are denied", async () => {
    const declared = fc
      .tuple(fc.constantFrom("http", "https").chain(randomCase), slashes, userinfo, hostSpelling("pastebin.com"), tail)
      .map(([s, sl, u, h, t]) => `${s}:${sl}${u}${h}${t}`)
      .filter((u) => URL.canParse(u));
    await fc.assert(
      fc.asyncProperty(declared, async (u) => {
        const r = await declareGet(u);
        if (!r) return; // refused at declaration (credentials in the URL)
        expect(r.effect).toBe("deny");
        expect(rules(r)).toContain("tool_calls/domains");
      }),
      { numRuns: 200 },
    );
  });

  it("allowed hosts stay allowed in the same spellings (no spurious ambiguity)", async () => {
    const allowed = fc
      .tuple(
        fc.constantFrom("https", "http").chain(randomCase),
        fc.constantFrom("//", "/", "///"),
        fc.constantFrom("api.github.com", "hooks.company.com", "slack.com").chain((h) => hostSpelling(h)),
        fc.constantFrom("", "/", "/repos/x", "?q=1", ":443/x"),
      )
      .map(([s, sl, h, t]) => `${s}:${sl}${h}${t}`);
    await fc.assert(
      fc.asyncProperty(allowed, fc.constantFrom("value", "text"), async (u, where) => {
        const args = where === "value" ? { url: u } : { text: `please open ${u} today` };
        const r = await decide(policy, fetchCall(args));
        expect(r.effect, `${u}: ${JSON.stringify(r.reasons)}`).toBe("allow");
      }),
      { numRuns: 300 },
    );
  });
});
