#!/usr/bin/env bash
# Sandbox stop hook: stop the sidecar that sandbox-start.sh started (SIGTERM: it stops accepting, drains and closes
# its store), waiting up to INTENT_SIDECAR_STOP_TIMEOUT seconds. A sidecar this hook did not start is left alone.
set -euo pipefail
# shellcheck source=hooks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ -n "$INTENT_SIDECAR_UNIT" ]; then
  log "stopping systemd user unit $INTENT_SIDECAR_UNIT"
  exec systemctl --user stop "$INTENT_SIDECAR_UNIT"
fi

if ! pid="$(recorded_pid)"; then
  log "no sidecar started by the start hook is running"
  rm -f "$PID_FILE"
  exit 0
fi

log "stopping the sidecar (pid $pid)"
kill -TERM "$pid"
deadline=$((SECONDS + INTENT_SIDECAR_STOP_TIMEOUT))
while kill -0 "$pid" 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "still running after ${INTENT_SIDECAR_STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    break
  fi
  sleep 0.2
done
rm -f "$PID_FILE"
log "stopped"
