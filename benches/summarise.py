#!/usr/bin/env python3
"""benches/compare.sh's JSON lines as two Markdown tables: the medians per
(implementation, threads, batch), then round by round the fast path against
the best peer of that round (ONNX Runtime or numpy, any core type) and the
fraction of the FMA probe's peak it reached. The issue's targets are per
round ("≥ 1.5× the best peer"), and on a shared VM the medians hide a round
in which the host was busy for one implementation and not the other."""
import json
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
rounds = defaultdict(dict)  # (threads, batch) -> round -> impl -> record
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    impl = r.get("path") or r.get("impl")
    runs[(impl, r["threads"], r["batch"])].append(r["windows_per_sec"])
    rounds[(r["threads"], r["batch"])].setdefault(r.get("round", 0), {})[impl] = r

print("| implementation | threads | batch | windows/s (median) | µs per window | runs |")
print("|---|---|---|---|---|---|")
for (impl, t, b), v in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2], -statistics.median(kv[1]))):
    m = statistics.median(v)
    print(f"| {impl} | {t} | {b} | {m:,.0f} | {1e6 / m * t:.1f} | {len(v)} |")

print()
print("| threads | batch | round | fast windows/s | best peer (windows/s) | fast / best peer | fraction of peak |")
print("|---|---|---|---|---|---|---|")
for (t, b), by_round in sorted(rounds.items()):
    for n, impls in sorted(by_round.items()):
        fast = impls.get("fast")
        peers = [(r["windows_per_sec"], i) for i, r in impls.items() if i.startswith(("ort", "numpy"))]
        if not fast or not peers:
            continue
        best, who = max(peers)
        frac = fast.get("peak_fraction")
        frac = f"{frac:.3f}" if frac is not None else "–"
        print(f"| {t} | {b} | {n} | {fast['windows_per_sec']:,.0f} | {who} ({best:,.0f}) | "
              f"{fast['windows_per_sec'] / best:.2f} | {frac} |")
