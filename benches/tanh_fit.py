#!/usr/bin/env python3
"""Fits the fused kernel's tanh, x·P(x²)/Q(x²) clamped to ±LIM, and prints the
coefficients (highest power first, as `TANH_P` / `TANH_Q` in src/kernel/lib.rs
hold them) with the largest error of the rational evaluated in f32 by Horner's
rule, as the kernel does, over [-20, 20].

    /tmp/peers/bin/python benches/tanh_fit.py            # the 11/6 rational the kernel uses
    /tmp/peers/bin/python benches/tanh_fit.py --p 5      # a 9/6 one (5 terms in P)

The fit: linear least squares of x·P − tanh·Q = 0 on [0, LIM] with Q's
constant fixed, reweighted by 1/Q a few times (so the error that counts,
x·P/Q − tanh, is what is minimised), then scaled so that Q is monic (its
highest coefficient 1): the kernel's first step of Q is then an addition
x² + Q₁ instead of an FMA. That puts every Q(x²) in the thousands to
hundreds of thousands (printed): the kernel multiplies three of them
together before dividing, far inside f32's range.
"""
import argparse

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--p", type=int, default=6, help="terms in P (numerator degree 2p-1)")
ap.add_argument("--q", type=int, default=4, help="terms in Q (denominator degree 2q-2)")
ap.add_argument("--lim", type=float, default=8.0, help="clamp")
a = ap.parse_args()

x = np.linspace(1e-4, a.lim, 20000)
t, y = x * x, np.tanh(x)
w = np.ones_like(x)
for _ in range(30):
    cols = [x * t**i for i in range(a.p)] + [-y * t**j for j in range(1, a.q)]
    sol, *_ = np.linalg.lstsq(np.stack(cols, 1) * w[:, None], y * w, rcond=None)
    p, q = sol[: a.p], np.concatenate([[1.0], sol[a.p :]])
    w = 1 / np.abs(sum(q[j] * t**j for j in range(a.q)))
scale = 1.0 / q[-1]
p, q = (p * scale).astype(np.float32), (q * scale).astype(np.float32)


def horner(c, v):
    r = np.float32(c[-1])
    for k in c[-2::-1]:
        r = (r * v + k).astype(np.float32)
    return r


xs = np.linspace(-20, 20, 400001)
xc = np.clip(xs.astype(np.float32), -a.lim, a.lim).astype(np.float32)
x2 = (xc * xc).astype(np.float32)
err = np.abs((xc * horner(p, x2) / horner(q, x2)).astype(np.float32) - np.tanh(xs)).max()
qv = horner(q, np.linspace(0, a.lim**2, 1000).astype(np.float32))
print(f"{2 * a.p - 1}/{2 * a.q - 2} rational clamped at ±{a.lim}: largest error {err:.3g} in f32")
print(f"Q(x²) in [{qv.min():.3g}, {qv.max():.3g}]")
print("TANH_P:", ", ".join(np.format_float_scientific(c, unique=True) for c in p[::-1]))
print("TANH_Q:", ", ".join(np.format_float_scientific(c, unique=True) for c in q[::-1]))
