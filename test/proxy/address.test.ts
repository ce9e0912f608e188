// The SSRF guard's address classes, allow_addresses, resolve overrides and host normalization.
import { describe, expect, it } from "vitest";
import { AddressAllowList, addressRefusal, nonPublicReason, embeddedIPv4, ipv6Groups } from "../../proxy/address.ts";
import { normalizeHost, resolveTarget, TargetRefused } from "../../proxy/resolve.ts";

describe("address classes", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["169.254.169.254", "link-local"],
    ["10.1.2.3", "private"],
    ["172.31.0.1", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["224.0.0.251", "multicast"],
    ["0.0.0.0", "unspecified"],
    ["255.255.255.255", "reserved"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "link-local"],
    ["fd12:3456::1", "private"],
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:a9fe:a9fe", "link-local"],
    ["64:ff9b::a00:1", "private"],
    ["2002:7f00:1::", "loopback"],
  ])("%s is %s", (addr, why) => {
    expect(nonPublicReason(addr)).toBe(why);
  });

  it.each(["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "172.32.0.1", "100.128.0.1"])(
    "%s is public",
    (addr) => {
      expect(nonPublicReason(addr)).toBeNull();
    },
  );

  it.each([
    ["::ffff:10.0.0.1", "10.0.0.1"], // IPv4-mapped
    ["::ffff:a00:1", "10.0.0.1"],
    ["::10.0.0.1", "10.0.0.1"], // IPv4-compatible
    ["::1", null], // loopback, not ::0.0.0.1
    ["::", null],
    ["64:ff9b::a00:1", "10.0.0.1"], // NAT64
    ["64:ff9b::10.0.0.1", "10.0.0.1"],
    ["2002:7f00:1::", "127.0.0.1"], // 6to4
    ["2606:4700::1", null],
    ["10.0.0.1", null], // not IPv6
    ["not-an-address", null],
  ])("the IPv4 address inside %s is %s", (addr, v4) => {
    expect(embeddedIPv4(addr)).toBe(v4);
  });
});

describe("IPv6 groups (the proxy's one IPv6 parser: SSRF guard and process attribution)", () => {
  it.each([
    ["::", [0, 0, 0, 0, 0, 0, 0, 0]],
    ["::1", [0, 0, 0, 0, 0, 0, 0, 1]],
    ["1::", [1, 0, 0, 0, 0, 0, 0, 0]],
    ["fe80::1%eth0", [0xfe80, 0, 0, 0, 0, 0, 0, 1]],
    ["FE80::ABCD", [0xfe80, 0, 0, 0, 0, 0, 0, 0xabcd]],
    ["2001:db8:0:0:1:0:0:1", [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]],
    ["2001:db8::1:0:0:1", [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]],
    ["::ffff:127.0.0.1", [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]],
    ["::ffff:1.2.3.4", [0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]],
    ["64:ff9b::192.0.2.33", [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x221]],
    ["1:2:3:4:5:6:7.8.9.10", [1, 2, 3, 4, 5, 6, 0x708, 0x90a]],
  ])("%s", (addr, groups) => {
    expect(ipv6Groups(addr)).toEqual(groups);
  });
  it.each(["127.0.0.1", "example.com", "", "1:2:3:4:5:6:7:8:9", "::g", "1::2::3", "[::1]"])(
    "%j is not an IPv6 address",
    (addr) => {
      expect(ipv6Groups(addr)).toBeNull();
    },
  );
});

describe("allow_addresses", () => {
  const allow = new AddressAllowList(["10.20.0.0/16", "127.0.0.2"]);
  it("lets listed ranges through, in IPv4-mapped form too, and nothing else", () => {
    expect(addressRefusal("10.20.3.4", allow)).toBeNull();
    expect(addressRefusal("::ffff:10.20.3.4", allow)).toBeNull();
    expect(addressRefusal("127.0.0.2", allow)).toBeNull();
    expect(addressRefusal("127.0.0.1", allow)).toContain("loopback");
    expect(addressRefusal("10.21.0.1", allow)).toContain("private");
  });
  it("rejects malformed entries with a message naming them", () => {
    expect(() => new AddressAllowList(["10.0.0.0/33"])).toThrow(/10\.0\.0\.0\/33/);
    expect(() => new AddressAllowList(["example.com"])).toThrow(/not an IP address/);
  });
});

describe("resolving a target", () => {
  const none = new AddressAllowList([]);
  it("dials the checked address: every DNS answer is checked and the first permitted one is used", async () => {
    const lookup = async () => [
      { address: "10.0.0.5", family: 4 },
      { address: "93.184.216.34", family: 4 },
    ];
    expect(await resolveTarget("example.com", none, {}, lookup)).toEqual({ address: "93.184.216.34", family: 4 });
  });
  it("refuses a name whose every address is forbidden (rebinding to metadata)", async () => {
    const lookup = async () => [{ address: "169.254.169.254", family: 4 }];
    await expect(resolveTarget("rebind.example.com", none, {}, lookup)).rejects.toThrow(TargetRefused);
  });
  it("uses resolve overrides before DNS, still checked", async () => {
    const lookup = async () => {
      throw new Error("DNS must not be asked");
    };
    await expect(resolveTarget("api.test", none, { "api.test": "127.0.0.2" }, lookup)).rejects.toThrow(/loopback/);
    expect(
      await resolveTarget("api.test", new AddressAllowList(["127.0.0.2/32"]), { "api.test": "127.0.0.2" }, lookup),
    ).toEqual({ address: "127.0.0.2", family: 4 });
  });
  it("normalizes host names and refuses junk", () => {
    expect(normalizeHost("API.GitHub.com.")).toBe("api.github.com");
    expect(normalizeHost("[::1]")).toBe("::1");
    expect(() => normalizeHost("a b")).toThrow(TargetRefused);
    expect(() => normalizeHost("evil.com/x")).toThrow(TargetRefused);
  });
});
