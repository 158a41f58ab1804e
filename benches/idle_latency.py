#!/usr/bin/env python3
"""Idle latency as an independent client sees it (the latency issue's yardstick).

With nats-py: first the client's own loopback through nats-server (publish to a
subject it subscribes to), then one stream at --rate samples/s through a running
`pipeline serve --pair sin-cos` (samples.<stream> in, translated.<stream> out),
each window timed from the publication of the sample that completed it to the
translation's arrival. Prints p50/p99 of both, in ms.

    .venv/bin/python benches/idle_latency.py --nats nats://127.0.0.1:4222 --stream idle-1
"""
import argparse
import asyncio
import math
import time

import msgpack
import nats

W = 24


def q(v, p):
    return v[int(p * (len(v) - 1))] * 1e3


async def main(a):
    nc = await nats.connect(a.nats)
    loop = []

    async def looped(m):
        loop.append(time.perf_counter() - msgpack.unpackb(m.data)["t"])

    await nc.subscribe("idle-latency.loopback", cb=looped)
    await nc.flush()
    for _ in range(a.count):
        await nc.publish("idle-latency.loopback", msgpack.packb({"t": time.perf_counter()}))
        await asyncio.sleep(1.0 / a.rate)
    await asyncio.sleep(0.3)

    sent, served = {}, []

    async def translated(m):
        last = msgpack.unpackb(m.data)["seq"] + W - 1
        if last in sent:
            served.append(time.perf_counter() - sent[last])

    await nc.subscribe(f"translated.{a.stream}", cb=translated)
    await nc.flush()
    for seq in range(a.count + W - 1):
        sent[seq] = time.perf_counter()
        value = math.sin(seq * 4 * math.pi / 99)
        await nc.publish(f"samples.{a.stream}", msgpack.packb({"seq": seq, "value": value}))
        await asyncio.sleep(1.0 / a.rate)
    await asyncio.sleep(0.3)
    await nc.close()
    loop.sort()
    served.sort()
    if not served:
        raise SystemExit("no translations: is `pipeline serve --pair sin-cos` running (and the stream new)?")
    print(f"loopback  n={len(loop)}  p50 {q(loop, .5):.3f} ms  p99 {q(loop, .99):.3f} ms")
    print(f"service   n={len(served)}  p50 {q(served, .5):.3f} ms  p99 {q(served, .99):.3f} ms")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nats", default="nats://127.0.0.1:4222")
    p.add_argument("--stream", default="idle", help="a stream key not used before (seq starts at 0)")
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--count", type=int, default=500)
    asyncio.run(main(p.parse_args()))
