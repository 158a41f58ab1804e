#!/usr/bin/env python3
"""Where an idle window's time goes between processes: the hops of
`benches/idle_latency.py`'s round trip, from the kernel's own timestamps.

`/metrics` times the stages inside the service (queue, compute, publish);
this times the rest, which no process can see from inside: the client's
send, nats-server's read and its write to the responder, the responder's
wake-up and read, its write, the server's read and the client's read. It
records scheduler and system-call tracepoints on every CPU with `perf`
(root, or kernel.perf_event_paranoid ≤ -1), then follows each message the
client sends through them and prints each hop's p50 and p90 in µs.

Record while `idle_latency.py` runs its service phase (or its relay's), then
read the recording:

    sudo python3 benches/hops.py record --seconds 2 --out /tmp/hops.data
    python3 benches/hops.py show /tmp/hops.data --responder tokio-rt-worker

`--responder` is the command name (as `ps -L -o comm` shows it, 15
characters at most) of the threads that answer: `tokio-rt-worker` for
`pipeline serve`, the binary's name cut to 15 characters for the relays
(`bare_relay-39fc`); `--client` the client's (`python`).
"""
import argparse
import re
import subprocess
import sys

EVENTS = [
    "sched:sched_wakeup",
    "syscalls:sys_enter_sendto",
    "syscalls:sys_enter_write",
    "syscalls:sys_enter_writev",
    "syscalls:sys_exit_read",
    "syscalls:sys_exit_recvfrom",
]
LINE = re.compile(r"\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)")
HOPS = [
    ("server reads the client's message", "server_in"),
    ("server wakes the responder", "wake"),
    ("responder reads it", "read"),
    ("responder answers (its own time)", "write"),
    ("server reads the answer", "server_back"),
    ("client reads it", "client_in"),
]


def record(a):
    cmd = ["perf", "record", "-a", "-o", a.out]
    for e in EVENTS:
        # Not perf's own writes of what it records (each would be an event).
        cmd += ["-e", e, "--exclude-perf"]
    subprocess.run(cmd + ["--", "sleep", str(a.seconds)], check=True)


def events(path):
    script = subprocess.run(
        ["perf", "script", "-i", path, "-F", "comm,pid,tid,cpu,time,event,trace"],
        capture_output=True, text=True, check=True,
    ).stdout
    out = []
    for line in script.splitlines():
        m = LINE.match(line)
        if m:
            out.append((float(m.group(5)), m.group(1), m.group(6), m.group(7)))
    out.sort(key=lambda e: e[0])
    return out


def is_read(e):
    return e[2] in ("syscalls:sys_exit_read", "syscalls:sys_exit_recvfrom") and not e[3].startswith("0xffff")


def is_write(e):
    return e[2] in ("syscalls:sys_enter_write", "syscalls:sys_enter_writev", "syscalls:sys_enter_sendto")


def trips(ev, client, responder, server, window):
    """Each message the client sends, followed hop by hop (µs after the
    previous hop); a message whose hops are not all found is skipped."""
    found = []
    for i, e in enumerate(ev):
        if not (e[1] == client and e[2] == "syscalls:sys_enter_sendto"):
            continue
        t0, at, hop = e[0], {}, 0
        steps = [
            ("server_in", lambda x: x[1] == server and is_read(x)),
            ("wake", lambda x: x[2] == "sched:sched_wakeup" and f"comm={responder} " in x[3]),
            ("read", lambda x: x[1] == responder and is_read(x)),
            ("write", lambda x: x[1] == responder and is_write(x)),
            ("server_back", lambda x: x[1] == server and is_read(x)),
            ("client_in", lambda x: x[1] == client and is_read(x)),
        ]
        for x in ev[i + 1:]:
            if x[0] > t0 + window:
                break
            if x[1] == client and x[2] == "syscalls:sys_enter_sendto":
                break  # the next message: this one was not answered in between
            name, test = steps[hop]
            if test(x):
                at[name] = x[0]
                hop += 1
                if hop == len(steps):
                    break
        if hop == len(steps):
            found.append((t0, at))
    return found


def q(v, p):
    return v[min(len(v) - 1, int(p * len(v)))]


def show(a):
    ev = events(a.data)
    found = trips(ev, a.client, a.responder, a.server, a.window_ms / 1e3)
    if not found:
        sys.exit("no complete round trip found: check --client/--responder/--server")
    print(f"{len(found)} round trips ({a.client} -> {a.server} -> {a.responder} -> {a.server} -> {a.client})")
    prev = None
    for label, key in HOPS:
        v = sorted((at[key] - (at[prev] if prev else t0)) * 1e6 for t0, at in found)
        print(f"  {label:<36} p50 {q(v, .5):6.1f}  p90 {q(v, .9):6.1f} µs")
        prev = key
    total = sorted((at["client_in"] - t0) * 1e6 for t0, at in found)
    print(f"  {'round trip':<36} p50 {q(total, .5):6.1f}  p90 {q(total, .9):6.1f} µs")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="record every CPU's tracepoints for a while")
    r.add_argument("--seconds", type=float, default=2.0)
    r.add_argument("--out", default="hops.data")
    s = sub.add_parser("show", help="the hops of each round trip in a recording")
    s.add_argument("data")
    s.add_argument("--client", default="python")
    s.add_argument("--responder", default="tokio-rt-worker")
    s.add_argument("--server", default="nats-server")
    s.add_argument("--window-ms", type=float, default=5.0, help="longest round trip followed")
    a = p.parse_args()
    record(a) if a.cmd == "record" else show(a)
