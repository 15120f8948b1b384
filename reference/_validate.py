"""Shared argument checking for ``reference/``.

Every public operator checks its arguments with these helpers so that bad input always raises a
``TypeError`` (wrong kind or dtype) or ``ValueError`` (wrong value) whose message names the
parameter, the value given and what was expected. The issue-3 operators may import them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "check_array",
    "check_axis",
    "check_choice",
    "check_int",
    "check_int_tuple",
    "check_scale",
    "check_zero_point",
    "describe",
]


def describe(value: object) -> str:
    """Short description of ``value`` for an error message (arrays by dtype and shape)."""
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            return f"array({value.tolist()!r}, dtype={value.dtype})"
        return f"array of dtype {value.dtype} and shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_array(name: str, value: object, dtypes: Iterable[str] | None = None, *,
                ndim: int | Sequence[int] | None = None) -> np.ndarray:
    """Return ``value`` as an ndarray after checking its type, dtype and rank.

    Raises ``TypeError`` when ``value`` is not a NumPy array or its dtype is not one of
    ``dtypes`` (NumPy names such as ``"int8"``), ``ValueError`` when its rank is not ``ndim``.
    """
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


def check_int_tuple(name: str, value: object, length: int, *, minimum: int | None = None
                    ) -> tuple[int, ...]:
    """Return ``value`` as a tuple of ``length`` ints, each ``>= minimum``."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        raise TypeError(f"{name} must be a sequence of {length} ints, got {describe(value)}")
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


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of the strings ``choices``."""
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
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




def _first(arr: np.ndarray, bad: np.ndarray) -> object:
    """First entry of ``arr`` where ``bad`` holds (for an error message)."""
    return arr.reshape(-1)[int(np.argmax(bad.reshape(-1)))].item()
