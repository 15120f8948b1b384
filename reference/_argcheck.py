"""Argument checks shared by the issue-3 operator families (gating, tiling, zero-skip, fusion,
float and training-time operators).

Every check raises ValueError or TypeError whose message names the parameter, the value seen and
what was expected, so a caller never has to guess which argument was wrong.
"""

from __future__ import annotations

import numpy as np

FLOAT_PRECISIONS = {"float32": np.float32, "float64": np.float64}


def float_dtype(precision: str) -> type:
    """Map the ``precision=`` keyword ("float32" or "float64") to a NumPy dtype."""
    if precision not in FLOAT_PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {sorted(FLOAT_PRECISIONS)}")
    return FLOAT_PRECISIONS[precision]


def as_float(name: str, x, precision: str, *, ndim: int | None = None) -> np.ndarray:
    """Return ``x`` as an array of the precision's dtype, after checking it is real numeric."""
    dt = float_dtype(precision)
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {arr.dtype}: expected a real numeric array")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} has shape {arr.shape} ({arr.ndim}-D): expected {ndim}-D")
    return arr.astype(dt, copy=False)


def int_array(name: str, x, *, ndim: int | None = None, dtypes=("int8", "uint8")) -> np.ndarray:
    """Check an integer tensor's dtype (one of ``dtypes``) and rank; return it unchanged."""
    arr = np.asarray(x)
    if arr.dtype.name not in dtypes:
        raise TypeError(f"{name} has dtype {arr.dtype}: expected one of {list(dtypes)}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} has shape {arr.shape} ({arr.ndim}-D): expected {ndim}-D")
    return arr


def int_tuple(name: str, value, length: int, *, minimum: int) -> tuple[int, ...]:
    """Check a tuple of ``length`` Python/NumPy ints, each >= ``minimum``."""
    if isinstance(value, int | np.integer):
        value = (int(value),) * length
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name}={value!r}: expected a tuple of {length} ints") from None
    if len(items) != length or not all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                                       for v in items):
        raise TypeError(f"{name}={value!r}: expected a tuple of {length} ints")
    if any(v < minimum for v in items):
        raise ValueError(f"{name}={value!r}: every entry must be >= {minimum}")
    return tuple(int(v) for v in items)


def positive_int(name: str, value, *, minimum: int = 1) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r}: expected an int")
    if value < minimum:
        raise ValueError(f"{name}={value!r}: expected an int >= {minimum}")
    return int(value)


def positive_float(name: str, value, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}={value!r}: expected a real number") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r}: expected a finite number {bound}")
    return v


def choice(name: str, value, options) -> str:
    if value not in options:
        raise ValueError(f"{name}={value!r}: expected one of {list(options)}")
    return value


def conv_geometry(x_shape, w_shape, strides, pads, dilations, groups):
    """Validate NCHW/OIHW conv geometry; return (strides, pads, dilations, groups, OH, OW).

    pads are ONNX order (top, left, bottom, right).
    """
    if len(x_shape) != 4:
        raise ValueError(f"x has shape {tuple(x_shape)}: expected 4-D NCHW")
    if len(w_shape) != 4:
        raise ValueError(f"w has shape {tuple(w_shape)}: expected 4-D OIHW")
    strides = int_tuple("strides", strides, 2, minimum=1)
    pads = int_tuple("pads", pads, 4, minimum=0)
    dilations = int_tuple("dilations", dilations, 2, minimum=1)
    groups = positive_int("groups", groups)
    n, c, h, wd = x_shape
    o, cg, kh, kw = w_shape
    if c % groups or o % groups:
        raise ValueError(f"groups={groups}: must divide input channels {c} and output "
                         f"channels {o}")
    if cg * groups != c:
        raise ValueError(f"w has shape {tuple(w_shape)}: expected w.shape[1] == "
                         f"{c // groups} (input channels {c} / groups {groups})")
    eff_h = dilations[0] * (kh - 1) + 1
    eff_w = dilations[1] * (kw - 1) + 1
    hp = h + pads[0] + pads[2]
    wp = wd + pads[1] + pads[3]
    if hp < eff_h or wp < eff_w:
        raise ValueError(f"kernel {kh}x{kw} with dilations={dilations} spans {eff_h}x{eff_w}, "
                         f"larger than the padded input {hp}x{wp}")
    oh = (hp - eff_h) // strides[0] + 1
    ow = (wp - eff_w) // strides[1] + 1
    return strides, pads, dilations, groups, oh, ow
