/* global document, window, CSS, location, sessionStorage, fetch, URLSearchParams, AbortController, TextDecoderStream, setTimeout, setInterval */
// Operator console: sign in with an operator token; review holds (a summary of what each does, the rule that held
// it, quorum progress, the raw intent one click away) and approve or deny after a confirmation; recent decisions
// with filters; an intent's timeline; soft-limit usage with a small chart; policy status.
// Plain ES module, no build, no inline scripts or styles (strict CSP). Live updates from the SSE stream /v1/events
// (read with fetch so the token travels in the Authorization header, never in a URL); a slow poll backs it up.
// The token lives in sessionStorage only. Everything the sidecar sends is put in the page as text, never as HTML.
const $ = (sel, root = document) => root.querySelector(sel);
const TOKEN_KEY = "intent-sidecar.operator-token";
const VIEWS = ["holds", "decisions", "timeline", "usage", "policy"];
const SVG = "http://www.w3.org/2000/svg";
let token = sessionStorage.getItem(TOKEN_KEY);
let me = "";
let holds = [];
let stream;
const rawOpen = new Set(); // holds whose raw intent is open: kept open across live refreshes
let clockSkew = 0; // server now - local now, so "time left" follows the sidecar's clock

async function api(path, init = {}) {
  const res = await fetch(path, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.body ? { "content-type": "application/json" } : {}) },
  });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) {
    signOut("Your token was not accepted; sign in again.");
    throw new Error("unauthorized");
  }
  if (!res.ok) throw Object.assign(new Error(body.message || `HTTP ${res.status}`), { status: res.status, body });
  return body;
}

function show(el, on) {
  el.hidden = !on;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const sameYear = d.getFullYear() === new Date().getFullYear();
  return d.toLocaleString([], { ...(sameYear ? {} : { year: "numeric" }), month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function num(n) {
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: 6 });
}

function flash(message, ok = false) {
  const err = $("#action-error");
  const done = $("#action-done");
  show(err, false);
  show(done, false);
  if (!message) return;
  const target = ok ? done : err;
  target.textContent = message;
  show(target, true);
}

// --- sign in / out -----------------------------------------------------------------------------------------------

function signOut(message) {
  token = null;
  me = "";
  sessionStorage.removeItem(TOKEN_KEY);
  stream?.abort();
  show($("#sign-in"), true);
  for (const v of VIEWS) show($(`#${v}-view`), false);
  show($("#views"), false);
  show($("#who"), false);
  flash();
  const e = $("#sign-in-error");
  e.textContent = message || "";
  show(e, Boolean(message));
}

async function signIn(candidate) {
  token = candidate;
  const res = await fetch("/v1/whoami", { headers: { authorization: `Bearer ${candidate}` } });
  if (!res.ok) {
    signOut(res.status === 401 ? "That token is not an operator token." : `Sign-in failed (HTTP ${res.status}).`);
    return;
  }
  const { operator } = await res.json();
  me = operator;
  sessionStorage.setItem(TOKEN_KEY, candidate);
  $("#operator-name").textContent = operator;
  show($("#sign-in"), false);
  show($("#views"), true);
  show($("#who"), true);
  await route();
  listen();
}

// --- routing -----------------------------------------------------------------------------------------------------

function currentView() {
  const [view, arg] = location.hash.replace(/^#/, "").split("/");
  return { view: VIEWS.includes(view) ? view : "holds", arg: arg ? decodeURIComponent(arg) : "" };
}

async function route() {
  if (!token) return;
  const { view, arg } = currentView();
  for (const v of VIEWS) show($(`#${v}-view`), v === view);
  for (const a of document.querySelectorAll("#views a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (view === "holds") await refresh();
  else if (view === "decisions") await loadDecisions();
  else if (view === "timeline") await loadTimeline(arg);
  else if (view === "usage") await loadUsage();
  else if (view === "policy") await loadPolicy();
}

// --- holds -------------------------------------------------------------------------------------------------------

async function refresh() {
  const params = new URLSearchParams();
  const state = $("#state-filter").value;
  const agent = $("#agent-filter").value.trim();
  const rule = $("#rule-filter").value.trim();
  if (state) params.set("state", state);
  if (agent) params.set("agent", agent);
  if (rule) params.set("rule", rule);
  const body = await api(`/v1/holds?${params}`);
  clockSkew = Date.parse(body.now) - Date.now();
  holds = body.holds;
  render();
  const pending = state === "pending" && !agent && !rule ? holds.length : undefined;
  const badge = $("#pending-count");
  if (pending !== undefined) badge.textContent = String(pending);
  show(badge, Boolean(pending));
}

function timeLeft(expiresAt) {
  const ms = Date.parse(expiresAt) - (Date.now() + clockSkew);
  if (ms <= 0) return "expired";
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
}

function matches(h, q) {
  if (!q) return true;
  const hay = [h.summary?.text, h.agent, h.action, h.id, h.intent_id, ...h.rules, ...h.reasons.map((r) => r.message)]
    .join(" ")
    .toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .every((w) => hay.includes(w));
}

function sorted(list) {
  const by = $("#sort").value;
  const t = (h, k) => Date.parse(h[k]);
  const copy = [...list];
  if (by === "newest") copy.sort((a, b) => t(b, "created_at") - t(a, "created_at"));
  else if (by === "oldest") copy.sort((a, b) => t(a, "created_at") - t(b, "created_at"));
  // time left: pending first, soonest expiry first; resolved ones after, newest first
  else copy.sort((a, b) => (a.state === "pending") !== (b.state === "pending") ? (a.state === "pending" ? -1 : 1) : a.state === "pending" ? t(a, "expires_at") - t(b, "expires_at") : t(b, "created_at") - t(a, "created_at"));
  return copy;
}

function render() {
  const list = $("#holds");
  const shown = sorted(holds.filter((h) => matches(h, $("#search").value.trim())));
  list.replaceChildren(...shown.map((h) => card(h, rawOpen.has(h.id))));
  $("#count").textContent = `${shown.length} hold${shown.length === 1 ? "" : "s"}${shown.length !== holds.length ? ` of ${holds.length}` : ""}`;
  show($("#empty"), shown.length === 0);
}

function ruleText(r) {
  return `${r.block}/${r.rule}`;
}

function card(h, open) {
  const node = $("#hold-template").content.firstElementChild.cloneNode(true);
  node.dataset.holdId = h.id;
  node.dataset.intentId = h.intent_id;
  const lines = h.summary?.lines ?? [h.action];
  $(".summary", node).textContent = lines[0];
  const more = $(".summary-lines", node);
  for (const l of lines.slice(1)) more.append(el("li", { text: l }));
  show(more, lines.length > 1);
  $(".agent", node).textContent = h.agent;
  $(".action", node).textContent = h.action;
  const st = $(".state", node);
  st.textContent = h.state;
  st.classList.add(h.state);
  $(".hold-id", node).textContent = h.id;
  const tl = $(".time-left", node);
  tl.dataset.expiresAt = h.expires_at;
  tl.textContent = h.state === "pending" ? timeLeft(h.expires_at) : `${h.state} ${when(h.resolved_at)}${h.resolved_by ? ` by ${h.resolved_by}` : ""}`;
  const q = $(".quorum", node);
  q.max = h.approvals_required;
  q.value = h.approvals.length;
  q.setAttribute("aria-label", `${h.approvals.length} of ${h.approvals_required} approvals`);
  $(".approvals", node).textContent = `${h.approvals.length} of ${h.approvals_required}`;
  const approvers = $(".approvers", node);
  for (const a of h.approvals) {
    approvers.append(el("li", { text: `${a.operator === me ? `${a.operator} (you)` : a.operator}${a.comment ? `: “${a.comment}”` : ""} · ${when(a.at)}` }));
  }
  if (h.resolution_note) approvers.append(el("li", { class: "note", text: `${h.state} by ${h.resolved_by ?? "?"}: “${h.resolution_note}”` }));
  const reasons = $(".reasons", node);
  for (const r of h.reasons) reasons.append(el("li", {}, el("strong", { text: ruleText(r) }), ` ${r.message}`));
  $(".intent", node).textContent = JSON.stringify(h.intent, null, 2);
  const raw = $("details.raw", node);
  raw.open = open;
  raw.addEventListener("toggle", () => (raw.open ? rawOpen.add(h.id) : rawOpen.delete(h.id)));
  $(".timeline-link", node).href = `#timeline/${encodeURIComponent(h.intent_id)}`;
  const approve = $("button.approve", node);
  const deny = $("button.deny", node);
  if (h.state !== "pending") {
    approve.remove();
    deny.remove();
  } else {
    const mine = h.approvals.find((a) => a.operator === me);
    if (mine) {
      approve.remove(); // a second approval by the same operator would be refused (409): do not offer it
      const left = h.approvals_required - h.approvals.length;
      const you = $(".you-approved", node);
      you.textContent = `You approved this ${when(mine.at)}. Waiting for ${left} more operator${left === 1 ? "" : "s"}.`;
      show(you, true);
    } else approve.addEventListener("click", () => confirmAction(h, "approve", approve));
    deny.addEventListener("click", () => confirmAction(h, "deny", deny));
  }
  return node;
}

// --- confirmation dialog -----------------------------------------------------------------------------------------

let pendingAction; // {hold, verb, opener}

function confirmAction(h, verb, opener) {
  pendingAction = { hold: h, verb, opener };
  const dlg = $("#confirm");
  const approving = verb === "approve";
  $("#confirm-title").textContent = approving ? "Approve this action?" : "Deny this action?";
  const list = $("#confirm-summary");
  list.replaceChildren(...(h.summary?.lines ?? [h.action]).map((l) => el("li", { text: l })));
  $("#confirm-agent").textContent = `${h.agent} · ${h.action}`;
  $("#confirm-rules").textContent = h.reasons.map(ruleText).join(", ");
  const next = h.approvals.length + 1;
  $("#confirm-quorum").textContent = approving
    ? next >= h.approvals_required
      ? `Your approval is ${next} of ${h.approvals_required}: the agent receives its attestation at once.`
      : `Your approval is ${next} of ${h.approvals_required}: ${h.approvals_required - next} more operator${h.approvals_required - next === 1 ? "" : "s"} must approve.`
    : "One denial ends the hold; the agent's intent is DENIED with your reason.";
  $("#confirm-label").textContent = approving ? "Comment (optional, recorded with your approval)" : "Reason (required; the agent sees it)";
  const text = $("#confirm-text");
  text.value = "";
  text.required = !approving;
  text.removeAttribute("aria-invalid");
  show($("#confirm-error"), false);
  const ok = $("#confirm-ok");
  ok.textContent = approving ? "Approve" : "Deny";
  ok.className = approving ? "" : "danger";
  ok.disabled = false;
  dlg.showModal();
  text.focus();
}

function closeDialog() {
  const dlg = $("#confirm");
  if (dlg.open) dlg.close();
}

async function submitDialog(ev) {
  ev.preventDefault();
  if (!pendingAction) return;
  const { hold, verb } = pendingAction;
  const text = $("#confirm-text").value.trim();
  const errEl = $("#confirm-error");
  if (verb === "deny" && !text) {
    errEl.textContent = "A reason is required to deny: the agent sees it and it is kept in the audit log.";
    show(errEl, true);
    $("#confirm-text").setAttribute("aria-invalid", "true");
    $("#confirm-text").focus();
    return;
  }
  $("#confirm-ok").disabled = true;
  try {
    const r = await api(`/v1/holds/${encodeURIComponent(hold.id)}/${verb}`, {
      method: "POST",
      body: JSON.stringify(verb === "approve" ? (text ? { comment: text } : {}) : { reason: text }),
    });
    closeDialog();
    flash(
      verb === "deny"
        ? `Denied: ${hold.summary?.text ?? hold.id}`
        : r.state === "approved"
          ? `Approved (${r.approvals} of ${r.approvals_required}): ${hold.summary?.text ?? hold.id}`
          : `Your approval is recorded (${r.approvals} of ${r.approvals_required}); still pending.`,
      true,
    );
    await refresh();
  } catch (e) {
    if (e.message === "unauthorized") return closeDialog();
    errEl.textContent = `Could not ${verb}: ${e.message}`;
    show(errEl, true);
    $("#confirm-ok").disabled = false;
    refresh().catch(() => {});
  }
}

// --- decisions ---------------------------------------------------------------------------------------------------

async function loadDecisions() {
  const params = new URLSearchParams({ limit: "200" });
  for (const [id, key] of [["#d-agent", "agent"], ["#d-action", "action"], ["#d-decision", "decision"], ["#d-rule", "rule"]]) {
    const v = $(id).value.trim();
    if (v) params.set(key, v);
  }
  const { decisions } = await api(`/v1/decisions?${params}`);
  const rows = decisions.map((d) => {
    const tr = el("tr", { "data-intent-id": d.intent_id });
    const link = el("a", { href: `#timeline/${encodeURIComponent(d.intent_id)}`, text: d.summary?.text ?? d.action });
    tr.append(
      el("td", { "data-label": "Time", text: when(d.created_at) }),
      el("td", { "data-label": "Agent", text: d.agent }),
      el("td", { "data-label": "Action" }, el("code", { text: d.action })),
      el("td", { "data-label": "Decision" }, el("span", { class: `state ${d.decision.toLowerCase()}`, text: d.decision })),
      el("td", { "data-label": "Rules", class: "rules", text: d.reasons.map(ruleText).join(", ") || "—" }),
      el("td", { "data-label": "What", class: "what" }, link),
    );
    return tr;
  });
  $("#decisions").replaceChildren(...rows);
  $("#d-count").textContent = `${rows.length} decision${rows.length === 1 ? "" : "s"}`;
  show($("#d-empty"), rows.length === 0);
}

// --- timeline ----------------------------------------------------------------------------------------------------

async function loadTimeline(id) {
  $("#t-id").value = id;
  show($("#timeline"), false);
  show($("#t-missing"), false);
  if (!id) {
    $("#t-missing").textContent = "Pick an intent from the holds or decisions, or paste its id.";
    show($("#t-missing"), true);
    return;
  }
  let t;
  try {
    t = await api(`/v1/intents/${encodeURIComponent(id)}/timeline`);
  } catch (e) {
    if (e.status !== 404) throw e;
    $("#t-missing").textContent = `No intent with id ${id}.`;
    show($("#t-missing"), true);
    return;
  }
  $("#t-summary").textContent = t.summary.text;
  $("#t-agent").textContent = t.agent;
  $("#t-action").textContent = t.action;
  const st = $("#t-decision");
  st.textContent = t.decision;
  st.className = `state ${t.decision.toLowerCase()}`;
  $("#t-entries").replaceChildren(
    ...t.entries.map((e) =>
      el("li", { class: `entry ${e.type.replace(/\./g, "-")}`, "data-type": e.type }, el("time", { datetime: e.at, text: when(e.at) }), el("span", { class: "title", text: e.title })),
    ),
  );
  show($("#timeline"), true);
}

// --- usage -------------------------------------------------------------------------------------------------------

function duration(ms) {
  // hours up to two days ("24h" reads better than "1d"), then days
  const units = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]];
  for (const [u, n] of units) if (ms >= (u === "d" ? 2 * n : n) && ms % n === 0) return `${ms / n}${u}`;
  return `${Math.round(ms / 1000)}s`;
}

/** A small bar chart of the window's slices, as inline SVG built here (no library, no inline styles). */
function chart(buckets, max, windowMs) {
  const w = 240;
  const h = 60;
  const top = Math.max(...buckets, 1e-9);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h + 14}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  const total = buckets.reduce((a, b) => a + b, 0);
  svg.setAttribute("aria-label", `${num(total)} reserved over the last ${duration(windowMs)} of a ${num(max)} cap, in ${buckets.length} slices`);
  const slot = w / buckets.length;
  const base = document.createElementNS(SVG, "line");
  for (const [k, v] of Object.entries({ x1: 0, x2: w, y1: h + 0.5, y2: h + 0.5, class: "axis" })) base.setAttribute(k, String(v));
  svg.append(base);
  buckets.forEach((b, i) => {
    const bh = b > 0 ? Math.max(2, (b / top) * (h - 4)) : 0;
    const r = document.createElementNS(SVG, "rect");
    for (const [k, v] of Object.entries({ x: i * slot + 1, y: h - bh, width: Math.max(1, slot - 2), height: bh, class: "bar" })) r.setAttribute(k, String(v));
    const title = document.createElementNS(SVG, "title");
    title.textContent = num(b);
    r.append(title);
    svg.append(r);
  });
  for (const [x, anchor, label] of [[0, "start", `−${duration(windowMs)}`], [w, "end", "now"]]) {
    const t = document.createElementNS(SVG, "text");
    for (const [k, v] of Object.entries({ x, y: h + 12, "text-anchor": anchor, class: "tick" })) t.setAttribute(k, String(v));
    t.textContent = label;
    svg.append(t);
  }
  return svg;
}

async function loadUsage() {
  const u = await api("/v1/usage");
  const out = u.limits.map((l) => {
    const box = el("article", { class: "card limit", "data-limit-id": l.id });
    box.append(
      el("h3", { text: l.id }),
      el("p", { class: "muted", text: `${l.measure === "count" ? "count of intents" : "sum of the measure"} · scope ${l.scope} · rolling ${duration(l.window_ms)} · cap ${num(l.max)}` }),
    );
    if (l.streams.length === 0) box.append(el("p", { class: "muted", text: "Nothing reserved in the window." }));
    for (const s of l.streams) {
      const pct = l.max > 0 ? Math.min(100, Math.round((s.total / l.max) * 100)) : 100;
      const meter = el("meter", { min: "0", max: String(l.max), value: String(Math.min(s.total, l.max)), low: String(l.max * 0.7), high: String(l.max * 0.9), optimum: "0" });
      meter.setAttribute("aria-label", `${s.scope} ${s.name}: ${num(s.total)} of ${num(l.max)}`);
      const row = el(
        "div",
        { class: "stream", "data-scope-key": s.scope_key },
        el("div", { class: "stream-head" }, el("strong", { text: `${s.scope} ${s.name}` }), el("span", { class: "used", text: `${num(s.total)} of ${num(l.max)} (${pct}%) · ${num(s.remaining)} left` })),
        meter,
        chart(s.buckets, l.max, l.window_ms),
      );
      if (s.by_agent.length > 1 || (s.by_agent.length === 1 && s.scope !== "agent")) {
        row.append(el("p", { class: "muted by-agent", text: `by agent: ${s.by_agent.map((a) => `${a.agent} ${num(a.total)}`).join(", ")}` }));
      }
      box.append(row);
    }
    return box;
  });
  // budgets (policy `budgets`): each key's spend in the budget's current fixed window, amounts as exact decimals
  for (const b of u.budgets ?? []) {
    const box = el("article", { class: "card limit budget", "data-budget-id": b.id });
    box.append(
      el("h3", { text: `budget ${b.id}` }),
      el("p", { class: "muted", text: `scope ${b.scope} · ${b.per} from ${when(b.window.start)} · limit ${b.limit} ${b.currency} · beyond it: ${b.on_exceed}` }),
    );
    if (b.streams.length === 0) box.append(el("p", { class: "muted", text: "Nothing spent in this window." }));
    for (const s of b.streams) {
      const meter = el("meter", { min: "0", max: "1", value: String(Math.min(1, s.used)), low: "0.7", high: "0.9", optimum: "0" });
      meter.setAttribute("aria-label", `${b.scope} ${s.key}: ${s.total} of ${b.limit} ${b.currency}`);
      const alerted = s.alerted.length ? ` · alerted at ${s.alerted.map((t) => `${Math.round(t * 100)}%`).join(", ")}` : "";
      box.append(
        el(
          "div",
          { class: "stream", "data-key": s.key },
          el(
            "div",
            { class: "stream-head" },
            el("strong", { text: s.counted_alone ? `agent ${s.key} (no ${b.scope} principal, counted alone)` : `${b.scope} ${s.key}` }),
            el("span", { class: "used", text: `${s.total} of ${b.limit} ${b.currency} (${Math.round(s.used * 100)}%)${s.exceeded ? " · exceeded" : ` · ${s.remaining} left`}${alerted}` }),
          ),
          meter,
        ),
      );
    }
    out.push(box);
  }
  $("#usage").replaceChildren(...out);
  show($("#u-empty"), out.length === 0);
}

// --- policy ------------------------------------------------------------------------------------------------------

async function loadPolicy() {
  const p = await api("/v1/policy/status");
  $("#p-status").textContent = p.loaded ? (p.last_error ? "serving the last valid policy; the latest edit failed to load" : "loaded") : "no policy loaded: every intent is DENIED";
  $("#p-digest").textContent = p.digest ?? "—";
  $("#p-file").textContent = p.file ?? "—";
  $("#p-loaded").textContent = when(p.loaded_at) || "—";
  $("#p-last").textContent = p.last_reload ? `${when(p.last_reload.at)}: ${p.last_reload.ok ? "ok" : "failed"}` : "none since the audit log began";
  $("#p-limits").textContent = String(p.soft_limits);
  $("#p-error").textContent = p.last_error ?? "";
  show($("#p-error-box"), Boolean(p.last_error));
}

async function reloadPolicy() {
  const out = $("#p-reload-result");
  out.textContent = "reloading…";
  const res = await fetch("/v1/policy/reload", { method: "POST", headers: { authorization: `Bearer ${token}` } });
  const body = await res.json().catch(() => ({}));
  out.textContent = body.ok ? `reloaded: ${body.digest}` : `reload failed: ${body.error ?? `HTTP ${res.status}`}`;
  await loadPolicy();
}

// --- live updates ------------------------------------------------------------------------------------------------

/** Reads the SSE stream; every hold event refreshes the holds (and the open view). Reconnects with backoff. */
async function listen() {
  stream?.abort();
  const ctl = new AbortController();
  stream = ctl;
  let delay = 1000;
  while (token && !ctl.signal.aborted) {
    try {
      const res = await fetch("/v1/events", { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      $("#live").classList.add("on");
      delay = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (/^event: hold$/m.test(frame)) onHoldEvent();
        }
      }
    } catch {
      /* dropped: reconnect below */
    }
    $("#live").classList.remove("on");
    if (ctl.signal.aborted) break;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 15000);
    refresh().catch(() => {});
  }
}

function onHoldEvent() {
  refresh().catch(() => {});
  const { view, arg } = currentView();
  if (view === "decisions") loadDecisions().catch(() => {});
  if (view === "timeline" && arg) loadTimeline(arg).catch(() => {});
}

document.addEventListener("DOMContentLoaded", () => {
  $("#sign-in-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn($("#token").value.trim()).catch((e) => signOut(e.message));
  });
  $("#sign-out").addEventListener("click", () => signOut());
  const reload = () => refresh().catch(() => {});
  $("#holds-filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    reload();
  });
  $("#state-filter").addEventListener("change", reload);
  $("#agent-filter").addEventListener("change", reload);
  $("#rule-filter").addEventListener("change", reload);
  $("#search").addEventListener("input", () => render());
  $("#sort").addEventListener("change", () => render());
  $("#decisions-filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    loadDecisions().catch((e) => flash(e.message));
  });
  $("#d-decision").addEventListener("change", () => loadDecisions().catch((e) => flash(e.message)));
  $("#timeline-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = `#timeline/${encodeURIComponent($("#t-id").value.trim())}`;
  });
  $("#p-reload").addEventListener("click", () => reloadPolicy().catch((e) => flash(e.message)));
  $("#confirm-form").addEventListener("submit", submitDialog);
  $("#confirm-cancel").addEventListener("click", closeDialog);
  // Escape closes the dialog natively ("cancel"); either way, focus goes back to the button that opened it
  $("#confirm").addEventListener("close", () => {
    const p = pendingAction;
    pendingAction = undefined;
    if (!p) return;
    // a live refresh may have re-rendered the card: focus its current button, else the card
    const cardNow = document.querySelector(`article.hold[data-hold-id="${CSS.escape(p.hold.id)}"]`);
    const target = p.opener.isConnected ? p.opener : (cardNow?.querySelector(`button.${p.verb}`) ?? cardNow?.querySelector("button") ?? $("#holds"));
    target?.focus();
  });
  window.addEventListener("hashchange", () => {
    flash();
    route().catch((e) => e.message !== "unauthorized" && flash(e.message));
  });
  setInterval(() => {
    for (const t of document.querySelectorAll(".time-left[data-expires-at]")) {
      if (t.closest(".hold")?.querySelector(".state")?.textContent === "pending") t.textContent = timeLeft(t.dataset.expiresAt);
    }
  }, 1000);
  setInterval(() => token && refresh().catch(() => {}), 30000); // backstop if the stream is silently stuck
  if (token) signIn(token).catch(() => signOut());
  else signOut();
});
