#!/usr/bin/env python3
"""Where a window's time went: reads a `pipeline serve` /metrics scrape (a file
or stdin) and prints, per stage histogram, the count, the estimated p50/p99
(linear inside a bucket, as Prometheus' histogram_quantile does) and the share
of observations above 5, 10 and 25 ms.

    python3 benches/stages.py out/soak-metrics.txt
    python3 benches/stages.py --json out/soak-metrics.txt   # one JSON line
"""
import json
import re
import sys

STAGES = ["receive", "queue", "compute", "publish", "end_to_end"]
LINE = re.compile(r'^pipeline_(\w+)_seconds_bucket\{(.*)\} (\S+)$')


def buckets(text):
    """{stage: [(le, cumulative count)]} summed over every route."""
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m or m.group(1) not in STAGES:
            continue
        le = re.search(r'le="([^"]+)"', m.group(2)).group(1)
        le = float("inf") if le == "+Inf" else float(le)
        per = out.setdefault(m.group(1), {})
        per[le] = per.get(le, 0.0) + float(m.group(3))
    return {s: sorted(v.items()) for s, v in out.items()}


def quantile(q, bs):
    total = bs[-1][1]
    if total == 0:
        return None
    rank, lo, below = q * total, 0.0, 0.0
    for le, cum in bs:
        if cum >= rank:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * (rank - below) / max(cum - below, 1e-12)
        lo, below = le, cum
    return lo


def above(limit, bs):
    total = bs[-1][1]
    under = max((cum for le, cum in bs if le <= limit), default=0.0)
    return (total - under) / total if total else 0.0


def main():
    args = [a for a in sys.argv[1:] if a != "--json"]
    text = open(args[0]).read() if args else sys.stdin.read()
    rows = {}
    for stage, bs in buckets(text).items():
        rows[stage] = {
            "count": int(bs[-1][1]),
            "p50_ms": round((quantile(0.5, bs) or 0) * 1e3, 3),
            "p99_ms": round((quantile(0.99, bs) or 0) * 1e3, 3),
            "over_5ms": round(above(5e-3, bs), 5),
            "over_10ms": round(above(1e-2, bs), 5),
            "over_25ms": round(above(2.5e-2, bs), 5),
        }
    if "--json" in sys.argv:
        print(json.dumps(rows))
        return
    print(f"{'stage':<11} {'count':>9} {'p50 ms':>8} {'p99 ms':>8} {'>5ms':>8} {'>10ms':>8} {'>25ms':>8}")
    for s in STAGES:
        if s in rows:
            r = rows[s]
            print(f"{s:<11} {r['count']:>9} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
                  f"{r['over_5ms']:>8.2%} {r['over_10ms']:>8.2%} {r['over_25ms']:>8.2%}")


if __name__ == "__main__":
    main()
