"""Quantization-aware training with learned step sizes (seed C16), against post-training
quantization at the same widths (C3, C17): ``python -m gilt.experiments.qat``.

The digits MLP of :mod:`gilt.experiments.digits` (64-128-128-10) is trained in float, then
fine-tuned with fake quantization in the forward pass:

* weights: signed, symmetric, per output channel, ``w_hat = clip(round(w / s_w), -Q, Q) * s_w``
  with ``Q = 2**(bits-1) - 1`` (W4: -7..7, W2: ternary -1..1, the same grids as the PTQ
  baseline and the reference's int4 storage);
* activations (every layer input): unsigned 8 bits, ``x_hat = clip(round(x / s_a), 0, 255) *
  s_a`` (zero point 0: the inputs are non-negative pixels and post-ReLU values);
* both step sizes are learned as in LSQ (Esser et al., "Learned Step Size Quantization",
  ICLR 2020): straight-through gradient for the value inside the range, ``d x_hat / d s =
  round(v) - v`` inside and the clip bound outside (``v = x / s``), scaled by
  ``1 / sqrt(n * Q)``; steps initialised at ``2 mean|x| / sqrt(Q)``.

The fine-tuned model is **exported** as integers (int4-range weights in int8 storage, int32
bias at ``s_a * s_w``, per-channel weight scales, uint8 activation scales) and run with gilt's
reference integer operators (``matmul_int`` + ``requantize`` in ONNX Runtime's rounding); the
same export as an ONNX graph of ``QLinearConv`` / ``ConvInteger`` nodes runs in ONNX Runtime,
and the tests check the two bit for bit. Accuracies are those of the integer model.

Everything is NumPy, seeded, on 2/3 - 1/3 splits of scikit-learn's digits (1797 images): a check
of the mechanism on a small, easy data set, not of ImageNet-scale figures.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from gilt.experiments.digits import MLP, accuracy, load_split, quantized_forward, train

ACT_QMAX = 255


@dataclass(frozen=True)
class QuantizedMLP:
    """An exported integer MLP: per layer int8-stored weights ``wq`` (K, N), int32 bias, float32
    per-channel weight scales, and the float32 scale of each layer's uint8 input."""

    weight_bits: int
    wq: tuple[np.ndarray, ...]
    bias_q: tuple[np.ndarray, ...]
    w_scale: tuple[np.ndarray, ...]
    act_scale: tuple[np.float32, ...]

    def forward_int(self, x: np.ndarray, *, mode: str = "onnxruntime") -> tuple[list, np.ndarray]:
        """The reference integer path: uint8 inputs of every layer and the int32 logits."""
        from reference.matmul_int import matmul_int
        from reference.quantize import quantize
        from reference.requantize import requantize

        q = quantize(x.astype(np.float32), self.act_scale[0], 0, dtype="uint8")
        acts = [q]
        for i, (wq, b) in enumerate(zip(self.wq, self.bias_q)):
            acc = (matmul_int(q, wq).astype(np.int64) + b).astype(np.int32)
            if i == len(self.wq) - 1:
                return acts, acc
            q = requantize(acc, self.act_scale[i], self.w_scale[i], self.act_scale[i + 1], 0,
                           mode=mode, dtype="uint8", axis=1, clamp=(0, ACT_QMAX))
            acts.append(q)
        raise AssertionError("unreachable")

    def logits(self, x: np.ndarray) -> np.ndarray:
        _, acc = self.forward_int(x)
        last = len(self.wq) - 1
        return acc.astype(np.float64) * np.float64(self.act_scale[last]) * \
            self.w_scale[last].astype(np.float64)


def _lsq_quant(v: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of ``v = x / s`` and ``d(x_hat)/d(s)`` per element (LSQ)."""
    q = np.clip(np.rint(v), lo, hi)
    ds = np.where(v < lo, lo, np.where(v > hi, hi, q - v))
    return q, ds


class _LsqMLP:
    """Float parameters, learned steps, and the fake-quant forward/backward of the module
    docstring."""

    def __init__(self, model: MLP, x_calib: np.ndarray, weight_bits: int):
        self.qw = 2 ** (weight_bits - 1) - 1
        self.bits = weight_bits
        self.w = [w.copy() for w in model.w]
        self.b = [b.copy() for b in model.b]
        self.sw = [np.maximum(2 * np.abs(w).mean(axis=0) / np.sqrt(self.qw), 1e-8)
                   for w in self.w]
        _, hidden = model.forward(x_calib)
        inputs = [x_calib, *hidden]
        self.sa = [max(2 * float(np.abs(a).mean()) / np.sqrt(ACT_QMAX), 1e-8) for a in inputs]

    def params(self) -> list:
        return [*self.w, *self.b, *self.sw, np.array(self.sa)]

    def step(self, x: np.ndarray, y: np.ndarray) -> list:
        """Gradients of mean cross-entropy, in the order of :meth:`params`."""
        n_layers = len(self.w)
        cache = []
        h = x
        for i in range(n_layers):
            va = h / self.sa[i]
            qa, dsa = _lsq_quant(va, 0, ACT_QMAX)
            xh = qa * self.sa[i]
            vw = self.w[i] / self.sw[i]
            qw, dsw = _lsq_quant(vw, -self.qw, self.qw)
            wh = qw * self.sw[i]
            z = xh @ wh + self.b[i]
            cache.append((va, dsa, xh, vw, dsw, wh, z))
            h = np.maximum(z, 0.0) if i < n_layers - 1 else z
        p = np.exp(h - h.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(y)), y] -= 1.0
        g = p / len(y)
        gw, gb, gsw, gsa = [None] * n_layers, [None] * n_layers, [None] * n_layers, [0.0] * n_layers
        for i in reversed(range(n_layers)):
            va, dsa, xh, vw, dsw, wh, z = cache[i]
            if i < n_layers - 1:
                g = g * (z > 0)
            g_wh = xh.T @ g
            inside_w = (vw >= -self.qw) & (vw <= self.qw)
            gw[i] = g_wh * inside_w
            gsw[i] = (g_wh * dsw).sum(axis=0) / np.sqrt(self.w[i].shape[0] * self.qw)
            gb[i] = g.sum(axis=0)
            g_xh = g @ wh.T
            gsa[i] = float((g_xh * dsa).sum()) / np.sqrt(va[0].size * ACT_QMAX)
            g = g_xh * ((va >= 0) & (va <= ACT_QMAX))
        return [*gw, *gb, *gsw, np.array(gsa)]

    def set_params(self, values: list) -> None:
        n = len(self.w)
        self.w, self.b = values[:n], values[n:2 * n]
        self.sw = [np.maximum(s, 1e-8) for s in values[2 * n:3 * n]]
        self.sa = [max(float(s), 1e-8) for s in values[3 * n]]

    def export(self) -> QuantizedMLP:
        wq, bias, ws = [], [], []
        act = tuple(np.float32(s) for s in self.sa)
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            s = self.sw[i].astype(np.float32)
            q = np.clip(np.rint(w / s.astype(np.float64)), -self.qw, self.qw).astype(np.int8)
            wq.append(q)
            ws.append(s)
            bias.append(np.rint(b / (np.float64(act[i]) * s.astype(np.float64))).astype(np.int32))
        return QuantizedMLP(self.bits, tuple(wq), tuple(bias), tuple(ws), act)


def train_qat(model: MLP, x: np.ndarray, y: np.ndarray, *, weight_bits: int, epochs: int = 30,
              batch: int = 64, lr: float = 1e-3, seed: int = 0) -> QuantizedMLP:
    """Fine-tune ``model`` with LSQ fake quantization (Adam) and export it."""
    if weight_bits not in (2, 4, 8):
        raise ValueError(f"weight_bits must be 2, 4 or 8, got {weight_bits!r}")
    rng = np.random.default_rng(seed)
    net = _LsqMLP(model, x, weight_bits)
    params = net.params()
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = 0
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            idx = order[start:start + batch]
            grads = net.step(x[idx], y[idx])
            t += 1
            for k, gk in enumerate(grads):
                m[k] = 0.9 * m[k] + 0.1 * gk
                v[k] = 0.999 * v[k] + 0.001 * gk * gk
                params[k] = params[k] - lr * (m[k] / (1 - 0.9 ** t)) / (
                    np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
            net.set_params(params)
            params = net.params()
    return net.export()


def export_onnx(q: QuantizedMLP) -> bytes:
    """``q`` as an ONNX model: each layer a 1x1 ``QLinearConv`` over an (N, K, 1, 1) tensor
    (uint8 activations, int8 weights with per-channel scales, int32 bias; the uint8 output's
    zero point of 0 is the ReLU), the last layer a ``ConvInteger`` plus the int32 bias: output
    ``logits_int`` (int32)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    inits += [numpy_helper.from_array(np.array(q.act_scale[0], np.float32), "x_scale"),
              numpy_helper.from_array(np.array(0, np.uint8), "zp_u8")]
    nodes.append(helper.make_node("Reshape", ["x", "shape4"], ["x4"]))
    nodes.append(helper.make_node("QuantizeLinear", ["x4", "x_scale", "zp_u8"], ["q0"]))
    inits.append(numpy_helper.from_array(np.array([-1, q.wq[0].shape[0], 1, 1], np.int64),
                                         "shape4"))
    cur = "q0"
    last = len(q.wq) - 1
    for i, (wq, b, ws) in enumerate(zip(q.wq, q.bias_q, q.w_scale)):
        w4 = np.ascontiguousarray(wq.T[:, :, None, None])          # (N, K, 1, 1)
        inits += [numpy_helper.from_array(w4, f"w{i}"),
                  numpy_helper.from_array(b.astype(np.int32), f"b{i}"),
                  numpy_helper.from_array(ws.astype(np.float32), f"ws{i}"),
                  numpy_helper.from_array(np.zeros(len(ws), np.int8), f"wzp{i}")]
        if i == last:
            inits.append(numpy_helper.from_array(np.array(0, np.int8), "zp_i8"))
            nodes.append(helper.make_node("ConvInteger", [cur, f"w{i}", "zp_u8", "zp_i8"],
                                          [f"acc{i}"]))
            nodes.append(helper.make_node("Add", [f"acc{i}", f"b4_{i}"], ["acc4"]))
            inits.append(numpy_helper.from_array(b.astype(np.int32)[None, :, None, None],
                                                 f"b4_{i}"))
            nodes.append(helper.make_node("Flatten", ["acc4"], ["logits_int"]))
            break
        inits.append(numpy_helper.from_array(np.array(q.act_scale[i + 1], np.float32),
                                             f"s{i + 1}"))
        in_scale = "x_scale" if i == 0 else f"s{i}"
        nodes.append(helper.make_node(
            "QLinearConv", [cur, in_scale, "zp_u8", f"w{i}", f"ws{i}", f"wzp{i}",
                            f"s{i + 1}", "zp_u8", f"b{i}"], [f"q{i + 1}"]))
        cur = f"q{i + 1}"
    graph = helper.make_graph(
        nodes, "qat_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("logits_int", TensorProto.INT32, [None, None])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


@dataclass(frozen=True)
class QatRow:
    seed: int
    weight_bits: int
    float_acc: float
    ptq_acc: float
    qat_acc: float
    qat_seconds: float


def _one_blas_thread():
    """Small matrices: one BLAS thread is fastest and keeps a loaded machine usable."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:        # pragma: no cover - threadpoolctl is in the test extra
        from contextlib import nullcontext
        return nullcontext()
    return threadpool_limits(1)


def run(seeds=(0, 1, 2), *, epochs: int = 60, qat_epochs: int = 30) -> list[QatRow]:
    with _one_blas_thread():
        return _run(seeds, epochs, qat_epochs)


def _run(seeds, epochs: int, qat_epochs: int) -> list[QatRow]:
    rows = []
    for seed in seeds:
        xtr, ytr, xte, yte = load_split(seed)
        model = train((64, 128, 128, 10), xtr, ytr, epochs=epochs, seed=seed)
        f_acc = accuracy(model.forward(xte)[0], yte)
        for bits in (4, 2):
            ptq = accuracy(quantized_forward(model, xtr, xte, weight_bits=bits), yte)
            t0 = time.perf_counter()
            q = train_qat(model, xtr, ytr, weight_bits=bits, epochs=qat_epochs, seed=seed)
            dt = time.perf_counter() - t0
            rows.append(QatRow(seed, bits, f_acc, ptq, accuracy(q.logits(xte), yte), dt))
    return rows


def _stat(rows: list, key: str) -> tuple[float, float]:
    values = [getattr(r, key) for r in rows]
    return statistics.mean(values), statistics.pstdev(values)


def summary(rows: list[QatRow]) -> dict:
    out = {}
    for bits in sorted({r.weight_bits for r in rows}, reverse=True):
        mine = [r for r in rows if r.weight_bits == bits]
        stat = lambda key, mine=mine: _stat(mine, key)  # noqa: E731
        out[f"W{bits}A8"] = {"float": stat("float_acc"), "ptq": stat("ptq_acc"),
                             "qat": stat("qat_acc"), "qat_seconds": stat("qat_seconds"),
                             "seeds": len(mine)}
    return out


def lines(rows: list[QatRow]) -> list[str]:
    out = []
    for name, s in summary(rows).items():
        f, p, q = s["float"][0], s["ptq"][0], s["qat"][0]
        out.append(f"{name} ({s['seeds']} seeds): float {f:.4f}, PTQ {p:.4f} "
                   f"({100 * p / f:.1f}% of float, sd {s['ptq'][1]:.4f}), LSQ QAT {q:.4f} "
                   f"({100 * q / f:.1f}%, sd {s['qat'][1]:.4f}), QAT fine-tuning "
                   f"{s['qat_seconds'][0]:.1f} s")
    return out


if __name__ == "__main__":
    t0 = time.perf_counter()
    print("\n".join(lines(run())))
    print(f"({time.perf_counter() - t0:.1f} s)")
