"""Shared argument checking for ``reference/``.

Every public operator checks its arguments with these helpers so that bad input always raises a
``TypeError`` (wrong kind or dtype) or ``ValueError`` (wrong value) whose message names the
parameter, the value given and what was expected. It is the one checking module of
``reference/``: the quantized operators, the issue-3 families (gating, tiling, zero-skip, fusion,
float and training-time operators) and the conv geometry all use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "FLOAT_PRECISIONS",
    "as_float",
    "check_array",
    "check_axis",
    "check_choice",
    "check_int",
    "check_int_tuple",
    "check_positive_float",
    "check_scale",
    "check_zero_point",
    "conv_geometry",
    "conv_output_size",
    "describe",
    "float_dtype",
    "int_array",
    "numpy_dtype",
]

FLOAT_PRECISIONS = {"float32": np.float32, "float64": np.float64}


def describe(value: object) -> str:
    """Short description of ``value`` for an error message (arrays by dtype and shape)."""
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            return f"array({value.tolist()!r}, dtype={value.dtype})"
        return f"array of dtype {value.dtype} and shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def numpy_dtype(value: object) -> np.dtype | None:
    """The dtype of a NumPy array or NumPy scalar (``np.int8(3)``), None for anything else.

    NumPy scalars behave like arrays of their dtype throughout ``reference/``: where an array's
    dtype decides something (a zero point's type fixes the output type, or must match its
    tensor's), a NumPy scalar's does too; Python numbers have no dtype.
    """
    return value.dtype if isinstance(value, np.ndarray | np.generic) else None


def check_array(name: str, value: object, dtypes: Iterable[str] | None = None, *,
                ndim: int | Sequence[int] | None = None) -> np.ndarray:
    """Return ``value`` as an ndarray after checking its type, dtype and rank.

    A NumPy scalar is taken as the 0-d array of its dtype. Raises ``TypeError`` when ``value``
    is not a NumPy array or scalar or its dtype is not one of ``dtypes`` (NumPy names such as
    ``"int8"``), ``ValueError`` when its rank is not ``ndim``.
    """
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(value).__name__} "
                        f"({describe(value)})")
    if dtypes is not None:
        allowed = tuple(dtypes)
        if value.dtype.name not in allowed:
            raise TypeError(f"{name} must have dtype in {list(allowed)}, got dtype "
                            f"{value.dtype.name}")
    if ndim is not None:
        ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in ranks:
            want = ranks[0] if len(ranks) == 1 else f"one of {list(ranks)}"
            raise ValueError(f"{name} must have {want} dimensions, got shape {value.shape}")
    return value


def check_int(name: str, value: object, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Return ``value`` as a Python int, checking its type and inclusive bounds."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({describe(value)})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_int_tuple(name: str, value: object, length: int, *, minimum: int | None = None,
                    broadcast: bool = False) -> tuple[int, ...]:
    """Return ``value`` as a tuple of ``length`` ints, each ``>= minimum``.

    With ``broadcast=True`` a single int stands for ``length`` copies of itself (``tile=4``);
    otherwise a single int is a ``TypeError``, as is a string or any non-sequence. A sequence
    of the wrong length is a ``ValueError``.
    """
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        if not broadcast:
            raise TypeError(f"{name} must be a sequence of {length} ints, got {describe(value)}")
        value = (int(value),) * length
    if isinstance(value, str | bytes):
        raise TypeError(f"{name} must be a sequence of {length} ints, got {value!r}")
    try:
        items = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be a sequence of {length} ints, got "
                        f"{type(value).__name__} ({describe(value)})") from None
    if len(items) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(items)}: {items!r}")
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | np.integer):
            raise TypeError(f"{name} must contain ints, got {describe(items)}")
        if minimum is not None and item < minimum:
            raise ValueError(f"{name} entries must be >= {minimum}, got {items!r}")
        out.append(int(item))
    return tuple(out)


def check_choice(name: str, value: object, choices: Iterable[str | None]) -> str | None:
    """Check that ``value`` is one of ``choices`` (strings, and ``None`` where it is an option)."""
    options = tuple(choices)
    if not (value is None or isinstance(value, str)) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {describe(value)}")
    return value


def check_axis(name: str, axis: object, ndim: int) -> int:
    """Normalise ``axis`` (negative counts from the end) for an array of rank ``ndim``."""
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(axis).__name__} ({describe(axis)})")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name} must be in [{-ndim}, {ndim - 1}] for a {ndim}-d array, "
                         f"got {axis}")
    return int(axis) % ndim


def check_scale(name: str, scale: object) -> np.ndarray:
    """Return ``scale`` as a float32 array after checking every entry is finite and > 0.

    Python floats and float16/32/64 arrays are accepted; the value is rounded to float32 once,
    as the ONNX and TFLite runtimes store scales in float32. A value that becomes 0 or inf in
    float32 is rejected too.
    """
    if isinstance(scale, bool) or not isinstance(scale, float | int | np.floating | np.integer
                                                 | np.ndarray):
        raise TypeError(f"{name} must be a positive finite float or float array, got "
                        f"{type(scale).__name__} ({describe(scale)})")
    arr = np.asarray(scale)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a float or float array, got dtype {arr.dtype.name}")
    with np.errstate(over="ignore"):
        arr32 = arr.astype(np.float32)
    bad = ~(np.isfinite(arr32) & (arr32 > 0))
    if bad.any():
        first = _first(arr, bad)
        raise ValueError(f"{name} must be finite and > 0 (as float32), got {first!r}"
                         + ("" if arr.ndim == 0 else f" in an array of shape {arr.shape}"))
    return arr32


def check_zero_point(name: str, zero_point: object, qmin: int, qmax: int,
                     dtype_name: str) -> np.ndarray:
    """Return ``zero_point`` as an int64 array after checking it lies in ``[qmin, qmax]``.

    Python ints and integer arrays are accepted; floats are rejected (``TypeError``) because a
    fractional zero point cannot represent real 0 exactly.
    """
    if isinstance(zero_point, bool) or not isinstance(zero_point, int | np.integer
                                                      | np.ndarray):
        raise TypeError(f"{name} must be an int or integer array, got "
                        f"{type(zero_point).__name__} ({describe(zero_point)})")
    arr = np.asarray(zero_point)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an int or integer array, got dtype {arr.dtype.name}")
    arr = arr.astype(np.int64)
    bad = (arr < qmin) | (arr > qmax)
    if bad.any():
        first = int(_first(arr, bad))
        raise ValueError(f"{name} must be in [{qmin}, {qmax}] for {dtype_name}, got {first}")
    return arr


def check_positive_float(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a Python float after checking it is finite and > 0 (>= 0 with
    ``allow_zero``)."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name}={value!r}: expected a real number") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r}: expected a finite number {bound}")
    return v


def float_dtype(precision: str) -> type:
    """Map the ``precision=`` keyword ("float32" or "float64") to a NumPy dtype."""
    if precision not in FLOAT_PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {sorted(FLOAT_PRECISIONS)}")
    return FLOAT_PRECISIONS[precision]


def as_float(name: str, x: object, precision: str, *, ndim: int | None = None) -> np.ndarray:
    """Return ``x`` as an array of the precision's dtype, after checking it is real numeric."""
    dt = float_dtype(precision)
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {arr.dtype}: expected a real numeric array")
    _check_ndim(name, arr, ndim)
    return arr.astype(dt, copy=False)


def int_array(name: str, x: object, *, ndim: int | None = None,
              dtypes: Iterable[str] = ("int8", "uint8")) -> np.ndarray:
    """Check an integer tensor's dtype (one of ``dtypes``) and rank; return it as an array.

    Unlike :func:`check_array` it accepts anything ``np.asarray`` takes (lists too).
    """
    arr = np.asarray(x)
    allowed = tuple(dtypes)
    if arr.dtype.name not in allowed:
        raise TypeError(f"{name} has dtype {arr.dtype}: expected one of {list(allowed)}")
    _check_ndim(name, arr, ndim)
    return arr


def _check_ndim(name: str, arr: np.ndarray, ndim: int | None) -> None:
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} has shape {arr.shape} ({arr.ndim}-D): expected {ndim}-D")


def conv_output_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                     dilation: int) -> int:
    """``floor((size + pads - dilation*(kernel-1) - 1) / stride) + 1`` (ONNX, no ceil mode).

    ResNet-50's stem (224, 7x7, stride 2, pads 3) and a dilated 3x3 (floor((10 - 4 - 1) / 1) + 1):

    >>> conv_output_size(224, 7, 2, 3, 3, 1)
    112
    >>> conv_output_size(10, 3, 1, 0, 0, 2)
    6
    """
    return (size + pad_begin + pad_end - dilation * (kernel - 1) - 1) // stride + 1


def conv_geometry(x_shape: Sequence[int], w_shape: Sequence[int], strides: object,
                  pads: object, dilations: object, groups: object, *, broadcast: bool = True
                  ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int, int, int]:
    """Validate NCHW/OIHW conv geometry; return (strides, pads, dilations, groups, OH, OW).

    pads are ONNX order (top, left, bottom, right). With ``broadcast=True`` a single int for
    strides, pads or dilations stands for all of them. ``ValueError`` naming the argument for
    wrong ranks, ``groups`` not dividing the channels, ``w.shape[1] != C / groups``, bad
    strides/pads/dilations or an empty output; ``TypeError`` for non-int values.
    """
    if len(x_shape) != 4:
        raise ValueError(f"x has shape {tuple(x_shape)}: expected 4-D NCHW")
    if len(w_shape) != 4:
        raise ValueError(f"w has shape {tuple(w_shape)}: expected 4-D OIHW")
    groups = check_int("groups", groups, minimum=1)
    strides = check_int_tuple("strides", strides, 2, minimum=1, broadcast=broadcast)
    dilations = check_int_tuple("dilations", dilations, 2, minimum=1, broadcast=broadcast)
    pads = check_int_tuple("pads", pads, 4, minimum=0, broadcast=broadcast)
    n, c, h, wd = x_shape
    o, cg, kh, kw = w_shape
    if c % groups:
        raise ValueError(f"groups={groups} must divide the input channels x.shape[1]={c}")
    if o % groups:
        raise ValueError(f"groups={groups} must divide the output channels w.shape[0]={o}")
    if cg != c // groups:
        raise ValueError(f"w.shape[1] must be x.shape[1] / groups = {c // groups}, got {cg} "
                         f"(x shape {tuple(x_shape)}, w shape {tuple(w_shape)}, "
                         f"groups={groups})")
    oh = conv_output_size(h, kh, strides[0], pads[0], pads[2], dilations[0])
    ow = conv_output_size(wd, kw, strides[1], pads[1], pads[3], dilations[1])
    if oh < 1 or ow < 1:
        span = (dilations[0] * (kh - 1) + 1, dilations[1] * (kw - 1) + 1)
        padded = (h + pads[0] + pads[2], wd + pads[1] + pads[3])
        raise ValueError(f"output would be empty ({oh}x{ow}) for input {h}x{wd}, kernel "
                         f"{kh}x{kw}, pads {pads}, dilations {dilations}: the dilated kernel "
                         f"{span[0]}x{span[1]} must fit the padded input "
                         f"{padded[0]}x{padded[1]}")
    return strides, pads, dilations, groups, oh, ow


def _first(arr: np.ndarray, bad: np.ndarray) -> object:
    """First entry of ``arr`` where ``bad`` holds (for an error message)."""
    return arr.reshape(-1)[int(np.argmax(bad.reshape(-1)))].item()
