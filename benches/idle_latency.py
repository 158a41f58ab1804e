#!/usr/bin/env python3
"""Idle latency as an independent client sees it (the latency issue's yardstick).

With nats-py: first the client's own loopback through nats-server (publish to a
subject it subscribes to); then, with --relay, a bare relay in a second process
(nats-py: each message republished as it arrives), the floor for any service on
the bus, since a service's answer crosses the server twice where the loopback
crosses it once; with --relay-cmd, the same with a relay program of choice
(`benches/relay.rs`, the same Rust client the service uses, sets the real
floor; `benches/bare_relay.rs`, no client library at all, the floor under
it); then one stream at --rate samples/s through a running
`pipeline serve --pair sin-cos` (samples.<stream> in, translated.<stream> out),
each window timed from the publication of the sample that completed it to the
translation's arrival. Prints p50/p99 of each, in ms.

    .venv/bin/python benches/idle_latency.py --nats nats://127.0.0.1:4222 --stream idle-1
"""
import argparse
import asyncio
import math
import os
import shlex
import signal
import subprocess
import sys
import time

import msgpack
import nats

W = 24


def q(v, p):
    return v[int(p * (len(v) - 1))] * 1e3


async def relay(url):
    """The relay process: republishes idle-latency.relay.in to .out."""
    nc = await nats.connect(url)

    async def forward(m):
        await nc.publish("idle-latency.relay.out", m.data)

    await nc.subscribe("idle-latency.relay.in", cb=forward)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def timed(nc, subject_in, subject_out, count, rate):
    """Round trips of `count` messages at `rate`, in seconds, sorted."""
    got = []

    async def back(m):
        got.append(time.perf_counter() - msgpack.unpackb(m.data)["t"])

    sub = await nc.subscribe(subject_out, cb=back)
    await nc.flush()
    for _ in range(count):
        await nc.publish(subject_in, msgpack.packb({"t": time.perf_counter()}))
        await asyncio.sleep(1.0 / rate)
    await asyncio.sleep(0.3)
    await sub.unsubscribe()
    return sorted(got)


async def main(a):
    nc = await nats.connect(a.nats)
    loop = await timed(nc, "idle-latency.loopback", "idle-latency.loopback", a.count, a.rate)
    relayed = []
    relays = []
    if a.relay:
        relays.append(("relay (py)", [sys.executable, __file__, "--nats", a.nats, "--serve-relay"]))
    for i, rc in enumerate(a.relay_cmd or [], 1):
        cmd = shlex.split(rc) + [a.nats, "idle-latency.relay.in", "idle-latency.relay.out"]
        relays.append((f"relay {i}" if len(a.relay_cmd) > 1 else "relay (rs)", cmd))
    for name, cmd in relays:
        # Its own process group: a command like `cargo bench …` runs the relay
        # as a child, which must go too.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
        try:
            proc.stdout.readline()  # "ready"
            relayed.append(
                (name, await timed(nc, "idle-latency.relay.in", "idle-latency.relay.out", a.count, a.rate))
            )
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    sent, served = {}, []

    async def translated(m):
        last = msgpack.unpackb(m.data)["seq"] + W - 1
        if last in sent:
            served.append(time.perf_counter() - sent[last])

    await nc.subscribe(f"translated.{a.stream}", cb=translated)
    # With --interleave, a loopback message halfway between two samples:
    # the loopback under the same conditions as the service, paired.
    beside = []

    async def looped(m):
        beside.append(time.perf_counter() - msgpack.unpackb(m.data)["t"])

    await nc.subscribe("idle-latency.beside", cb=looped)
    await nc.flush()
    for seq in range(a.count + W - 1):
        sent[seq] = time.perf_counter()
        value = math.sin(seq * 4 * math.pi / 99)
        await nc.publish(f"samples.{a.stream}", msgpack.packb({"seq": seq, "value": value}))
        if a.interleave:
            await asyncio.sleep(0.5 / a.rate)
            await nc.publish("idle-latency.beside", msgpack.packb({"t": time.perf_counter()}))
            await asyncio.sleep(0.5 / a.rate)
        else:
            await asyncio.sleep(1.0 / a.rate)
    await asyncio.sleep(0.3)
    await nc.close()
    served.sort()
    if not served:
        raise SystemExit("no translations: is `pipeline serve --pair sin-cos` running (and the stream new)?")
    print(f"loopback   n={len(loop)}  p50 {q(loop, .5):.3f} ms  p99 {q(loop, .99):.3f} ms")
    for name, times in relayed:
        print(f"{name:<11}n={len(times)}  p50 {q(times, .5):.3f} ms  p99 {q(times, .99):.3f} ms")
    print(f"service    n={len(served)}  p50 {q(served, .5):.3f} ms  p99 {q(served, .99):.3f} ms")
    if beside:
        beside.sort()
        print(f"loopback*  n={len(beside)}  p50 {q(beside, .5):.3f} ms  p99 {q(beside, .99):.3f} ms"
              "  (interleaved with the service's samples)")
        print(f"service - loopback* p50 {q(served, .5) - q(beside, .5):+.3f} ms"
              f"  p99 {q(served, .99) - q(beside, .99):+.3f} ms")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nats", default="nats://127.0.0.1:4222")
    p.add_argument("--stream", default="idle", help="a stream key not used before (seq starts at 0)")
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--relay", action="store_true", help="also time a bare relay process (the floor)")
    p.add_argument(
        "--relay-cmd",
        action="append",
        help="also time this relay program, given URL IN OUT (e.g. the Rust one: "
        "'cargo bench -q --bench relay --'; the bare one: 'cargo bench -q --bench bare_relay --'); "
        "may be given more than once (relay 1, relay 2, ... in that order)",
    )
    p.add_argument(
        "--interleave",
        action="store_true",
        help="also time the loopback during the service phase, a message halfway between two "
        "samples (loopback*): the pair measured under the same conditions",
    )
    p.add_argument("--serve-relay", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    asyncio.run(relay(args.nats) if args.serve_relay else main(args))
