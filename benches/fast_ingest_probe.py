#!/usr/bin/env python3
"""Does JetStream fast ingest (ADR-50) keep `Nats-Msg-Id` de-duplication?

Durable mode publishes its translations as fast-ingest batches and relies on
the output stream's duplicate window to discard the outputs a restarted unit
computes again. This probe checks that on a given nats-server (2.14+): it
creates a stream with `allow_batched`, publishes four fast batches over the raw
protocol (reply subjects `<inbox>.<flow>.fail.<seq>.<op>.$FI`) whose messages
repeat ids within a batch and across batches, and then lists what the stream
stored. Expected (nats-server 2.15.1): five messages, one per id, the first
payload of each (a one-message batch is its own commit); the batch whose messages were all held already is acked with
`seq` 0. The batches share one batch id, which a single server
accepts; the service never reuses an id before its batch is acknowledged,
since on a 3-node cluster a batch still committing was sometimes counted
together with the next. Also shows the replies the service parses.

    .venv/bin/nats-server -js -p 14555 -sd /tmp/probe-store &
    .venv/bin/python benches/fast_ingest_probe.py --nats nats://127.0.0.1:14555
"""
import argparse
import asyncio
import base64
import json

import nats


async def main(url):
    nc = await nats.connect(url)
    name = "FAST_INGEST_PROBE"
    await nc.request(f"$JS.API.STREAM.DELETE.{name}", b"", timeout=2)
    config = {
        "name": name,
        "subjects": ["probe.>"],
        "storage": "file",
        "duplicate_window": 120_000_000_000,
        "allow_batched": True,
    }
    r = await nc.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(config).encode(), timeout=2)
    created = json.loads(r.data)
    if "error" in created or not created["config"].get("allow_batched"):
        raise SystemExit(f"the server does not take allow_batched: {created}")

    replies = []

    async def on_reply(m):
        replies.append((m.subject, m.data.decode()))

    inbox = "_INBOX.probe1"
    await nc.subscribe(f"{inbox}.>", cb=on_reply)

    # What a plain subscriber of the stream's subjects sees: every message
    # of a batch, and nothing else (the last message carries the commit,
    # operation 2; an end-of-batch commit, operation 3, would reach it as an
    # empty message).
    plain = []

    async def on_plain(m):
        plain.append(m.data.decode())

    await nc.subscribe("probe.>", cb=on_plain)

    async def batch(messages, flow=2):
        for seq, (msg_id, payload) in enumerate(messages, start=1):
            op = 2 if seq == len(messages) else 0 if seq == 1 else 1
            reply = f"{inbox}.{flow}.fail.{seq}.{op}.$FI"
            await nc.publish("probe.x", payload.encode(), reply=reply, headers={"Nats-Msg-Id": msg_id})
        await nc.flush()

    await batch([("m1", "a"), ("m2", "b"), ("m1", "a again"), ("m3", "c")])
    await batch([("m2", "b again"), ("m3", "c again")])
    await batch([("m4", "d"), ("m2", "b a third time")])
    await batch([("m5", "e")])
    await asyncio.sleep(0.5)
    print("replies on the batch inbox:")
    for subject, data in replies:
        print(f"  {subject}  {data}")

    r = await nc.request(f"$JS.API.STREAM.INFO.{name}", b"", timeout=2)
    state = json.loads(r.data)["state"]
    print(f"stored: {state['messages']} messages")
    for seq in range(state["first_seq"], state["last_seq"] + 1):
        r = await nc.request(f"$JS.API.STREAM.MSG.GET.{name}", json.dumps({"seq": seq}).encode(), timeout=2)
        m = json.loads(r.data).get("message", {})
        headers = base64.b64decode(m.get("hdrs", "") or "").decode().split("\r\n")[1]
        print(f"  {seq}: {base64.b64decode(m.get('data', '')).decode()!r}  {headers}")
    print(f"a plain subscriber saw {len(plain)} messages: {plain}")
    ok = state["messages"] == 5 and len(plain) == 9 and "" not in plain
    print("de-duplication kept" if ok else "DE-DUPLICATION LOST")
    await nc.request(f"$JS.API.STREAM.DELETE.{name}", b"", timeout=2)
    await nc.close()
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nats", default="nats://127.0.0.1:4222")
    asyncio.run(main(p.parse_args().nats))
