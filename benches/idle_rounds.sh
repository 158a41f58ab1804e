#!/usr/bin/env bash
# The idle-latency target, run after run: one stream at 100/s through a fresh
# `pipeline serve --pair sin-cos` per run, timed by an independent client
# (benches/idle_latency.py, nats-py), builds alternating, one nats-server for
# all. Prints a line per run and, per build, how many runs met the latency
# issue's idle target (service p50 ≤ loopback p50 + 0.3 ms, p99 ≤ loopback
# p99 + 1 ms); appends one JSON line per run to OUT.
#
#   benches/idle_rounds.sh OUT [BIN...]     (default BIN: target/release/pipeline)
#
# Environment: ROUNDS (6), COUNT (500 windows a run), PORT (14335),
# NATS_SERVER (.venv/bin/nats-server), PYTHON (.venv/bin/python),
# IDLE_ARGS (more idle_latency.py flags, e.g. --interleave, or
# --relay-cmd "cargo bench -q --bench bare_relay --").
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benches/idle_rounds.sh OUT [BIN...]}
shift
bins=("$@")
[ ${#bins[@]} -eq 0 ] && bins=(target/release/pipeline)
port=${PORT:-14335}
url="nats://127.0.0.1:$port"
mkdir -p out
ns="" svc=""
cleanup() {
  [ -n "$svc" ] && kill "$svc" 2>/dev/null && wait "$svc" 2>/dev/null
  svc=""
}
trap 'cleanup; [ -n "$ns" ] && kill "$ns" 2>/dev/null' EXIT
"${NATS_SERVER:-.venv/bin/nats-server}" -a 127.0.0.1 -p "$port" >/dev/null 2>&1 &
ns=$!
sleep 0.7
declare -A met runs
for round in $(seq 1 "${ROUNDS:-6}"); do
  for bin in "${bins[@]}"; do
    "$bin" serve --pair sin-cos --nats "$url" \
      2>out/idle-rounds-serve.log &
    svc=$!
    sleep 1.5
    # shellcheck disable=SC2086
    text=$("${PYTHON:-.venv/bin/python}" benches/idle_latency.py --nats "$url" \
      --stream "idle-$round-$RANDOM" --count "${COUNT:-500}" ${IDLE_ARGS:-})
    cleanup
    line=$(python3 - "$bin" "$round" "$text" <<'PY'
import json, re, sys
bin_, round_, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
p = {name.strip(): (float(a), float(b)) for name, a, b in
     re.findall(r"^(\S+(?: \S+)?)\s+n=\d+\s+p50 ([\d.]+) ms\s+p99 ([\d.]+) ms", text, re.M)}
loop, svc = p["loopback"], p["service"]
d50, d99 = svc[0] - loop[0], svc[1] - loop[1]
print(json.dumps({"bin": bin_, "round": round_, "p50_ms": {k: v[0] for k, v in p.items()},
                  "p99_ms": {k: v[1] for k, v in p.items()}, "service_minus_loopback_p50_ms": round(d50, 3),
                  "service_minus_loopback_p99_ms": round(d99, 3), "met": d50 <= 0.3 and d99 <= 1.0}))
PY
)
    echo "$line" >>"$out"
    echo "$line" | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(f\"round {d['round']} {d['bin']}: service - loopback p50 {d['service_minus_loopback_p50_ms']:+.3f} ms, \"
      f\"p99 {d['service_minus_loopback_p99_ms']:+.3f} ms{'' if d['met'] else '  (target missed)'}\")"
    runs[$bin]=$((${runs[$bin]:-0} + 1))
    if echo "$line" | grep -q '"met": true'; then met[$bin]=$((${met[$bin]:-0} + 1)); fi
  done
done
for bin in "${bins[@]}"; do
  echo "$bin: the idle target met in ${met[$bin]:-0} of ${runs[$bin]} runs"
done
