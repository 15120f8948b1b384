"""ONNX data-movement and shape operators: exact (no arithmetic on the data), any dtype.

Slice, Gather, GatherElements, Squeeze, Unsqueeze, Split, Pad, Expand, Tile, Where, Concat,
Reshape, Transpose, Flatten, ConstantOfShape, Range, Shape, Size, Identity, Dropout (inference).

Convention (all of ``reference/``'s ONNX families): ONNX inputs are positional in ONNX order
(an absent optional input is ``None``); ONNX attributes are keyword-only with ONNX's default in
the signature (attributes ONNX requires have no default). An input that older opsets took as
an attribute (Squeeze/Unsqueeze ``axes`` before opset 13, Split ``split`` before 13) is the
same positional parameter: the caller passes the attribute's value there
(:mod:`reference.onnx_ops_table` does). Outputs: one array, or a tuple in ONNX output order for
operators with several outputs.

Numeric contract (every function here): outputs hold input values moved, repeated or selected,
never computed, so they are bit-exact against any runtime; Range is the one exception (it adds,
see its docstring). Integer index inputs (int32/int64) out of range are a ``ValueError``, never
clamped, except where ONNX defines clamping (Slice, Shape). Outputs may share memory with the
inputs (NumPy views): treat them as read-only.
"""

from __future__ import annotations

import math

import numpy as np

from reference._onnx_common import (
    broadcast_shape,
    int_list,
    normalize_axes,
    scalar_value,
    unsupported,
)
from reference._validate import check_axis, check_choice, check_int, describe

__all__ = [
    "PAD_MODES",
    "concat",
    "constant_of_shape",
    "dropout",
    "expand",
    "flatten",
    "gather",
    "gather_elements",
    "identity",
    "pad",
    "range_",
    "reshape",
    "shape",
    "size",
    "slice_",
    "split",
    "squeeze",
    "tile",
    "transpose",
    "unsqueeze",
    "where",
]

PAD_MODES = ("constant", "reflect", "edge", "wrap")
MAX_RANGE = 2**31  # Range builds its output element by element: a larger one is a bad input


def _tensor(name: str, x: object) -> np.ndarray:
    if not isinstance(x, np.ndarray | np.generic):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__} "
                        f"({describe(x)})")
    return np.asarray(x)


def slice_(data, starts, ends, axes=None, steps=None) -> np.ndarray:
    """ONNX ``Slice`` (opset 10+: starts, ends, axes, steps as inputs).

    Per axis (ONNX rules): a negative start/end adds the dimension; then for ``step > 0`` start
    and end are clamped to ``[0, dim]``, for ``step < 0`` start to ``[0, dim - 1]`` and end to
    ``[-1, dim - 1]`` (end -1 meaning "past index 0"). ``axes`` default ``0 .. len(starts)-1``,
    may be negative, must not repeat; ``steps`` default 1, must not be 0.

    Numeric contract: exact (a strided selection). Errors: ValueError for length mismatches,
    repeated axes or a zero step.
    """
    data = _tensor("data", data)
    starts, ends = int_list("starts", starts), int_list("ends", ends)
    if len(ends) != len(starts):
        raise ValueError(f"starts and ends must have the same length, got {len(starts)} and "
                         f"{len(ends)}")
    n = len(starts)
    axes = tuple(range(n)) if axes is None else int_list("axes", axes, length=n)
    axes = normalize_axes("axes", axes, data.ndim)
    steps = (1,) * n if steps is None else int_list("steps", steps, length=n)
    index = [slice(None)] * data.ndim
    for axis, start, end, step in zip(axes, starts, ends, steps):
        if step == 0:
            raise ValueError(f"steps must not contain 0, got {list(steps)}")
        index[axis] = _onnx_slice(data.shape[axis], start, end, step)
    return data[tuple(index)]


def _onnx_slice(dim: int, start: int, end: int, step: int) -> slice:
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
    start = min(max(start, 0), dim - 1)
    end = min(max(end, -1), dim - 1)
    if dim == 0 or start <= end:
        return slice(0, 0, 1)
    return slice(start, None if end < 0 else end, step)


def _indices(name: str, indices: object, dim: int) -> np.ndarray:
    idx = _tensor(name, indices)
    if idx.dtype.name not in ("int32", "int64"):
        raise TypeError(f"{name} must have dtype int32 or int64, got {idx.dtype.name}")
    idx = idx.astype(np.int64)
    bad = (idx < -dim) | (idx >= dim)
    if bad.any():
        first = int(idx.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
        raise ValueError(f"{name} contains {first}: expected values in [{-dim}, {dim - 1}]")
    return np.where(idx < 0, idx + dim, idx)


def gather(data, indices, *, axis=0) -> np.ndarray:
    """ONNX ``Gather``: ``np.take(data, indices, axis)``; negative indices count from the end.

    Output shape ``data.shape[:axis] + indices.shape + data.shape[axis + 1:]``. Numeric
    contract: exact. Errors: ValueError for an index outside ``[-dim, dim - 1]`` (ONNX Runtime
    fails there too) or a bad axis.
    """
    data = _tensor("data", data)
    if data.ndim == 0:
        raise ValueError("data must have at least 1 dimension, got a 0-d tensor")
    axis = check_axis("axis", axis, data.ndim)
    return np.take(data, _indices("indices", indices, data.shape[axis]), axis=axis)


def gather_elements(data, indices, *, axis=0) -> np.ndarray:
    """ONNX ``GatherElements``: ``out[i][j] = data[indices[i][j]][j]`` for ``axis=0`` (and so on).

    ``indices`` has ``data``'s rank; along every other axis its size must not exceed
    ``data``'s. Numeric contract: exact. Errors: ValueError for out-of-range indices or shapes.
    """
    data = _tensor("data", data)
    idx = _tensor("indices", indices)
    if idx.ndim != data.ndim or data.ndim == 0:
        raise ValueError(f"indices must have data's rank {data.ndim} (>= 1), got shape "
                         f"{idx.shape}")
    axis = check_axis("axis", axis, data.ndim)
    for d in range(data.ndim):
        if d != axis and idx.shape[d] > data.shape[d]:
            raise ValueError(f"indices.shape[{d}]={idx.shape[d]} exceeds data.shape[{d}]="
                             f"{data.shape[d]}")
    idx = _indices("indices", idx, data.shape[axis])
    grid = list(np.indices(idx.shape, sparse=True))
    grid[axis] = idx
    return data[tuple(grid)]


def squeeze(data, axes=None) -> np.ndarray:
    """ONNX ``Squeeze``: remove the listed size-1 axes, or every size-1 axis if ``axes`` is None.

    ``axes`` is the input of opset 13+ or the attribute of opsets 11-12 (same parameter).
    Numeric contract: exact. Errors: ValueError for an axis whose size is not 1.
    """
    data = _tensor("data", data)
    if axes is None:
        return data.reshape(tuple(d for d in data.shape if d != 1))
    axes = normalize_axes("axes", int_list("axes", axes), data.ndim)
    for a in axes:
        if data.shape[a] != 1:
            raise ValueError(f"axes contains {a} but data.shape[{a}] = {data.shape[a]}, not 1 "
                             f"(data shape {data.shape})")
    return np.squeeze(data, axis=axes)


def unsqueeze(data, axes) -> np.ndarray:
    """ONNX ``Unsqueeze``: insert size-1 axes at ``axes``, positions in the *output*'s rank.

    ``axes`` is the input of opset 13+ or the attribute of opsets 11-12; required, any order,
    negative counts from the end of the output, no repeats. Numeric contract: exact.
    """
    data = _tensor("data", data)
    axes = int_list("axes", axes)
    out_rank = data.ndim + len(axes)
    axes = sorted(normalize_axes("axes", axes, out_rank))
    shape = list(data.shape)
    for a in axes:
        shape.insert(a, 1)
    return data.reshape(shape)


def split(input, split=None, *, axis=0, num_outputs=None) -> tuple[np.ndarray, ...]:
    """ONNX ``Split``: cut ``input`` along ``axis`` into pieces of the sizes in ``split``.

    ``split`` is the input of opset 13+ or the attribute of opsets 11-12. Without it,
    ``num_outputs`` pieces of ``ceil(dim / num_outputs)`` each, the last one smaller, possibly
    empty (opset 18's attribute; a negative last piece is refused, as ONNX Runtime does; for
    opsets < 18 the caller passes the node's output count and ONNX requires an even split,
    which :mod:`reference.onnx_ops_table` checks). Exactly one of the
    two must be given. Numeric contract: exact. Errors: ValueError if the sizes do not sum to
    the dimension, a size is negative, or neither / both are given.
    """
    x = _tensor("input", input)
    axis = check_axis("axis", axis, x.ndim)
    dim = x.shape[axis]
    if (split is None) == (num_outputs is None):
        raise ValueError("exactly one of split and num_outputs must be given, got "
                         f"split={describe(split)}, num_outputs={num_outputs!r}")
    if split is not None:
        sizes = int_list("split", split, minimum=0)
        if sum(sizes) != dim:
            raise ValueError(f"split sizes {list(sizes)} sum to {sum(sizes)}, expected "
                             f"input.shape[{axis}] = {dim}")
    else:
        n = check_int("num_outputs", num_outputs, minimum=1)
        chunk = -(-dim // n)
        sizes = (chunk,) * (n - 1) + (dim - chunk * (n - 1),)
        if sizes[-1] < 0:  # ORT rejects; onnx.reference shortens two pieces instead
            raise unsupported("num_outputs", n, f"{dim} elements cannot be cut into {n - 1} "
                              f"pieces of {chunk} and a last smaller one")
    bounds = np.cumsum((0,) + sizes)
    index = [slice(None)] * x.ndim
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        index[axis] = slice(int(lo), int(hi))
        out.append(x[tuple(index)])
    return tuple(out)


def pad(data, pads, constant_value=None, axes=None, *, mode="constant") -> np.ndarray:
    """ONNX ``Pad`` (opset 11+: pads, constant_value, axes inputs; ``wrap`` from opset 19).

    ``pads`` is ``[begin_0, ..., begin_k, end_0, ..., end_k]`` over ``axes`` (default every
    axis). A negative pad removes elements (applied first); positive pads then add:
    ``constant`` fills ``constant_value`` (default 0 / False), ``edge`` repeats the border,
    ``reflect`` mirrors without repeating the border (each pad must be < the dimension),
    ``wrap`` repeats the tensor cyclically (each pad must be <= the dimension).

    Numeric contract: exact. Errors: ValueError for a wrong pads length, a reflect pad >= the
    dimension, edge/reflect/wrap padding of an empty axis, or a non-scalar constant_value.
    """
    data = _tensor("data", data)
    check_choice("mode", mode, PAD_MODES)
    axes = tuple(range(data.ndim)) if axes is None else int_list("axes", axes)
    axes = normalize_axes("axes", axes, data.ndim)
    pads = int_list("pads", pads, length=2 * len(axes))
    begin, end = [0] * data.ndim, [0] * data.ndim
    for i, a in enumerate(axes):
        begin[a], end[a] = pads[i], pads[len(axes) + i]
    crop = tuple(slice(max(-b, 0), data.shape[d] - max(-e, 0))
                 for d, (b, e) in enumerate(zip(begin, end)))
    if any(s.start > s.stop for s in crop):
        raise ValueError(f"pads={list(pads)} remove more elements than data shape {data.shape} has")
    x = data[crop]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    if mode == "constant":
        value = np.zeros((), x.dtype) if constant_value is None else \
            scalar_value("constant_value", constant_value)
        if value.dtype != x.dtype:
            raise TypeError(f"constant_value must have data's dtype {x.dtype.name}, got "
                            f"{value.dtype.name}")
        return np.pad(x, widths, mode="constant", constant_values=value)
    for d, (b, e) in enumerate(widths):
        if (b or e) and x.shape[d] == 0:
            raise ValueError(f"mode={mode!r} cannot pad axis {d} of size 0")
        limit = x.shape[d] - 1 if mode == "reflect" else x.shape[d]
        if mode != "edge" and max(b, e) > limit:
            raise unsupported("pads", list(pads), f"mode={mode!r} needs each pad of axis {d} "
                              f"<= {limit} (size {x.shape[d]})")
    return np.pad(x, widths, mode={"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode])


def expand(input, shape) -> np.ndarray:
    """ONNX ``Expand``: broadcast ``input`` against ``shape`` (multidirectional: a 1 in
    ``shape`` keeps the input's size). Numeric contract: exact. Errors: ValueError when the
    shapes do not broadcast."""
    x = _tensor("input", input)
    target = int_list("shape", shape, minimum=0)
    try:
        out = np.broadcast_shapes(x.shape, target)
    except ValueError:
        raise ValueError(f"input shape {x.shape} does not broadcast with shape {list(target)}"
                         ) from None
    return np.broadcast_to(x, out)


def tile(input, repeats) -> np.ndarray:
    """ONNX ``Tile``: ``np.tile`` with one repeat count (>= 0) per axis. Exact.

    Numeric contract: exact (values copied)."""
    x = _tensor("input", input)
    reps = int_list("repeats", repeats, length=x.ndim, minimum=0)
    return np.tile(x, reps) if x.ndim else x.copy()


def where(condition, X, Y) -> np.ndarray:
    """ONNX ``Where``: ``X`` where ``condition`` else ``Y``, broadcasting all three. Exact.

    Errors: TypeError unless condition is bool and X, Y share a dtype.
    Numeric contract: exact (a selection).
    """
    cond = _tensor("condition", condition)
    x, y = _tensor("X", X), _tensor("Y", Y)
    if cond.dtype != np.bool_:
        raise TypeError(f"condition must be bool, got dtype {cond.dtype.name}")
    if x.dtype != y.dtype:
        raise TypeError(f"X and Y must have the same dtype, got {x.dtype.name} and "
                        f"{y.dtype.name}")
    broadcast_shape([("condition", cond), ("X", x), ("Y", y)])
    return np.where(cond, x, y)


def concat(*inputs, axis) -> np.ndarray:
    """ONNX ``Concat`` (variadic, ``axis`` required, negative allowed). Exact.

    Errors: ValueError for no inputs or shapes differing off the axis; TypeError for mixed
    dtypes.
    Numeric contract: exact (values copied).
    """
    if not inputs:
        raise ValueError("Concat needs at least one input")
    arrays = [_tensor(f"inputs[{i}]", a) for i, a in enumerate(inputs)]
    first = arrays[0]
    if first.ndim == 0:
        raise ValueError("Concat inputs must have at least 1 dimension, got a 0-d tensor")
    axis = check_axis("axis", axis, first.ndim)
    for i, a in enumerate(arrays[1:], 1):
        if a.dtype != first.dtype:
            raise TypeError(f"inputs[{i}] has dtype {a.dtype.name}, inputs[0] {first.dtype.name}")
        if a.ndim != first.ndim or any(a.shape[d] != first.shape[d]
                                       for d in range(a.ndim) if d != axis):
            raise ValueError(f"inputs[{i}] has shape {a.shape}, incompatible with inputs[0] "
                             f"{first.shape} for axis {axis}")
    return np.concatenate(arrays, axis=axis)


def reshape(data, shape, *, allowzero=0) -> np.ndarray:
    """ONNX ``Reshape``: a 0 copies the input's size at that position (``allowzero=0``) or
    means size 0 (``allowzero=1``); one -1 is inferred. Exact.

    Errors: ValueError for more than one -1, a 0 together with -1 under ``allowzero=1`` (ONNX
    forbids it), a 0 past the input's rank, or a size mismatch.
    Numeric contract: exact (a view).
    """
    data = _tensor("data", data)
    dims = list(int_list("shape", shape, minimum=-1))
    check_int("allowzero", allowzero, minimum=0, maximum=1)
    if dims.count(-1) > 1:
        raise ValueError(f"shape may contain at most one -1, got {dims}")
    if allowzero and 0 in dims and -1 in dims:
        raise ValueError(f"shape {dims} has both 0 and -1 with allowzero=1 (invalid in ONNX)")
    if not allowzero:
        for i, d in enumerate(dims):
            if d == 0:
                if i >= data.ndim:
                    raise ValueError(f"shape[{i}] = 0 copies an input dimension, but data has "
                                     f"rank {data.ndim}")
                dims[i] = data.shape[i]
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or data.size % known:
            raise ValueError(f"cannot infer -1 in shape {dims} for {data.size} elements")
        dims[dims.index(-1)] = data.size // known
    if math.prod(dims) != data.size:
        raise ValueError(f"cannot reshape data of shape {data.shape} ({data.size} elements) to "
                         f"{dims}")
    return data.reshape(dims)


def transpose(data, *, perm=None) -> np.ndarray:
    """ONNX ``Transpose``; ``perm`` defaults to reversing the axes. Exact.

    Numeric contract: exact (a view)."""
    data = _tensor("data", data)
    if perm is None:
        return data.transpose()
    perm = int_list("perm", perm, length=data.ndim)
    if sorted(perm) != list(range(data.ndim)):
        raise ValueError(f"perm must be a permutation of 0..{data.ndim - 1}, got {list(perm)}")
    return data.transpose(perm)


def flatten(input, *, axis=1) -> np.ndarray:
    """ONNX ``Flatten``: 2-D ``(prod(shape[:axis]), prod(shape[axis:]))``; axis in
    ``[-rank, rank]``. Exact.

    Numeric contract: exact (a view)."""
    x = _tensor("input", input)
    axis = check_int("axis", axis, minimum=-x.ndim, maximum=x.ndim)
    axis = axis + x.ndim if axis < 0 else axis
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def constant_of_shape(input, *, value=None) -> np.ndarray:
    """ONNX ``ConstantOfShape``: a tensor of shape ``input`` filled with ``value`` (a
    one-element tensor; default float32 0). Exact; dtype is ``value``'s.

    Numeric contract: exact (``value`` repeated)."""
    dims = int_list("input", input, minimum=0)
    fill = np.zeros((), np.float32) if value is None else scalar_value("value", value)
    return np.full(dims, fill, dtype=fill.dtype)


def range_(start, limit, delta) -> np.ndarray:
    """ONNX ``Range``: ``max(ceil((limit - start) / delta), 0)`` elements.

    Numeric contract: ``start``, ``limit``, ``delta`` are scalars of one dtype (float32,
    float64, int16, int32, int64). The count is ``ceil(float64(limit - start) /
    float64(delta))`` with ``limit - start`` computed in the input dtype (ONNX Runtime's
    formula; for integers the exact ceiling). Elements accumulate, as ONNX's definition (a
    loop adding ``delta``) and ONNX Runtime do: ``out[0] = start``,
    ``out[i] = out[i - 1] + delta`` in the input dtype (for floats this differs from
    ``start + i * delta``). Errors: ValueError for ``delta == 0`` or a non-finite count.
    """
    vals = [scalar_value(n, v) for n, v in (("start", start), ("limit", limit),
                                             ("delta", delta))]
    dt = vals[0].dtype
    if dt.name not in ("float32", "float64", "int16", "int32", "int64"):
        raise TypeError(f"start must be float32/float64/int16/int32/int64, got {dt.name}")
    if any(v.dtype != dt for v in vals):
        raise TypeError(f"start, limit and delta must share a dtype, got "
                        f"{[v.dtype.name for v in vals]}")
    s, lim, d = (v[()] for v in vals)
    if d == 0:
        raise ValueError("delta must not be 0")
    if dt.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            q = float(np.subtract(lim, s, dtype=dt)) / float(d)
        if not math.isfinite(q):
            raise ValueError(f"Range count (limit - start) / delta = {q} is not finite")
        n = math.ceil(q)
    else:  # exact integer ceiling (ORT's double division agrees wherever it is exact)
        n = -(-(int(lim) - int(s)) // int(d))
    n = max(int(n), 0)
    if n > MAX_RANGE:
        raise ValueError(f"Range would have {n} elements (limit {MAX_RANGE})")
    steps = np.full(n, d, dt)
    if n:
        steps[0] = s
    with np.errstate(over="ignore"):
        return np.add.accumulate(steps, dtype=dt)  # strictly left to right, in dt


def shape(data, *, start=0, end=None) -> np.ndarray:
    """ONNX ``Shape`` (opset 15 start/end): ``int64(data.shape)[start:end]``, negative values
    add the rank, then clamped to ``[0, rank]``. Exact.

    Numeric contract: exact integers."""
    data = _tensor("data", data)
    r = data.ndim
    start = check_int("start", start)
    end = r if end is None else check_int("end", end)
    start, end = (min(max(v + r if v < 0 else v, 0), r) for v in (start, end))
    return np.array(data.shape[start:end], np.int64)


def size(data) -> np.ndarray:
    """ONNX ``Size``: the element count as a 0-d int64 tensor. Exact.

    Numeric contract: exact integer."""
    return np.array(_tensor("data", data).size, np.int64)


def identity(input) -> np.ndarray:
    """ONNX ``Identity``: ``input`` itself. Exact.

    Numeric contract: exact."""
    return _tensor("input", input)


def dropout(data, ratio=None, training_mode=None, *, seed=None) -> tuple[np.ndarray, np.ndarray]:
    """ONNX ``Dropout`` in inference: ``(data, all-True mask)``.

    ``ratio`` (default 0.5) must lie in ``[0, 1)`` and is otherwise unused in inference;
    ``seed`` is unused. Numeric contract: exact (identity). Errors: ValueError for
    ``training_mode`` true (random masks are not part of a golden model) or a bad ratio.
    """
    x = _tensor("data", data)
    if training_mode is not None and bool(scalar_value("training_mode", training_mode)):
        raise unsupported("training_mode", True, "Dropout in training mode is random; gilt "
                          "runs inference only")
    if ratio is not None:
        r = float(scalar_value("ratio", ratio))
        if not 0.0 <= r < 1.0:
            raise ValueError(f"ratio must be in [0, 1), got {r}")
    if seed is not None:
        check_int("seed", seed)
    return x, np.ones(x.shape, np.bool_)
