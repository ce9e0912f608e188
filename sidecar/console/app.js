/* global document, sessionStorage, fetch, URLSearchParams, AbortController, TextDecoderStream, setTimeout, setInterval */
// Operator console: sign in with an operator token, review holds, approve or deny with a comment.
// Plain ES module, no build. Live updates from the SSE stream /v1/events (read with fetch so the token travels in
// the Authorization header, never in a URL); a slow poll backs it up. The token lives in sessionStorage only.
const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "intent-sidecar.operator-token";
let token = sessionStorage.getItem(TOKEN_KEY);
let holds = [];
let stream;
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
  if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
  return body;
}

function show(el, on) {
  el.hidden = !on;
}

function signOut(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stream?.abort();
  show($("#sign-in"), true);
  show($("#holds-view"), false);
  show($("#who"), false);
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
  sessionStorage.setItem(TOKEN_KEY, candidate);
  $("#operator-name").textContent = operator;
  show($("#sign-in"), false);
  show($("#holds-view"), true);
  show($("#who"), true);
  await refresh();
  listen();
}

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
}

function timeLeft(expiresAt) {
  const ms = Date.parse(expiresAt) - (Date.now() + clockSkew);
  if (ms <= 0) return "expired";
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
}

function render() {
  const list = $("#holds");
  list.replaceChildren();
  for (const h of holds) list.append(card(h));
  $("#count").textContent = `${holds.length} hold${holds.length === 1 ? "" : "s"}`;
  show($("#empty"), holds.length === 0);
}

function card(h) {
  const node = $("#hold-template").content.firstElementChild.cloneNode(true);
  node.dataset.holdId = h.id;
  node.dataset.intentId = h.intent_id;
  node.querySelector(".agent").textContent = h.agent;
  node.querySelector(".action").textContent = h.action;
  const st = node.querySelector(".state");
  st.textContent = h.state;
  st.classList.add(h.state);
  node.querySelector(".hold-id").textContent = h.id;
  const tl = node.querySelector(".time-left");
  tl.dataset.expiresAt = h.expires_at;
  tl.textContent = h.state === "pending" ? timeLeft(h.expires_at) : `${h.state} ${h.resolved_at ?? ""}`;
  const names = h.approvals.map((a) => a.operator + (a.comment ? ` (“${a.comment}”)` : "")).join(", ");
  node.querySelector(".approvals").textContent = `${h.approvals.length} of ${h.approvals_required}${names ? ": " + names : ""}`;
  const reasons = node.querySelector(".reasons");
  for (const r of h.reasons) {
    const li = document.createElement("li");
    li.textContent = `${r.block}/${r.rule}: ${r.message}`;
    reasons.append(li);
  }
  node.querySelector(".intent").textContent = JSON.stringify(h.intent, null, 2);
  const form = node.querySelector(".decide");
  if (h.state !== "pending") form.remove();
  else {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      decide(h.id, ev.submitter?.value || "approve", form);
    });
  }
  return node;
}

async function decide(holdId, verb, form) {
  const comment = form.querySelector(".comment").value.trim();
  const errEl = $("#action-error");
  show(errEl, false);
  for (const b of form.querySelectorAll("button")) b.disabled = true;
  try {
    await api(`/v1/holds/${encodeURIComponent(holdId)}/${verb}`, {
      method: "POST",
      body: JSON.stringify(verb === "approve" ? { comment } : { reason: comment }),
    });
    await refresh();
  } catch (e) {
    if (e.message !== "unauthorized") {
      errEl.textContent = `Could not ${verb} ${holdId}: ${e.message}`;
      show(errEl, true);
      await refresh().catch(() => {});
    }
  }
}

/** Reads the SSE stream; every hold event refreshes the list. Reconnects with backoff while signed in. */
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
          if (/^event: hold$/m.test(frame)) refresh().catch(() => {});
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

document.addEventListener("DOMContentLoaded", () => {
  $("#sign-in-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn($("#token").value.trim()).catch((e) => signOut(e.message));
  });
  $("#sign-out").addEventListener("click", () => signOut());
  $("#state-filter").addEventListener("change", () => refresh().catch(() => {}));
  $("#agent-filter").addEventListener("change", () => refresh().catch(() => {}));
  $("#rule-filter").addEventListener("change", () => refresh().catch(() => {}));
  setInterval(() => {
    for (const el of document.querySelectorAll(".time-left[data-expires-at]")) {
      if (el.closest(".hold")?.querySelector(".state")?.textContent === "pending") el.textContent = timeLeft(el.dataset.expiresAt);
    }
  }, 1000);
  setInterval(() => token && refresh().catch(() => {}), 30000); // backstop if the stream is silently stuck
  if (token) signIn(token).catch(() => signOut());
  else signOut();
});
