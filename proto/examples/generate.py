#!/usr/bin/env python3
"""Writes the example messages in this folder (run: .venv/bin/python proto/examples/generate.py).

Each example is written as `<name>.msgpack` with Python's msgpack (as a user's client would write it) and listed
with its logical content in `examples.json`, which the Rust and Python tests compare their decoding against.
"""
import json
import math
import os

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
STEP = 4 * math.pi / 99  # the sin-cos grid step

examples = {
    # One sample, float64 (Python's default), with a timestamp.
    "samples-value": {"seq": 0, "value": 0.0, "ts": 1764320000000000000},
    # Several consecutive samples: seq 24, 25, 26, 27.
    "samples-values": {"seq": 24, "values": [math.sin(s * STEP) for s in range(24, 28)]},
    # Integers are numbers too; extra keys are ignored.
    "samples-int": {"seq": 7, "value": 3, "unit": "bar"},
    # What the service publishes on translated.<stream>.
    "translation": {
        "stream": "plant1.pump3",
        "seq": 100,
        "values": [math.cos((100 + k) * STEP) for k in range(24)],
        "pair": "sin-cos",
        "model": "847ae98c01ba9fdc",  # the shipped sin-cos model (models/sin-cos.safetensors)
        "ts": 1764320000000000000,
    },
    # What the service publishes on pipeline.errors.
    "error-gap": {
        "stream": "plant1.pump3",
        "subject": "samples.plant1.pump3",
        "kind": "gap",
        "detail": "expected seq 130, got 140: window restarted",
    },
    # A pipeline.translate request.
    "translate-request": {"values": [math.sin(k * STEP) for k in range(24)], "pair": "sin-cos"},
}

for name, msg in examples.items():
    with open(os.path.join(HERE, f"{name}.msgpack"), "wb") as f:
        f.write(msgpack.packb(msg))
with open(os.path.join(HERE, "examples.json"), "w") as f:
    json.dump(examples, f, indent=2)
    f.write("\n")
print(f"wrote {len(examples)} examples")
