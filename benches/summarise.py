#!/usr/bin/env python3
"""Medians per (implementation, threads, batch) of benches/compare.sh's JSON lines, as a Markdown table."""
import json
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    impl = r.get("path") or r.get("impl")
    runs[(impl, r["threads"], r["batch"])].append(r["windows_per_sec"])

print("| implementation | threads | batch | windows/s (median) | µs per window | runs |")
print("|---|---|---|---|---|---|")
for (impl, t, b), v in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2], -statistics.median(kv[1]))):
    m = statistics.median(v)
    print(f"| {impl} | {t} | {b} | {m:,.0f} | {1e6 / m * t:.1f} | {len(v)} |")
