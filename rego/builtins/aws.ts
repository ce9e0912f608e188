// providers.aws.sign_req (OPA topdown/providers.go + internal/providers/aws SigV4).
import { createHash, createHmac } from "node:crypto";
import type { Value, RObject } from "../value.ts";
import { isNumber, isObject, makeObject, makeSet, toBigInt, toRegoString } from "../value.ts";
import type { BuiltinDef } from "./api.ts";
import { A, OBJ, fn, obj, operandErr, typeErr } from "./util.ts";
import { goJSON } from "./jwt.ts";
import { parseURI } from "./lib/uri.ts";
import * as gt from "./lib/gotime.ts";

const REQUIRED_AWS = ["aws_access_key", "aws_region", "aws_secret_access_key", "aws_service"];
const IGNORED_HEADERS = new Set(["authorization", "user-agent", "x-amzn-trace-id"]);

const sha256hex = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");
const hmac = (key: Buffer | string, msg: string) => createHmac("sha256", key).update(msg).digest();

function setString(names: string[]): string {
  return toRegoString(makeSet(names));
}

function str(o: RObject, k: string): string {
  const v = o.get(k);
  return typeof v === "string" ? v : "";
}

/** Go url.URL.EscapedPath for an already-escaped path (keeps valid escapes, escapes the rest). */
function escapedPath(raw: string): string {
  return raw.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/g, (c) => encodeURIComponent(c));
}

function signReq(a: Value[]): Value {
  const req = obj(a, 0);
  const cfg = a[1]!;
  if (!isObject(cfg)) throw typeErr(1, cfg, "object");
  const missingAws = REQUIRED_AWS.filter((k) => cfg.get(k) === undefined);
  if (missingAws.length)
    throw operandErr(`operand 2 missing required AWS config parameters(s): ${setString(missingAws)}`);
  const invalidAws = REQUIRED_AWS.filter((k) => typeof cfg.get(k) !== "string");
  if (invalidAws.length)
    throw operandErr(`operand 2 invalid values for required AWS config parameters(s): ${setString(invalidAws)}`);
  const ts = a[2]!;
  if (!isNumber(ts)) throw typeErr(1, ts, "number");
  const ns = toBigInt(ts);
  if (ns === undefined || ns < gt.MIN_NS || ns > gt.MAX_NS)
    throw operandErr("operand 3 could not convert time_ns value into a unix timestamp");
  const missingReq = ["method", "url"].filter((k) => req.get(k) === undefined);
  if (missingReq.length) throw operandErr(`operand 1 missing required request parameters(s): ${setString(missingReq)}`);
  let headers = makeObject([]);
  const h = req.get("headers");
  if (h !== undefined) {
    if (!isObject(h)) throw typeErr(0, h, "object");
    headers = h;
  }
  const invalidReq = ["url", "method"].filter((k) => typeof req.get(k) !== "string").sort();
  if (invalidReq.length)
    throw operandErr(`operand 1 invalid values for required request parameters(s): ${setString(invalidReq)}`);
  const url = parseURI(str(req, "url"));
  const method = str(req, "method");
  const rawBody = req.get("raw_body");
  const body = req.get("body");
  const bodyBytes =
    rawBody !== undefined ? (typeof rawBody === "string" ? rawBody : "") : body !== undefined ? goJSON(body) : "";
  let disable = false;
  const d = cfg.get("disable_payload_signing");
  if (d !== undefined) {
    if (typeof d !== "boolean") throw operandErr("operand 2 invalid value for 'disable_payload_signing' in AWS config");
    disable = d;
  }
  const service = str(cfg, "aws_service");
  const region = str(cfg, "aws_region");
  const headerMap = new Map<string, string>();
  for (const [k, v] of headers.entries()) headerMap.set(typeof k === "string" ? k : "", typeof v === "string" ? v : "");

  const t = { ns, zone: gt.UTC };
  const dateNow = gt.format(t, "20060102");
  const isoNow = gt.format(t, "20060102T150405Z");
  const contentSha = disable ? "UNSIGNED-PAYLOAD" : sha256hex(Buffer.from(bodyBytes, "utf8"));
  const host = (url.hostname ?? "") + (url.port ? `:${url.port}` : "");
  const awsHeaders = new Map<string, string>([
    ["host", url.hostname?.includes(":") ? `[${url.hostname}]${url.port ? ":" + url.port : ""}` : host],
    ["x-amz-date", isoNow],
  ]);
  if (service === "s3" || service === "glacier" || disable) awsHeaders.set("x-amz-content-sha256", contentSha);
  const token = str(cfg, "aws_session_token");
  if (token) awsHeaders.set("x-amz-security-token", token);
  const toSign = new Map<string, string>(awsHeaders);
  for (const [k, v] of headerMap) if (!IGNORED_HEADERS.has(k.toLowerCase())) toSign.set(k.toLowerCase(), v);
  const keys = [...toSign.keys()].sort();
  let canonical = `${method}\n${escapedPath(url.raw_path ?? "")}\n${url.raw_query ?? ""}\n`;
  for (const k of keys) canonical += `${k}:${toSign.get(k)}\n`;
  canonical += "\n" + keys.join(";") + "\n" + contentSha;
  const scope = `${dateNow}/${region}/${service}/aws4_request`;
  const strToSign = `AWS4-HMAC-SHA256\n${isoNow}\n${scope}\n${sha256hex(canonical)}`;
  let key = hmac("AWS4" + str(cfg, "aws_secret_access_key"), dateNow);
  key = hmac(key, region);
  key = hmac(key, service);
  key = hmac(key, "aws4_request");
  const sig = hmac(key, strToSign).toString("hex");
  const auth = `AWS4-HMAC-SHA256 Credential=${str(cfg, "aws_access_key")}/${scope},SignedHeaders=${keys.join(";")},Signature=${sig}`;
  const outHeaders = makeObject([]);
  for (const [k, v] of headerMap) outHeaders.set(k, v);
  outHeaders.set("Authorization", auth);
  for (const [k, v] of awsHeaders) outHeaders.set(k, v);
  const out = makeObject(req.entries());
  out.set("headers", outHeaders);
  return out;
}

export const awsBuiltins: BuiltinDef[] = [fn("providers.aws.sign_req", [OBJ, OBJ, A], OBJ, signReq)];
