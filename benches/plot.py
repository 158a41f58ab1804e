#!/usr/bin/env python3
"""Figures for BENCHMARKS.md (needs matplotlib; run with the peers' venv):

    python benches/plot.py out/compare.jsonl out/model-only.jsonl out/lat-*.txt

Writes benches/throughput.png (median windows/s against batch size, one thread, per implementation) and
benches/latency.png (CDF of end-to-end latency per latency file; the file name says the rate).
"""
import json
import os
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
jsonl = [a for a in sys.argv[1:] if a.endswith(".jsonl")]
lats = [a for a in sys.argv[1:] if a.endswith(".txt")]

runs = defaultdict(list)
for path in jsonl:
    for line in open(path):
        if line.startswith("{"):
            r = json.loads(line)
            impl = r.get("path") or r.get("impl")
            runs[(impl, r["threads"], r["batch"])].append(r["windows_per_sec"])

fig, ax = plt.subplots(figsize=(9, 5.5))
for impl in ["fast", "ort-fused", "numpy", "reference"]:
    pts = sorted((b, statistics.median(v)) for (i, t, b), v in runs.items() if i == impl and t == 1)
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{impl} (1 thread)")
ax.set_xscale("log", base=2)
ax.set_xlabel("batch size (windows per model call)")
ax.set_ylabel("windows per second (median)")
ax.set_title("Model-only throughput, H=75, W=24, one core (2-core AMD EPYC Zen 4)")
ax.grid(True, alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(os.path.join(HERE, "throughput.png"), dpi=100)

if lats:
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for path in lats:
        v = sorted(float(x) / 1000 for x in open(path) if x.strip())
        if not v:
            continue
        ys = [(i + 1) / len(v) for i in range(len(v))]
        ax.plot(v, ys, label=os.path.basename(path).removesuffix(".txt"))
    ax.set_xscale("log")
    ax.set_xlabel("sample published → translation received (ms, log scale)")
    ax.set_ylabel("fraction of windows")
    ax.set_title("End-to-end latency through nats-server, 1,000 streams")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "latency.png"), dpi=100)
print("wrote", os.path.join(HERE, "throughput.png"), "and latency.png" if lats else "")
