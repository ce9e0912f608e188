// Protobuf codecs for the OpenShell messages we serve (proto/*.proto), written by hand over @bufbuild/protobuf's
// wire reader and writer: no .proto file is loaded at run time, unknown fields are skipped (forward compatible),
// a known field with the wrong wire type, truncated input or invalid UTF-8 is a WireError (answered
// INVALID_ARGUMENT). The tests decode and encode the same messages with @grpc/proto-loader over the .proto files,
// so the two descriptions cannot drift apart.
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

/** A google.protobuf.Struct / Value as plain JSON. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
export type JsonObject = { [k: string]: JsonValue };

const MAX_DEPTH = 64;

function expect(wt: WireType, want: WireType, field: string): void {
  if (wt !== want) throw new WireError(`${field}: wire type ${wt}, expected ${want}`);
}

/** The reader for an embedded message (`field` names it in errors). */
function sub(r: BinaryReader, field: string): BinaryReader {
  try {
    return new BinaryReader(r.bytes());
  } catch (err) {
    throw new WireError(`${field}: ${(err as Error).message}`);
  }
}

/** Reads messages field by field; `on` returns false for a field it does not know (skipped). */
function readMessage(r: BinaryReader, on: (no: number, wt: WireType) => boolean): void {
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no <= 0) throw new WireError(`invalid field number ${no}`);
    if (!on(no, wt)) r.skip(wt, no);
  }
}

function guarded<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof WireError) throw err;
    throw new WireError(`${what}: ${(err as Error).message}`);
  }
}

// --- google.protobuf.Struct / Value / ListValue ---------------------------------------------------------------------

function decodeValue(r: BinaryReader, depth: number): JsonValue {
  if (depth > MAX_DEPTH) throw new WireError("Struct nested too deeply");
  let value: JsonValue = null;
  readMessage(r, (no, wt) => {
    switch (no) {
      case 1: // null_value
        expect(wt, WireType.Varint, "Value.null_value");
        r.int32();
        value = null;
        return true;
      case 2:
        expect(wt, WireType.Bit64, "Value.number_value");
        value = r.double();
        return true;
      case 3:
        expect(wt, WireType.LengthDelimited, "Value.string_value");
        value = r.string(true);
        return true;
      case 4:
        expect(wt, WireType.Varint, "Value.bool_value");
        value = r.bool();
        return true;
      case 5:
        expect(wt, WireType.LengthDelimited, "Value.struct_value");
        value = decodeStructFrom(sub(r, "struct_value"), depth + 1);
        return true;
      case 6: {
        expect(wt, WireType.LengthDelimited, "Value.list_value");
        const lr = sub(r, "list_value");
        const list: JsonValue[] = [];
        readMessage(lr, (lno, lwt) => {
          if (lno !== 1) return false;
          expect(lwt, WireType.LengthDelimited, "ListValue.values");
          list.push(decodeValue(sub(lr, "values"), depth + 1));
          return true;
        });
        value = list;
        return true;
      }
      default:
        return false;
    }
  });
  return value;
}

function decodeStructFrom(r: BinaryReader, depth: number): JsonObject {
  if (depth > MAX_DEPTH) throw new WireError("Struct nested too deeply");
  const out = Object.create(null) as JsonObject;
  readMessage(r, (no, wt) => {
    if (no !== 1) return false;
    expect(wt, WireType.LengthDelimited, "Struct.fields");
    const er = sub(r, "fields");
    let key = "";
    let value: JsonValue = null;
    readMessage(er, (eno, ewt) => {
      if (eno === 1) {
        expect(ewt, WireType.LengthDelimited, "Struct.fields.key");
        key = er.string(true);
        return true;
      }
      if (eno === 2) {
        expect(ewt, WireType.LengthDelimited, "Struct.fields.value");
        value = decodeValue(sub(er, "value"), depth + 1);
        return true;
      }
      return false;
    });
    out[key] = value;
    return true;
  });
  return out;
}

export function decodeStruct(bytes: Uint8Array): JsonObject {
  return guarded("Struct", () => decodeStructFrom(new BinaryReader(bytes), 0));
}

function writeValue(w: BinaryWriter, v: JsonValue): void {
  if (v === null) w.tag(1, WireType.Varint).int32(0);
  else if (typeof v === "number") w.tag(2, WireType.Bit64).double(v);
  else if (typeof v === "string") w.tag(3, WireType.LengthDelimited).string(v);
  else if (typeof v === "boolean") w.tag(4, WireType.Varint).bool(v);
  else if (Array.isArray(v)) {
    w.tag(6, WireType.LengthDelimited).fork();
    for (const item of v) {
      w.tag(1, WireType.LengthDelimited).fork();
      writeValue(w, item);
      w.join();
    }
    w.join();
  } else {
    w.tag(5, WireType.LengthDelimited).fork();
    writeStructFields(w, v);
    w.join();
  }
}

function writeStructFields(w: BinaryWriter, s: JsonObject): void {
  for (const [k, v] of Object.entries(s)) {
    w.tag(1, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string(k);
    w.tag(2, WireType.LengthDelimited).fork();
    writeValue(w, v);
    w.join();
    w.join();
  }
}

export function encodeStruct(s: JsonObject): Uint8Array {
  const w = new BinaryWriter();
  writeStructFields(w, s);
  return w.finish();
}

function writeStringMap(w: BinaryWriter, field: number, map: Record<string, string>): void {
  for (const [k, v] of Object.entries(map)) {
    w.tag(field, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string(k);
    w.tag(2, WireType.LengthDelimited).string(v);
    w.join();
  }
}

function readStringMapEntry(r: BinaryReader, field: string): [string, string] {
  const er = sub(r, field);
  let key = "";
  let value = "";
  readMessage(er, (no, wt) => {
    if (no !== 1 && no !== 2) return false;
    expect(wt, WireType.LengthDelimited, `${field} entry`);
    if (no === 1) key = er.string(true);
    else value = er.string(true);
    return true;
  });
  return [key, value];
}

// --- openshell.middleware.v1 ---------------------------------------------------------------------------------------

export const Operation = { HTTP_REQUEST: 1 } as const;
export const Phase = { PRE_CREDENTIALS: 1 } as const;
export const Decision = { ALLOW: 1, DENY: 2 } as const;
export const OnExisting = { APPEND: 1, OVERWRITE: 2, SKIP: 3 } as const;

export interface MiddlewareManifest {
  name: string;
  serviceVersion: string;
  bindings: { operation: number; phase: number; maxPayloadBytes: number; timeout: string }[];
  expectedAudience: string;
}

export function encodeManifest(m: MiddlewareManifest): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string(m.name);
  w.tag(2, WireType.LengthDelimited).string(m.serviceVersion);
  for (const b of m.bindings) {
    w.tag(3, WireType.LengthDelimited).fork();
    w.tag(1, WireType.Varint).int32(b.operation);
    w.tag(2, WireType.Varint).int32(b.phase);
    w.tag(3, WireType.Varint).uint64(b.maxPayloadBytes);
    w.tag(4, WireType.LengthDelimited).string(b.timeout);
    w.join();
  }
  w.tag(4, WireType.LengthDelimited).string(m.expectedAudience);
  return w.finish();
}

export interface ValidateConfigRequest {
  config: JsonObject;
  middlewareName: string;
}

export function decodeValidateConfigRequest(bytes: Uint8Array): ValidateConfigRequest {
  return guarded("ValidateConfigRequest", () => {
    const r = new BinaryReader(bytes);
    const out: ValidateConfigRequest = { config: Object.create(null) as JsonObject, middlewareName: "" };
    readMessage(r, (no, wt) => {
      if (no === 1) {
        expect(wt, WireType.LengthDelimited, "config");
        out.config = decodeStructFrom(sub(r, "config"), 0);
        return true;
      }
      if (no === 2) {
        expect(wt, WireType.LengthDelimited, "middleware_name");
        out.middlewareName = r.string(true);
        return true;
      }
      return false;
    });
    return out;
  });
}

export function encodeValidateConfigResponse(res: { valid: boolean; errors: string[] }): Uint8Array {
  const w = new BinaryWriter();
  if (res.valid) w.tag(1, WireType.Varint).bool(true);
  for (const e of res.errors) w.tag(2, WireType.LengthDelimited).string(e);
  return w.finish();
}

export interface HttpRequestEvaluation {
  phase: number;
  context: {
    requestId: string;
    sandboxId: string;
    process: { binary: string; pid: number; ancestors: string[] } | null;
    sandboxName: string;
    workspace: string;
  };
  config: JsonObject | null;
  target: { scheme: string; host: string; port: number; method: string; path: string; query: string };
  /** Lower-case names in wire order. */
  headers: [string, string][];
  body: Uint8Array;
  middlewareName: string;
}

function str(r: BinaryReader, wt: WireType, field: string): string {
  expect(wt, WireType.LengthDelimited, field);
  return r.string(true);
}

function u32(r: BinaryReader, wt: WireType, field: string): number {
  expect(wt, WireType.Varint, field);
  return r.uint32();
}

export function decodeHttpRequestEvaluation(bytes: Uint8Array): HttpRequestEvaluation {
  return guarded("HttpRequestEvaluation", () => {
    const r = new BinaryReader(bytes);
    const ev: HttpRequestEvaluation = {
      phase: 0,
      context: { requestId: "", sandboxId: "", process: null, sandboxName: "", workspace: "" },
      config: null,
      target: { scheme: "", host: "", port: 0, method: "", path: "", query: "" },
      headers: [],
      body: new Uint8Array(0),
      middlewareName: "",
    };
    readMessage(r, (no, wt) => {
      switch (no) {
        case 1:
          expect(wt, WireType.Varint, "phase");
          ev.phase = r.int32();
          return true;
        case 2: {
          expect(wt, WireType.LengthDelimited, "context");
          const cr = sub(r, "context");
          readMessage(cr, (cno, cwt) => {
            switch (cno) {
              case 1:
                ev.context.requestId = str(cr, cwt, "context.request_id");
                return true;
              case 2:
                ev.context.sandboxId = str(cr, cwt, "context.sandbox_id");
                return true;
              case 3: {
                expect(cwt, WireType.LengthDelimited, "context.originating_process");
                const pr = sub(cr, "originating_process");
                const p = { binary: "", pid: 0, ancestors: [] as string[] };
                readMessage(pr, (pno, pwt) => {
                  if (pno === 1) p.binary = str(pr, pwt, "originating_process.binary");
                  else if (pno === 2) p.pid = u32(pr, pwt, "originating_process.pid");
                  else if (pno === 3) p.ancestors.push(str(pr, pwt, "originating_process.ancestors"));
                  else return false;
                  return true;
                });
                ev.context.process = p;
                return true;
              }
              case 4:
                ev.context.sandboxName = str(cr, cwt, "context.sandbox_name");
                return true;
              case 5:
                ev.context.workspace = str(cr, cwt, "context.workspace");
                return true;
              default:
                return false;
            }
          });
          return true;
        }
        case 3:
          expect(wt, WireType.LengthDelimited, "config");
          ev.config = decodeStructFrom(sub(r, "config"), 0);
          return true;
        case 4: {
          expect(wt, WireType.LengthDelimited, "target");
          const tr = sub(r, "target");
          const t = ev.target;
          readMessage(tr, (tno, twt) => {
            if (tno === 1) t.scheme = str(tr, twt, "target.scheme");
            else if (tno === 2) t.host = str(tr, twt, "target.host");
            else if (tno === 3) t.port = u32(tr, twt, "target.port");
            else if (tno === 4) t.method = str(tr, twt, "target.method");
            else if (tno === 5) t.path = str(tr, twt, "target.path");
            else if (tno === 6) t.query = str(tr, twt, "target.query");
            else return false;
            return true;
          });
          return true;
        }
        case 5: {
          expect(wt, WireType.LengthDelimited, "headers");
          const hr = sub(r, "headers");
          let name = "";
          let value = "";
          readMessage(hr, (hno, hwt) => {
            if (hno === 1) name = str(hr, hwt, "header.name");
            else if (hno === 2) value = str(hr, hwt, "header.value");
            else return false;
            return true;
          });
          ev.headers.push([name, value]);
          return true;
        }
        case 6:
          expect(wt, WireType.LengthDelimited, "body");
          ev.body = r.bytes();
          return true;
        case 7:
          ev.middlewareName = str(r, wt, "middleware_name");
          return true;
        default:
          return false;
      }
    });
    return ev;
  });
}

export type HeaderMutation =
  | { write: { name: string; value: string; onExisting: number } }
  | { remove: { name: string } };

export interface HttpRequestResult {
  decision: number;
  reason: string;
  headerMutations: HeaderMutation[];
  findings: { code: string; message: string }[];
  metadata: Record<string, string>;
  reasonCode: string;
}

export function encodeHttpRequestResult(res: HttpRequestResult): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.Varint).int32(res.decision);
  if (res.reason) w.tag(2, WireType.LengthDelimited).string(res.reason);
  for (const m of res.headerMutations) {
    w.tag(5, WireType.LengthDelimited).fork();
    if ("write" in m) {
      w.tag(1, WireType.LengthDelimited).fork();
      w.tag(1, WireType.LengthDelimited).string(m.write.name);
      w.tag(2, WireType.LengthDelimited).string(m.write.value);
      w.tag(3, WireType.Varint).int32(m.write.onExisting);
      w.join();
    } else {
      w.tag(2, WireType.LengthDelimited).fork();
      w.tag(1, WireType.LengthDelimited).string(m.remove.name);
      w.join();
    }
    w.join();
  }
  for (const f of res.findings) {
    w.tag(6, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string(f.code);
    w.tag(2, WireType.LengthDelimited).string(f.message);
    w.join();
  }
  writeStringMap(w, 7, res.metadata);
  if (res.reasonCode) w.tag(8, WireType.LengthDelimited).string(res.reasonCode);
  return w.finish();
}

// --- openshell.gateway_interceptor.v1 ------------------------------------------------------------------------------

export const InterceptorPhase = { MODIFY_OPERATION: 1, VALIDATE: 2, POST_COMMIT: 3 } as const;
/** google.rpc.Code numbers used in InterceptorResult.status_code. */
export const StatusCode = { OK: 0, INVALID_ARGUMENT: 3, PERMISSION_DENIED: 7, FAILED_PRECONDITION: 9, INTERNAL: 13 };

export interface InterceptorManifest {
  name: string;
  serviceVersion: string;
  bindings: { bindingId: string; rpc: string; phases: number[] }[];
  expectedAudience: string;
}

export function encodeInterceptorManifest(m: InterceptorManifest): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string(m.name);
  w.tag(2, WireType.LengthDelimited).string(m.serviceVersion);
  for (const b of m.bindings) {
    w.tag(3, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string(b.bindingId);
    w.tag(2, WireType.LengthDelimited).string(b.rpc);
    if (b.phases.length > 0) {
      w.tag(3, WireType.LengthDelimited).fork();
      for (const p of b.phases) w.int32(p);
      w.join();
    }
    w.join();
  }
  w.tag(4, WireType.LengthDelimited).string(m.expectedAudience);
  return w.finish();
}

export interface InterceptorEvaluation {
  interceptorName: string;
  bindingId: string;
  service: string;
  method: string;
  principal: Record<string, string>;
  phase: "modify_operation" | "validate" | "post_commit" | null;
  proposedOperation: JsonObject | null;
  currentState: JsonObject | null;
}

export function decodeInterceptorEvaluation(bytes: Uint8Array): InterceptorEvaluation {
  return guarded("InterceptorEvaluation", () => {
    const r = new BinaryReader(bytes);
    const ev: InterceptorEvaluation = {
      interceptorName: "",
      bindingId: "",
      service: "",
      method: "",
      principal: Object.create(null) as Record<string, string>,
      phase: null,
      proposedOperation: null,
      currentState: null,
    };
    readMessage(r, (no, wt) => {
      switch (no) {
        case 1:
          ev.interceptorName = str(r, wt, "interceptor_name");
          return true;
        case 2:
          ev.bindingId = str(r, wt, "binding_id");
          return true;
        case 3:
          ev.service = str(r, wt, "service");
          return true;
        case 4:
          ev.method = str(r, wt, "method");
          return true;
        case 5: {
          expect(wt, WireType.LengthDelimited, "principal");
          const [k, v] = readStringMapEntry(r, "principal");
          ev.principal[k] = v;
          return true;
        }
        case 6:
        case 7:
        case 8: {
          expect(wt, WireType.LengthDelimited, "phase");
          const pr = sub(r, "phase");
          ev.phase = no === 6 ? "modify_operation" : no === 7 ? "validate" : "post_commit";
          ev.proposedOperation = null;
          ev.currentState = null;
          readMessage(pr, (pno, pwt) => {
            if (pno !== 1 && pno !== 2) return false;
            expect(pwt, WireType.LengthDelimited, "phase struct");
            const s = decodeStructFrom(sub(pr, "phase struct"), 0);
            if (pno === 1) ev.proposedOperation = s;
            else ev.currentState = s;
            return true;
          });
          return true;
        }
        default:
          return false;
      }
    });
    return ev;
  });
}

export interface InterceptorResult {
  allowed: boolean;
  reason: string;
  statusCode: number;
  logAnnotations: Record<string, string>;
}

export function encodeInterceptorResult(res: InterceptorResult): Uint8Array {
  const w = new BinaryWriter();
  if (res.allowed) w.tag(1, WireType.Varint).bool(true);
  if (res.reason) w.tag(2, WireType.LengthDelimited).string(res.reason);
  if (res.statusCode) w.tag(3, WireType.Varint).int32(res.statusCode);
  writeStringMap(w, 5, res.logAnnotations);
  return w.finish();
}

export function encodeProviderProfiles(): Uint8Array {
  return new Uint8Array(0);
}

/** google.protobuf.Empty: any bytes that parse as a message (unknown fields ignored). */
export function decodeEmpty(bytes: Uint8Array): void {
  guarded("Empty", () => readMessage(new BinaryReader(bytes), () => false));
}

/** The name and expected audience of a MiddlewareManifest or InterceptorManifest (same field numbers): what a
 * probe (`nemoclaw check`) compares with the declaration. */
export function decodeManifestIdentity(bytes: Uint8Array): { name: string; expectedAudience: string } {
  return guarded("Manifest", () => {
    const r = new BinaryReader(bytes);
    const out = { name: "", expectedAudience: "" };
    readMessage(r, (no, wt) => {
      if (no === 1) out.name = str(r, wt, "name");
      else if (no === 4) out.expectedAudience = str(r, wt, "expected_audience");
      else return false;
      return true;
    });
    return out;
  });
}
