#!/usr/bin/env python3
"""Generates the golden numbers quoted in tests/numerics.rs (numpy, float64).

Two small models (H = 3, W = 5) whose weights come from closed formulas, so the
Rust test rebuilds the same weights without any data file:

1. PyTorch layout (torch.nn.LSTM semantics, gates i, f, g, o, two biases):
   tensor number n (file order: encoder.weight_ih_l0, encoder.weight_hh_l0,
   encoder.bias_ih_l0, encoder.bias_hh_l0, the same for decoder, dense.weight,
   dense.bias), flat element k:   value = 0.4 * sin(1.3 * k + 0.7 * n + 0.1)

2. Keras layout (keras.layers.LSTM semantics: kernel [in, 4H], recurrent_kernel
   [H, 4H], one bias [4H], gates i, f, c, o; Dense kernel [H, 1], bias [1]);
   for LSTM number m (0 encoder, 1 decoder):
     kernel[0, j]              = 0.4 * sin(1.1 * j + 0.3 + m)
     recurrent_kernel[r, j]    = 0.3 * cos(0.5 * (12 * r + j) + 0.2 + m)
     bias[j]                   = 0.1 * sin(j + m)
   dense kernel[r, 0] = 0.5 * cos(r + 0.4), dense bias[0] = 0.05

Input windows: x[b, t] = sin(0.9 * t + 1.7 * b), b = 0, 1.
Decoding is autoregressive: step 0 reads 0, step t reads the prediction of t-1.

Run: python3 tests/golden/gen_golden.py
"""
import numpy as np

H, W, B = 3, 5, 2
sig = lambda z: 1.0 / (1.0 + np.exp(-z))
x = np.array([[np.sin(0.9 * t + 1.7 * b) for t in range(W)] for b in range(B)])


def torch_params():
    shapes = [(4 * H, 1), (4 * H, H), (4 * H,), (4 * H,)] * 2 + [(1, H), (1,)]
    out = []
    for n, s in enumerate(shapes):
        k = np.arange(int(np.prod(s)))
        out.append((0.4 * np.sin(1.3 * k + 0.7 * n + 0.1)).reshape(s))
    return out


def torch_cell(p, xt, h, c):
    w_ih, w_hh, b_ih, b_hh = p
    z = xt[:, None] @ w_ih.T + h @ w_hh.T + b_ih + b_hh
    i, f, g, o = sig(z[:, :H]), sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
    c = f * c + i * g
    return o * np.tanh(c), c


def keras_params():
    lstms = []
    for m in range(2):
        kernel = np.array([[0.4 * np.sin(1.1 * j + 0.3 + m) for j in range(4 * H)]])
        rec = np.array([[0.3 * np.cos(0.5 * (12 * r + j) + 0.2 + m) for j in range(4 * H)] for r in range(H)])
        bias = np.array([0.1 * np.sin(j + m) for j in range(4 * H)])
        lstms.append((kernel, rec, bias))
    dk = np.array([[0.5 * np.cos(r + 0.4)] for r in range(H)])
    return lstms, dk, np.array([0.05])


def keras_cell(p, xt, h, c):
    kernel, rec, bias = p
    z = xt[:, None] @ kernel + h @ rec + bias
    i, f = sig(z[:, :H]), sig(z[:, H:2 * H])
    cc, o = np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
    c = f * c + i * cc
    return o * np.tanh(c), c


def decode(cell, enc, dec, dense):
    h = np.zeros((B, H)); c = np.zeros((B, H))
    for t in range(W):
        h, c = cell(enc, x[:, t], h, c)
    y = np.zeros(B); ys = []
    for t in range(W):
        h, c = cell(dec, y, h, c)
        y = dense(h)
        ys.append(y)
    return np.stack(ys, 1)


tp = torch_params()
torch_out = decode(torch_cell, tp[0:4], tp[4:8], lambda h: (h @ tp[8].T + tp[9])[:, 0])
(ke, kd), dk, db = keras_params()
keras_out = decode(keras_cell, ke, kd, lambda h: (h @ dk + db)[:, 0])
np.set_printoptions(precision=9, floatmode="fixed")
print("pytorch layout:\n", repr(torch_out))
print("keras layout:\n", repr(keras_out))
