#!/usr/bin/env bash
# `make demo`: the whole job on one machine, for a few seconds. Starts a
# nats-server on a free port, runs `pipeline serve`, `pipeline tail` and
# `pipeline publish` (a live sin stream at 200 samples/s), prints what tail
# measured (windows, MSE against the true cos, latency), writes
# out/demo-stream.png, and stops everything it started. DURABLE=1 runs the
# service in durable mode (JetStream in and out, checkpoints in KV).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/pipeline}
# A nats-server >= 2.10 on PATH if there is one, else the pinned one `make tools` installs.
if [ -z "${NATS_SERVER:-}" ]; then
  NATS_SERVER=.venv/bin/nats-server
  if command -v nats-server >/dev/null 2>&1; then
    v=$(nats-server --version | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    if [ -n "$v" ] && [ "${v% *}" -ge 2 ] && { [ "${v% *}" -gt 2 ] || [ "${v#* }" -ge 10 ]; }; then
      NATS_SERVER=$(command -v nats-server)
    fi
  fi
fi
SAMPLES=${SAMPLES:-1000}
RATE=${RATE:-200}
mkdir -p out
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # file pattern seconds
  for _ in $(seq $(( $3 * 20 ))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

"$NATS_SERVER" -a 127.0.0.1 -p -1 -js -sd "$work/store" --ports_file_dir "$work" >"$work/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do ls "$work"/*.ports >/dev/null 2>&1 && break; sleep 0.05; done
export NATS_URL
NATS_URL=$(python3 -c 'import json,glob,sys; print(json.load(open(glob.glob(sys.argv[1])[0]))["nats"][0])' "$work/*.ports")
echo "nats-server $("$NATS_SERVER" --version | awk '{print $2}') on $NATS_URL"

# DURABLE=1: JetStream in and out, checkpoints in KV (see RELIABILITY.md).
"$BIN" serve --pair sin-cos ${DURABLE:+--durable} >"$work/serve.log" 2>&1 &
serve_pid=$!
pids+=("$serve_pid")
wait_for "$work/serve.log" serving 20

windows=$(( SAMPLES - 23 ))
"$BIN" tail --count "$windows" --duration 60s --truth --every 200 --plot out/demo-stream.png \
  >"$work/tail.txt" 2>"$work/tail.log" &
tail_pid=$!
wait_for "$work/tail.log" listening 10

echo "publishing $SAMPLES samples of sin x on samples.demo at $RATE/s ..."
"$BIN" publish --pair sin-cos --stream demo --rate "$RATE" --count "$SAMPLES" ${DURABLE:+--jetstream} 2>/dev/null
wait "$tail_pid"
cat "$work/tail.txt"

kill -INT "$serve_pid"
wait "$serve_pid"
echo "service stopped cleanly: $(grep -o 'samples=.*' "$work/serve.log" | tail -1)"
