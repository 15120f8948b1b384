"""ONNX ``Einsum`` where it is a transpose, a sum, or a (batched, broadcast) matrix product.

Supported: one or two operands; letters a-z and A-Z; ``...`` (broadcast, right-aligned
dimensions, size 1 against n); explicit (``->``) or implicit output (letters used once, in
alphabetical order, after the ellipsis dimensions). Refused with a ValueError naming the
equation: three or more operands, a letter repeated within one operand (diagonals/traces),
an output letter that is not an input letter or is repeated, and named letters whose sizes
differ between operands.
"""

from __future__ import annotations

import math
import string

import numpy as np

from reference._onnx_common import FLOAT_DTYPES, numeric_tensor
from reference.linalg import matmul
from reference.reduce import reduce_sum

__all__ = ["einsum", "parse_einsum"]

_ELLIPSIS_LABELS = "0123456789"  # private labels of ellipsis dims, never user letters


def _refuse(equation: str, why: str) -> ValueError:
    return ValueError(f"Einsum equation={equation!r} is not supported: {why}")


def parse_einsum(equation: str, ranks: list[int]) -> tuple[list[str], str]:
    """Input subscripts and output subscript with each ``...`` replaced by private digit labels
    (the shared ellipsis has ``n`` dims labelled ``0..n-1`` left to right; an operand with
    ``k <= n`` ellipsis dims gets the last ``k`` labels, NumPy's right alignment)."""
    if not isinstance(equation, str):
        raise TypeError(f"equation must be a str, got {type(equation).__name__}")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"Einsum equation={equation!r} has {len(terms)} operands, got "
                         f"{len(ranks)} inputs")
    if len(terms) > 2:
        raise _refuse(equation, "more than two operands")
    ell_dims = []
    for term, rank in zip(terms, ranks):
        letters = term.replace("...", "", 1)
        if any(c not in string.ascii_letters for c in letters):
            raise ValueError(f"Einsum equation={equation!r}: bad subscript {term!r}")
        if len(set(letters)) != len(letters):
            raise _refuse(equation, f"a letter repeats within operand {term!r} (diagonal)")
        k = rank - len(letters)
        if k < 0 or (k and "..." not in term):
            raise ValueError(f"Einsum equation={equation!r}: operand {term!r} does not match "
                             f"rank {rank}")
        ell_dims.append(k)
    n_ell = max(ell_dims)
    if n_ell > len(_ELLIPSIS_LABELS):
        raise _refuse(equation, f"{n_ell} ellipsis dimensions (at most 10)")
    ell = _ELLIPSIS_LABELS[:n_ell]
    expanded = [t.replace("...", ell[n_ell - k:]) for t, k in zip(terms, ell_dims)]
    if arrow:
        if any(c not in string.ascii_letters for c in rhs.replace("...", "", 1)):
            raise ValueError(f"Einsum equation={equation!r}: bad output subscript {rhs!r}")
        if n_ell and "..." not in rhs:
            raise _refuse(equation, "inputs have '...' but the output does not")
        out = rhs.replace("...", ell)
        used = set("".join(expanded))
        if any(c not in used for c in out) or len(set(out)) != len(out):
            raise _refuse(equation, f"output {rhs!r} names a letter twice or one no input has")
    else:
        joined = "".join(terms).replace("...", "")
        out = ell + "".join(sorted(c for c in set(joined) if joined.count(c) == 1))
    return expanded, out


def einsum(*Inputs, equation) -> np.ndarray:
    """ONNX ``Einsum`` (supported forms: see the module docstring).

    Numeric contract: one operand: a transpose and, for letters not in the output, a sum by
    :func:`reference.reduce.reduce_sum` (pairwise, summed axes contiguous). Two operands:
    letters only in one operand and not in the output are summed first in that operand (as
    above); then ``A`` is laid out as ``(batch..., A-only, contracted)`` and ``B`` as
    ``(batch..., contracted, B-only)``, each group flattened (row-major, letters in their
    order in the first operand that has them), and multiplied by
    :func:`reference.linalg.matmul` (k ascending, no FMA, float32 throughout; integers exact
    modulo 2**bits); finally reshaped and transposed to the output. ONNX Runtime may contract
    in another order: tests allow ``(K + 2) * eps * sum|a * b|``.
    """
    arrays = [numeric_tensor(f"Inputs[{i}]", a, FLOAT_DTYPES + ("int32", "int64"))
              for i, a in enumerate(Inputs)]
    if not arrays:
        raise ValueError("Einsum needs at least one input")
    if any(a.dtype != arrays[0].dtype for a in arrays):
        raise TypeError(f"Einsum inputs must share a dtype, got {[a.dtype.name for a in arrays]}")
    terms, out = parse_einsum(equation, [a.ndim for a in arrays])
    if len(arrays) == 1:
        return _unary(arrays[0], terms[0], out)
    a, ta = _presum(arrays[0], terms[0], out + terms[1])
    b, tb = _presum(arrays[1], terms[1], out + terms[0])
    sizes = _sizes(equation, (a, ta), (b, tb))
    batch = [c for c in out if c in ta and c in tb]
    contract = [c for c in ta if c in tb and c not in out]
    a_only = [c for c in ta if c not in tb]
    b_only = [c for c in tb if c not in ta]
    am = _layout(a, ta, batch, a_only, contract)
    bm = _layout(b, tb, batch, contract, b_only)
    y = matmul(am, bm)
    lead = y.shape[:len(batch)]
    y = y.reshape(lead + tuple(sizes[c] for c in a_only + b_only))
    return np.transpose(y, [(batch + a_only + b_only).index(c) for c in out])


def _unary(x: np.ndarray, term: str, out: str) -> np.ndarray:
    summed = [i for i, c in enumerate(term) if c not in out]
    if summed:
        x = reduce_sum(x, np.array(summed, np.int64), keepdims=0)
        term = "".join(c for c in term if c in out)
    return np.transpose(x, [term.index(c) for c in out])


def _presum(x: np.ndarray, term: str, others: str) -> tuple[np.ndarray, str]:
    summed = [i for i, c in enumerate(term) if c not in others]
    if not summed:
        return x, term
    return reduce_sum(x, np.array(summed, np.int64), keepdims=0), \
        "".join(c for c in term if c in others)


def _sizes(equation, *operands) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for x, term in operands:
        for c, n in zip(term, x.shape):
            if c in sizes and sizes[c] != n:
                if c.isdigit() and 1 in (n, sizes[c]):
                    sizes[c] = max(n, sizes[c])
                    continue
                raise _refuse(equation, f"letter {c!r} has sizes {sizes[c]} and {n}")
            sizes.setdefault(c, n)
    return sizes


def _layout(x: np.ndarray, term: str, batch: list[str], rows: list[str], cols: list[str]):
    """``x`` as ``(batch..., prod(rows), prod(cols))``; batch dims stay separate so that
    ellipsis dims of size 1 broadcast in the matmul."""
    y = np.transpose(x, [term.index(c) for c in batch + rows + cols])
    nb = len(batch)
    m = math.prod(y.shape[nb:nb + len(rows)])
    return y.reshape(y.shape[:nb] + (m, math.prod(y.shape[nb + len(rows):])))
