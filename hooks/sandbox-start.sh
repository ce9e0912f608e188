#!/usr/bin/env bash
# Sandbox start hook: make sure the sidecar runs, wait until /healthz answers, then print the proxy environment
# for the sandbox on stdout (`export KEY=value` lines). Use it as
#   eval "$(hooks/sandbox-start.sh)"
# NemoClaw does not supervise external components: this hook (or systemd, see `intent-sidecar service install`)
# does. Progress goes to stderr; stdout carries only the environment.
set -euo pipefail
# shellcheck source=hooks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if healthy; then
  log "sidecar already answering on $INTENT_SIDECAR_AGENT_ADDR"
elif [ -n "$INTENT_SIDECAR_UNIT" ]; then
  log "starting systemd user unit $INTENT_SIDECAR_UNIT"
  systemctl --user start "$INTENT_SIDECAR_UNIT"
elif pid="$(recorded_pid)"; then
  log "sidecar (pid $pid) is starting; waiting for it"
else
  mkdir -p "$INTENT_SIDECAR_DATA_DIR"
  chmod 700 "$INTENT_SIDECAR_DATA_DIR"
  args=(start --data-dir "$INTENT_SIDECAR_DATA_DIR" --agent-addr "$INTENT_SIDECAR_AGENT_ADDR"
    --proxy-addr "$INTENT_SIDECAR_PROXY_ADDR" --operator-addr "$INTENT_SIDECAR_OPERATOR_ADDR")
  [ -n "${INTENT_SIDECAR_POLICY:-}" ] && args+=(--policy "$INTENT_SIDECAR_POLICY")
  [ -n "${INTENT_SIDECAR_CONFIG:-}" ] && args+=(--config "$INTENT_SIDECAR_CONFIG")
  log "starting the sidecar (log: $LOG_FILE)"
  # setsid: the daemon outlives this hook and does not get the sandbox's process-group signals
  launcher=()
  command -v setsid >/dev/null 2>&1 && launcher=(setsid)
  "${launcher[@]}" "${SIDECAR_CMD[@]}" "${args[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
fi

deadline=$((SECONDS + INTENT_SIDECAR_HEALTH_TIMEOUT))
until healthy; do
  if [ -f "$PID_FILE" ] && ! recorded_pid >/dev/null && [ -z "$INTENT_SIDECAR_UNIT" ]; then
    log "the sidecar exited during start-up; last log lines:"
    tail -n 20 "$LOG_FILE" >&2 || true
    rm -f "$PID_FILE"
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "no answer from http://$INTENT_SIDECAR_AGENT_ADDR/healthz after ${INTENT_SIDECAR_HEALTH_TIMEOUT}s"
    exit 1
  fi
  sleep 0.2
done
log "sidecar healthy on $INTENT_SIDECAR_AGENT_ADDR"

# The proxy environment: `intent-sidecar ca env` knows the CA paths; fall back to the defaults if it is missing.
if ! sidecar ca env --data-dir "$INTENT_SIDECAR_DATA_DIR" --proxy-addr "$INTENT_SIDECAR_PROXY_ADDR" 2>/dev/null; then
  ca="$INTENT_SIDECAR_DATA_DIR/proxy-ca.crt.pem"
  proxy="http://$INTENT_SIDECAR_PROXY_ADDR"
  printf 'export HTTPS_PROXY=%q\nexport HTTP_PROXY=%q\nexport https_proxy=%q\nexport http_proxy=%q\n' "$proxy" "$proxy" "$proxy" "$proxy"
  printf 'export SSL_CERT_FILE=%q\nexport NODE_EXTRA_CA_CERTS=%q\nexport REQUESTS_CA_BUNDLE=%q\nexport CURL_CA_BUNDLE=%q\n' "$ca" "$ca" "$ca" "$ca"
  # The sidecar itself is reached directly (loopback), never through its own proxy (`ca env` exports its own list).
  noproxy="127.0.0.1,localhost,::1,[::1],${INTENT_SIDECAR_AGENT_ADDR%:*}"
  printf 'export NO_PROXY=%q\nexport no_proxy=%q\n' "$noproxy" "$noproxy"
fi
printf 'export INTENT_SIDECAR_URL=%q\n' "http://$INTENT_SIDECAR_AGENT_ADDR"
