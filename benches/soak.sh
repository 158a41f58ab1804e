#!/usr/bin/env bash
# Durable-mode soak: a fresh nats-server, `pipeline serve --durable` as its own
# process, and `pipeline bench` publishing STREAMS streams at RATE samples/s
# each for DURATION, following the service's memory (RSS) once a second.
#
#   benches/soak.sh                        # 10,000 streams, 1.5 samples/s, 5 minutes
#   STREAMS=1000 RATE=10 DURATION=1m benches/soak.sh
#   SERVE_ARGS="--compute-threads 2" benches/soak.sh    # more flags for `serve`
#
# Prints the bench's JSON line (windows/s, loss counted from the output
# stream, latency percentiles, RSS at the start, peak and end) and writes
# out/soak-rss.png (RSS over time) and out/soak.log; then the service's own
# stage histograms (`/metrics`, kept in out/soak-metrics.txt) as a table of
# where windows spent their time (benches/stages.py). Needs a release build and
# a nats-server (`make tools` puts one in .venv/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/pipeline}
NATS_SERVER=${NATS_SERVER:-.venv/bin/nats-server}
STREAMS=${STREAMS:-10000}
RATE=${RATE:-1.5}
DURATION=${DURATION:-5m}
PORT=${PORT:-14555}
METRICS=${METRICS:-127.0.0.1:14556}
mkdir -p out
store=$(mktemp -d)
cleanup() { kill "$svc" "$ns" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$store"; }
trap cleanup EXIT
"$NATS_SERVER" -a 127.0.0.1 -p "$PORT" -js -sd "$store" >/dev/null 2>&1 &
ns=$!
sleep 0.5
url=nats://127.0.0.1:$PORT
"$BIN" serve --pair sin-cos --nats "$url" --no-service --durable --input 'bench-samples.>' \
  --output bench-translated --input-stream BENCH_SAMPLES --output-stream BENCH_TRANSLATED \
  --checkpoint-bucket BENCH_CHECKPOINTS --instance bench --max-streams $((STREAMS * 2)) \
  --metrics-addr "$METRICS" ${SERVE_ARGS:-} 2>out/soak-serve.log &
svc=$!
"$BIN" bench --nats "$url" --external-service --durable --streams "$STREAMS" --rate "$RATE" \
  --duration "$DURATION" --rss-pid "$svc" --rss-plot out/soak-rss.png --json 2>out/soak.log
python3 -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" \
  "http://$METRICS/metrics" >out/soak-metrics.txt
python3 benches/stages.py out/soak-metrics.txt >&2
