# Shared settings for the sandbox hooks. Every value can be overridden from the environment.
# shellcheck shell=bash
HOOKS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$HOOKS_DIR/.." && pwd)"

: "${INTENT_SIDECAR_DATA_DIR:=$REPO_DIR/.intent-sidecar}"
: "${INTENT_SIDECAR_AGENT_ADDR:=127.0.0.1:7400}"
: "${INTENT_SIDECAR_PROXY_ADDR:=127.0.0.1:7401}"
: "${INTENT_SIDECAR_OPERATOR_ADDR:=127.0.0.1:7402}"
: "${INTENT_SIDECAR_HEALTH_TIMEOUT:=30}"          # seconds to wait for /healthz
: "${INTENT_SIDECAR_STOP_TIMEOUT:=30}"            # seconds to wait for a clean SIGTERM shutdown
: "${INTENT_SIDECAR_UNIT:=}"                      # set to a systemd user unit name to use systemctl instead
PID_FILE="$INTENT_SIDECAR_DATA_DIR/sidecar.pid"
LOG_FILE="$INTENT_SIDECAR_DATA_DIR/sidecar.log"

# The CLI: $INTENT_SIDECAR_BIN if set, else this checkout's bin/intent-sidecar.mjs through node.
if [ -n "${INTENT_SIDECAR_BIN:-}" ]; then
  SIDECAR_CMD=("$INTENT_SIDECAR_BIN")
else
  SIDECAR_CMD=(node "$REPO_DIR/bin/intent-sidecar.mjs")
fi
sidecar() { "${SIDECAR_CMD[@]}" "$@"; }

log() { printf 'intent-sidecar hook: %s\n' "$*" >&2; }

# 0 when GET /healthz on the agent listener answers 200.
healthy() {
  local url="http://$INTENT_SIDECAR_AGENT_ADDR/healthz"
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null
  else
    node -e 'fetch(process.argv[1],{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$url"
  fi
}

# The pid recorded by sandbox-start.sh, if that process is still alive.
recorded_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
}
