#!/usr/bin/env bash
# End-to-end rounds, alternating, for A/B comparisons on a noisy host: each
# round runs every binary in every mode once, against a fresh nats-server,
# and appends one JSON line per run to OUT (the bench's result with the
# binary's path and the mode).
#
#   benches/rounds.sh OUT [BIN...]        (default BIN: target/release/pipeline)
#
# Environment: MODES ("core durable"), ROUNDS (3), STREAMS (2000), RATE (18),
# DURATION (20s), PORT (14333), NATS_SERVER (.venv/bin/nats-server).
# UNBATCHED=1: durable runs against an output stream created beforehand
# without `allow_batched` (as an operator or an earlier version may have),
# with the service as its own process, so every translation is acknowledged
# on its own (the service logs `batched=false`).
#
# Durable against core at 2,000 streams x 18/s (issue 15):
#   benches/rounds.sh out/dvc.jsonl
# Two builds, durable only:
#   MODES=durable benches/rounds.sh out/ab.jsonl /tmp/pipeline-old /tmp/pipeline-new
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benches/rounds.sh OUT [BIN...]}
shift
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(target/release/pipeline)
NATS_SERVER=${NATS_SERVER:-.venv/bin/nats-server}
PORT=${PORT:-14333}
url=nats://127.0.0.1:$PORT
mkdir -p "$(dirname "$out")" out
: >"$out"
store=""
ns=""
svc=""
cleanup() {
  for pid in $svc $ns; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$store" ]; then rm -rf "$store"; fi
  svc="" ns="" store=""
}
trap cleanup EXIT

for round in $(seq 1 "${ROUNDS:-3}"); do
  for bin in "${bins[@]}"; do
    for mode in ${MODES:-core durable}; do
      store=$(mktemp -d)
      "$NATS_SERVER" -a 127.0.0.1 -p "$PORT" -js -sd "$store" >/dev/null 2>&1 &
      ns=$!
      sleep 0.7
      args=(--nats "$url" --streams "${STREAMS:-2000}" --rate "${RATE:-18}" --threads 1
        --duration "${DURATION:-20s}" --json)
      if [ "$mode" = durable ] && [ "${UNBATCHED:-0}" = 1 ]; then
        .venv/bin/python - "$url" <<'PY'
import asyncio, sys
import nats
from nats.js.api import StreamConfig

async def main():
    nc = await nats.connect(sys.argv[1])
    await nc.jetstream().add_stream(StreamConfig(
        name="BENCH_TRANSLATED", subjects=["bench-translated.>"], duplicate_window=120.0))
    await nc.close()

asyncio.run(main())
PY
        "$bin" serve --pair sin-cos --nats "$url" --no-service --durable --input 'bench-samples.>' \
          --output bench-translated --input-stream BENCH_SAMPLES --output-stream BENCH_TRANSLATED \
          --checkpoint-bucket BENCH_CHECKPOINTS --instance bench \
          --max-streams $((${STREAMS:-2000} * 2)) --threads 1 2>out/rounds-serve.log &
        svc=$!
        sleep 1
        args+=(--external-service)
      fi
      [ "$mode" = durable ] && args+=(--durable)
      echo "round $round: $bin $mode" >&2
      "$bin" bench "${args[@]}" 2>>out/rounds.log | tail -1 |
        sed "s|^{|{\"bin\":\"$bin\",\"round\":$round,|" >>"$out"
      cleanup
    done
  done
done
