#!/usr/bin/env python3
"""A user's own Python code talking to `pipeline serve` (nats-py + msgpack).

Run by tests/service.rs (`python_client_interoperates`) against a real nats-server and an in-process service:
    client.py NATS_URL PROTO_EXAMPLES_DIR
Publishes a sin stream as plain dicts (float64 values, one integer sample, a `values` batch), a malformed message,
reads the translations and the error event, calls the pipeline.translate endpoint, and decodes the proto examples.
Prints one JSON line with what it saw; exits 1 on any mismatch.
"""
import asyncio
import json
import math
import os
import sys

import msgpack
import nats

STEP = 4 * math.pi / 99
W = 24


def check(cond, what):
    if not cond:
        print(json.dumps({"ok": False, "failed": what}))
        sys.exit(1)


async def main(url, examples_dir):
    nc = await nats.connect(url)
    translations, errors = [], []
    got_all = asyncio.Event()
    got_error = asyncio.Event()

    async def on_translation(msg):
        translations.append(msgpack.unpackb(msg.data))
        if len(translations) >= 40 - W + 1:
            got_all.set()

    async def on_error(msg):
        errors.append(msgpack.unpackb(msg.data))
        got_error.set()

    await nc.subscribe("translated.py.sensor", cb=on_translation)
    await nc.subscribe("pipeline.errors", cb=on_error)
    await nc.flush()

    # Samples 0..29 one by one (float64), 30..39 as one `values` batch; an integer sample on
    # its own stream; and a malformed message.
    for s in range(0, 30):
        await nc.publish("samples.py.sensor", msgpack.packb({"seq": s, "value": math.sin(s * STEP)}))
    await nc.publish("samples.py.sensor",
                     msgpack.packb({"seq": 30, "values": [math.sin(s * STEP) for s in range(30, 40)]}))
    await nc.publish("samples.py.ints", msgpack.packb({"seq": 0, "value": 3}))
    await nc.publish("samples.py.bad", b"\x00 definitely not msgpack map")
    await nc.flush()

    await asyncio.wait_for(got_all.wait(), 10)
    await asyncio.wait_for(got_error.wait(), 10)

    check(len(translations) == 17, f"expected 17 translations, got {len(translations)}")
    check([t["seq"] for t in translations] == list(range(17)), "translations in seq order")
    keys = set(translations[0])
    check({"stream", "seq", "values", "pair", "model"} <= keys, f"keys {keys}")
    check(translations[0]["stream"] == "py.sensor" and translations[0]["pair"] == "sin-cos", "stream and pair")
    se = 0.0
    for t in translations:
        check(len(t["values"]) == W, "W values")
        se += sum((v - math.cos((t["seq"] + k) * STEP)) ** 2 for k, v in enumerate(t["values"]))
    mse = se / (len(translations) * W)
    check(mse < 3e-6, f"MSE {mse}")
    check(errors[0]["kind"] == "malformed" and errors[0]["stream"] == "py.bad", f"error {errors[0]}")
    check(errors[0]["subject"] == "samples.py.bad", "error subject")

    window = [math.sin(k * STEP) for k in range(W)]
    reply = await nc.request("pipeline.translate", msgpack.packb({"values": window}), timeout=5)
    r = msgpack.unpackb(reply.data)
    check(len(r["values"]) == W and r["pair"] == "sin-cos", f"reply {r}")
    check(max(abs(v - math.cos(k * STEP)) for k, v in enumerate(r["values"])) < 5e-3, "reply accuracy")
    bad = await nc.request("pipeline.translate", msgpack.packb({"values": [1.0]}), timeout=5)
    check(bad.headers and bad.headers.get("Nats-Service-Error-Code") == "400", f"error reply {bad.headers}")

    # The proto examples decode to what examples.json says.
    with open(os.path.join(examples_dir, "examples.json")) as f:
        expected = json.load(f)
    for name, content in expected.items():
        with open(os.path.join(examples_dir, f"{name}.msgpack"), "rb") as f:
            check(msgpack.unpackb(f.read()) == content, f"example {name}")

    await nc.close()
    print(json.dumps({"ok": True, "translations": len(translations), "mse": mse, "errors": len(errors),
                      "examples": len(expected)}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
