"""ONNX ``LSTM`` and ``GRU`` (opsets 7-22 semantics: forward / reverse / bidirectional,
``sequence_lens``, initial states, peepholes, ``clip``, ``input_forget``, GRU's
``linear_before_reset``, ``layout`` 0 and 1).

Numeric contract (both operators, float32 or the float64 twin):

- Per step ``t`` and direction, gate pre-activations are
  ``((x_t @ W_g^T) + (h @ R_g^T)) + (Wb_g + Rb_g)`` [LSTM adds ``P_g * c`` after that for
  the input, forget and output gates], each product a :func:`reference.linalg.matmul`
  (k ascending, no FMA) and each add rounded; ``Wb_g + Rb_g`` is summed once.
  GRU's candidate gate is ``(x_t @ Wh^T) + ((r * h) @ Rh^T + Rbh) + Wbh`` (or, with
  ``linear_before_reset=1``, ``(x_t @ Wh^T) + (r * ((h @ Rh^T) + Rbh)) + Wbh``) as ONNX
  writes it.
- ``clip`` (if given) clamps every pre-activation to ``[-clip, clip]`` before its activation.
- Activations: Sigmoid (:func:`reference.activation_ops.sigmoid`), Tanh
  (:func:`reference.math_ops.tanh`), Relu: float64 evaluation rounded once, so correctly
  rounded in practice. ONNX Runtime uses MLAS approximations of the logistic and tanh and
  blocked GEMMs; tests compare with a tolerance that accounts for the recurrence.
- LSTM: ``c = f * c_prev + i * g`` (two products, then the add), ``h = o * h(c)``;
  ``input_forget=1`` replaces ``f`` by ``1 - i`` (ONNX Runtime's coupling).
  GRU: ``h = (1 - z) * h~ + z * h_prev`` in that order.
- ``sequence_lens[b] = L``: a forward pass reads steps ``0 .. L-1``, a reverse pass steps
  ``L-1 .. 0``; outputs at steps ``>= L`` are 0 and ``Y_h``/``Y_c`` are the states after the
  last step read.

Refused (ValueError naming the attribute): activations other than Sigmoid, Tanh and Relu,
any ``activation_alpha`` / ``activation_beta`` (they only parametrise refused activations),
``sequence_lens`` outside ``[1, seq_length]``.
"""

from __future__ import annotations

import numpy as np

from reference._onnx_common import float_attr, float_tensor, unsupported
from reference._validate import check_array, check_choice, check_int
from reference.activation_ops import sigmoid
from reference.linalg import matmul
from reference.math_ops import tanh

__all__ = ["ACTIVATIONS", "gru", "lstm"]


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, x.dtype.type(0))


#: Activation names gilt evaluates inside LSTM/GRU (ONNX names, case-sensitive as ONNX).
ACTIVATIONS = {"Sigmoid": sigmoid, "Tanh": tanh, "Relu": _relu}
DIRECTIONS = ("forward", "reverse", "bidirectional")


def _activations(activations, defaults, num_dir, alpha, beta):
    for name, value in (("activation_alpha", alpha), ("activation_beta", beta)):
        if value is not None and len(value):
            raise unsupported(name, list(value), "only the parameterless activations Sigmoid, "
                              "Tanh and Relu are supported")
    names = list(defaults) * num_dir if activations is None else list(activations)
    names = [n.decode() if isinstance(n, bytes) else n for n in names]
    if len(names) != len(defaults) * num_dir:
        raise ValueError(f"activations must list {len(defaults)} functions per direction "
                         f"({len(defaults) * num_dir}), got {names}")
    for n in names:
        if n not in ACTIVATIONS:
            raise unsupported("activations", names, f"{n!r} is not one of {list(ACTIVATIONS)}")
    k = len(defaults)
    return [[ACTIVATIONS[n] for n in names[d * k:(d + 1) * k]] for d in range(num_dir)]


def _common(X, W, R, B, sequence_lens, initial, n_gates, hidden_size, direction, layout,
            clip):
    """Checked, layout-0 operands: x (S, N, I), w, r, bias (D, G*H), lens (N,), initial
    states (D, N, H) each, and the clip value (or None)."""
    check_choice("direction", direction, DIRECTIONS)
    layout = check_int("layout", layout, minimum=0, maximum=1)
    x = float_tensor("X", X)
    if x.ndim != 3:
        raise ValueError(f"X must be 3-D, got shape {x.shape}")
    if layout:
        x = x.transpose(1, 0, 2)
    seq, batch, _ = x.shape
    num_dir = 2 if direction == "bidirectional" else 1
    w, r = float_tensor("W", W), float_tensor("R", R)
    hidden = r.shape[-1] if hidden_size is None else check_int("hidden_size", hidden_size,
                                                                minimum=1)
    gh = n_gates * hidden
    if w.shape != (num_dir, gh, x.shape[2]) or r.shape != (num_dir, gh, hidden):
        raise ValueError(f"W {w.shape} / R {r.shape} must be ({num_dir}, {gh}, "
                         f"{x.shape[2]}) / ({num_dir}, {gh}, {hidden})")
    dt = x.dtype
    if w.dtype != dt or r.dtype != dt:
        raise TypeError(f"X, W and R must share a dtype, got {dt}, {w.dtype}, {r.dtype}")
    bias = np.zeros((num_dir, 2 * gh), dt) if B is None else float_tensor("B", B)
    if bias.shape != (num_dir, 2 * gh) or bias.dtype != dt:
        raise ValueError(f"B must be {dt} of shape ({num_dir}, {2 * gh}), got {bias.shape}")
    if sequence_lens is None:
        lens = np.full(batch, seq, np.int64)
    else:
        lens = check_array("sequence_lens", sequence_lens, ("int32",)).astype(np.int64)
        if lens.shape != (batch,) or lens.min(initial=1) < 1 or lens.max(initial=1) > seq:
            raise unsupported("sequence_lens", lens.tolist(), f"need {batch} values in "
                              f"[1, {seq}]")
    states = []
    for name, value in initial:
        if value is None:
            states.append(np.zeros((num_dir, batch, hidden), dt))
            continue
        s = float_tensor(name, value)
        s = s.transpose(1, 0, 2) if layout else s
        if s.shape != (num_dir, batch, hidden) or s.dtype != dt:
            raise ValueError(f"{name} must be {dt} of shape ({num_dir}, {batch}, {hidden}) "
                             f"(layout={layout}), got {s.dtype} {s.shape}")
        states.append(s)
    c = None if clip is None else float_attr(dt.type, clip, "clip")
    if c is not None and c <= 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    return x, w, r, bias, lens, states, num_dir, hidden, layout, c


def _outputs(ys, hs, layout, extra=()):
    y = np.stack(ys, axis=1)  # (S, D, N, H)
    finals = [np.stack(s, axis=0) for s in (hs,) + tuple(extra)]
    if layout:
        y = y.transpose(2, 0, 1, 3)
        finals = [f.transpose(1, 0, 2) for f in finals]
    return (y, *finals)


def _clip(v, c):
    return v if c is None else np.clip(v, -c, c)


def _lstm_direction(x, w, r, bias, p, lens, h, cst, acts, clip, reverse, input_forget):
    f_act, g_act, h_act = acts
    seq, batch, _ = x.shape
    hidden = r.shape[-1]
    wb = bias[:4 * hidden] + bias[4 * hidden:]
    y = np.zeros((seq, batch, hidden), x.dtype)
    order = range(seq - 1, -1, -1) if reverse else range(seq)
    for t in order:
        # reverse passes start at each sequence's own last step: steps >= len are skipped
        active = (t < lens)[:, None]
        gates = (matmul(x[t], w.T) + matmul(h, r.T)) + wb
        gi, go, gf, gc = (gates[:, k * hidden:(k + 1) * hidden] for k in range(4))
        if p is not None:
            gi = gi + p[:hidden] * cst
            gf = gf + p[2 * hidden:] * cst
        i = f_act(_clip(gi, clip))
        f = (x.dtype.type(1) - i) if input_forget else f_act(_clip(gf, clip))
        g = g_act(_clip(gc, clip))
        c_new = f * cst + i * g
        if p is not None:
            go = go + p[hidden:2 * hidden] * c_new
        o = f_act(_clip(go, clip))
        h_new = o * h_act(c_new)
        h = np.where(active, h_new, h)
        cst = np.where(active, c_new, cst)
        y[t] = np.where(active, h_new, x.dtype.type(0))
    return y, h, cst


def lstm(X, W, R, B=None, sequence_lens=None, initial_h=None, initial_c=None, P=None, *,
         activation_alpha=None, activation_beta=None, activations=None, clip=None,
         direction="forward", hidden_size=None, input_forget=0, layout=0
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX ``LSTM``: ``(Y, Y_h, Y_c)``. Gates in ONNX order i, o, f, c; peepholes ``P`` in
    order i, o, f. Numeric contract: the module's."""
    input_forget = check_int("input_forget", input_forget, minimum=0, maximum=1)
    x, w, r, bias, lens, (h0, c0), num_dir, hidden, layout, c = _common(
        X, W, R, B, sequence_lens, [("initial_h", initial_h), ("initial_c", initial_c)], 4,
        hidden_size, direction, layout, clip)
    acts = _activations(activations, ("Sigmoid", "Tanh", "Tanh"), num_dir, activation_alpha,
                        activation_beta)
    peep = None if P is None else float_tensor("P", P)
    if peep is not None and (peep.shape != (num_dir, 3 * hidden) or peep.dtype != x.dtype):
        raise ValueError(f"P must be {x.dtype} of shape ({num_dir}, {3 * hidden}), got "
                         f"{peep.dtype} {peep.shape}")
    ys, hs, cs = [], [], []
    for d in range(num_dir):
        reverse = direction == "reverse" or d == 1
        y, h, cst = _lstm_direction(x, w[d], r[d], bias[d], None if peep is None else peep[d],
                                    lens, h0[d], c0[d], acts[d], c, reverse, input_forget)
        ys.append(y)
        hs.append(h)
        cs.append(cst)
    return _outputs(ys, hs, layout, (cs,))


def _gru_direction(x, w, r, bias, lens, h, acts, clip, reverse, linear_before_reset):
    f_act, g_act = acts
    seq, batch, _ = x.shape
    hd = r.shape[-1]
    wb, rb = bias[:3 * hd], bias[3 * hd:]
    zr_bias = wb[:2 * hd] + rb[:2 * hd]
    y = np.zeros((seq, batch, hd), x.dtype)
    one = x.dtype.type(1)
    order = range(seq - 1, -1, -1) if reverse else range(seq)
    for t in order:
        active = (t < lens)[:, None]
        xw = matmul(x[t], w.T)
        zr = (xw[:, :2 * hd] + matmul(h, r[:2 * hd].T)) + zr_bias
        z = f_act(_clip(zr[:, :hd], clip))
        rg = f_act(_clip(zr[:, hd:], clip))
        if linear_before_reset:
            pre = xw[:, 2 * hd:] + rg * (matmul(h, r[2 * hd:].T) + rb[2 * hd:]) + wb[2 * hd:]
        else:
            pre = xw[:, 2 * hd:] + (matmul(rg * h, r[2 * hd:].T) + rb[2 * hd:]) + wb[2 * hd:]
        cand = g_act(_clip(pre, clip))
        h_new = (one - z) * cand + z * h
        h = np.where(active, h_new, h)
        y[t] = np.where(active, h_new, x.dtype.type(0))
    return y, h


def gru(X, W, R, B=None, sequence_lens=None, initial_h=None, *, activation_alpha=None,
        activation_beta=None, activations=None, clip=None, direction="forward",
        hidden_size=None, layout=0, linear_before_reset=0) -> tuple[np.ndarray, np.ndarray]:
    """ONNX ``GRU``: ``(Y, Y_h)``. Gates in ONNX order z, r, h. Numeric contract: the
    module's."""
    lbr = check_int("linear_before_reset", linear_before_reset, minimum=0, maximum=1)
    x, w, r, bias, lens, (h0,), num_dir, hidden, layout, c = _common(
        X, W, R, B, sequence_lens, [("initial_h", initial_h)], 3, hidden_size, direction,
        layout, clip)
    acts = _activations(activations, ("Sigmoid", "Tanh"), num_dir, activation_alpha,
                        activation_beta)
    ys, hs = [], []
    for d in range(num_dir):
        reverse = direction == "reverse" or d == 1
        y, h = _gru_direction(x, w[d], r[d], bias[d], lens, h0[d], acts[d], c, reverse, lbr)
        ys.append(y)
        hs.append(h)
    return _outputs(ys, hs, layout)
