#!/usr/bin/env python3
"""The peers our speed is judged against, running our model file.

A user who does not take `pipeline` would run the same safetensors weights
(PyTorch layout: gates i, f, g, o; encoder LSTM over the W inputs from a zero
state, decoder LSTM from its final state, step-0 input 0, each output fed back
as the next input, y_t = dense(h_t)) with one of:

  numpy      float32 numpy, one BLAS matmul per step over [h, x, 1].
  ort-fused  ONNX Runtime, one graph: the encoder as an ONNX LSTM, the decoder
             as two ONNX LSTMs (step 0 with its own weights; steps 1..W-1 with
             the fed-back output folded into the recurrent weights,
             R' = R + w_ih w_d, b' = b + w_ih b_d, and zero input), and one
             MatMul/Add for every output. Its best configuration for this model.

Before timing, the peer is checked against the numpy implementation computed
in float64 on the same windows (max abs error <= --tol). Prints one JSON line:
{"impl", "threads", "batch", "windows_per_sec", "max_abs_err", "round"?}.

    python benches/peers.py --impl ort-fused --weights models/sin-cos.safetensors --batch 256
"""
import argparse
import json
import os
import sys
import time

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--impl", required=True, choices=("numpy", "ort-fused"))
p.add_argument("--weights", required=True)
p.add_argument("--batch", type=int, required=True)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seconds", type=float, default=1.0)
p.add_argument("--warmup", type=float, default=0.3)
p.add_argument("--tol", type=float, default=1e-4)
args = p.parse_args()
# Thread counts are fixed before numpy (and its BLAS) loads.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402


def load(path):
    t = load_file(path)
    names = [f"{m}.{k}_l0" for m in ("encoder", "decoder")
             for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    return {k: t[k].astype(np.float64) for k in names + ["dense.weight", "dense.bias"]}


def window_of(path):
    meta = json.loads(open(path, "rb").read(8 + int.from_bytes(open(path, "rb").read(8), "little"))[8:])
    return int(meta.get("__metadata__", {}).get("window", 24))


def sigmoid(x):
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def reference(P, x):
    """The model's definition in float64: x [B, W] -> y [B, W]."""
    b, w = x.shape
    hid = P["encoder.weight_hh_l0"].shape[1]

    def step(m, inp, h, c):
        z = (inp[:, None] * P[f"{m}.weight_ih_l0"][:, 0] + h @ P[f"{m}.weight_hh_l0"].T
             + P[f"{m}.bias_ih_l0"] + P[f"{m}.bias_hh_l0"])
        i, f, g, o = (z[:, k * hid:(k + 1) * hid] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c), c

    h = np.zeros((b, hid))
    c = np.zeros((b, hid))
    for t in range(w):
        h, c = step("encoder", x[:, t], h, c)
    y = np.zeros((b, w))
    inp = np.zeros(b)
    for t in range(w):
        h, c = step("decoder", inp, h, c)
        y[:, t] = h @ P["dense.weight"][0] + P["dense.bias"][0]
        inp = y[:, t]
    return y


class Numpy:
    """float32, feature-major: Z[4H, B] = [W_hh | w_ih | b] @ [h; x; 1]."""

    def __init__(self, P, batch, w):
        self.w, self.hid = w, P["encoder.weight_hh_l0"].shape[1]
        f32 = np.float32

        def aug(m):
            return np.hstack([P[f"{m}.weight_hh_l0"], P[f"{m}.weight_ih_l0"],
                              (P[f"{m}.bias_ih_l0"] + P[f"{m}.bias_hh_l0"])[:, None]]).astype(f32)
        self.enc, self.dec = aug("encoder"), aug("decoder")
        self.wd = P["dense.weight"].astype(f32)            # [1, H]
        self.bd = f32(P["dense.bias"][0])
        self.s = np.zeros((self.hid + 2, batch), f32)       # [h; x; 1]
        self.c = np.zeros((self.hid, batch), f32)
        self.z = np.zeros((4 * self.hid, batch), f32)
        self.y = np.zeros((w, batch), f32)

    def __call__(self, x):
        hd, s, c, z = self.hid, self.s, self.c, self.z
        s[:] = 0.0
        s[hd + 1] = 1.0
        c[:] = 0.0
        xt = np.ascontiguousarray(x.T)
        for t in range(2 * self.w):
            enc = t < self.w
            s[hd] = xt[t] if enc else (0.0 if t == self.w else self.y[t - self.w - 1])
            np.matmul(self.enc if enc else self.dec, s, out=z)
            gi, gf, gg, go = z[:hd], z[hd:2 * hd], z[2 * hd:3 * hd], z[3 * hd:]
            for g in (gi, gf, go):
                np.multiply(g, 0.5, out=g)
                np.tanh(g, out=g)
                np.add(g, 1.0, out=g)
                np.multiply(g, 0.5, out=g)
            np.tanh(gg, out=gg)
            np.multiply(c, gf, out=c)
            np.multiply(gi, gg, out=gi)
            np.add(c, gi, out=c)
            np.tanh(c, out=gf)
            np.multiply(go, gf, out=s[:hd])
            if not enc:
                np.matmul(self.wd, s[:hd], out=self.y[t - self.w:t - self.w + 1])
                self.y[t - self.w] += self.bd
        return self.y.T


class OrtFused:
    def __init__(self, P, batch, w, threads):
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
        hid = P["encoder.weight_hh_l0"].shape[1]
        # ONNX gate order i, o, f, c from PyTorch's i, f, g, o.
        perm = np.concatenate([np.arange(hid) + k * hid for k in (0, 3, 1, 2)])

        def lstm(m, fold=False):
            w_ih = P[f"{m}.weight_ih_l0"][perm]              # [4H, 1]
            r = P[f"{m}.weight_hh_l0"][perm]                 # [4H, H]
            b_w, b_r = P[f"{m}.bias_ih_l0"][perm], P[f"{m}.bias_hh_l0"][perm]
            if fold:
                r = r + np.outer(w_ih[:, 0], P["dense.weight"][0])
                b_w = b_w + w_ih[:, 0] * P["dense.bias"][0]
            f32 = np.float32
            return (w_ih[None].astype(f32), r[None].astype(f32),
                    np.concatenate([b_w, b_r])[None].astype(f32))

        inits = []
        for name, arrs in (("enc", lstm("encoder")), ("dec0", lstm("decoder")), ("dec", lstm("decoder", True))):
            for suffix, a in zip(("W", "R", "B"), arrs):
                inits.append(numpy_helper.from_array(a, f"{name}_{suffix}"))
        inits += [
            numpy_helper.from_array(P["dense.weight"].T.astype(np.float32), "wd"),   # [H, 1]
            numpy_helper.from_array(P["dense.bias"].astype(np.float32), "bd"),
            numpy_helper.from_array(np.zeros((1, batch, 1), np.float32), "zero0"),
            numpy_helper.from_array(np.zeros((w - 1, batch, 1), np.float32), "zeros"),
            numpy_helper.from_array(np.array([2], np.int64), "ax2"),
            numpy_helper.from_array(np.array([1], np.int64), "ax1"),
        ]
        n = helper.make_node
        nodes = [
            n("Transpose", ["x"], ["xt"], perm=[1, 0]),
            n("Unsqueeze", ["xt", "ax2"], ["xs"]),
            n("LSTM", ["xs", "enc_W", "enc_R", "enc_B"], ["", "h0", "c0"], hidden_size=hid),
            n("LSTM", ["zero0", "dec0_W", "dec0_R", "dec0_B", "", "h0", "c0"], ["y0", "h1", "c1"],
              hidden_size=hid),
            n("LSTM", ["zeros", "dec_W", "dec_R", "dec_B", "", "h1", "c1"], ["yr", "", ""], hidden_size=hid),
            n("Concat", ["y0", "yr"], ["ys"], axis=0),                 # [W, 1, B, H]
            n("Squeeze", ["ys", "ax1"], ["hs"]),                       # [W, B, H]
            n("MatMul", ["hs", "wd"], ["o"]),                          # [W, B, 1]
            n("Add", ["o", "bd"], ["ob"]),
            n("Squeeze", ["ob", "ax2"], ["o2"]),                       # [W, B]
            n("Transpose", ["o2"], ["y"], perm=[1, 0]),
        ]
        graph = helper.make_graph(
            nodes, "seq2seq",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, w])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, w])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def __call__(self, x):
        return self.sess.run(["y"], {"x": x})[0]


def main():
    P = load(args.weights)
    w = window_of(args.weights)
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 1.0, size=(args.batch, w)).astype(np.float32)
    run = Numpy(P, args.batch, w) if args.impl == "numpy" else OrtFused(P, args.batch, w, args.threads)
    check = min(args.batch, 16)
    want = reference(P, x[:check].astype(np.float64))
    err = float(np.max(np.abs(run(x)[:check] - want)))
    out = {"impl": args.impl, "threads": args.threads, "batch": args.batch, "max_abs_err": err}
    if not err <= args.tol:
        out["error"] = f"max abs error {err} > {args.tol}"
        print(json.dumps(out))
        sys.exit(1)
    end = time.perf_counter() + args.warmup
    while time.perf_counter() < end:
        run(x)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        run(x)
        n += 1
    out["windows_per_sec"] = n * args.batch / (time.perf_counter() - start)
    print(json.dumps(out))


main()
