"""ONNX ``Cast`` between every pair of NumPy-representable numeric ONNX types, with defined
results where ONNX leaves them undefined.

ONNX element types are named by the integer codes of ``TensorProto.DataType`` (the ``to``
attribute); :data:`ONNX_DTYPES` maps the supported codes to NumPy dtypes. Types NumPy cannot
hold (bfloat16, the float8 family, int4/uint4 packed, float4, complex, string) are refused by
name.
"""

from __future__ import annotations

import numpy as np

from reference._onnx_common import unsupported
from reference._validate import check_int, describe

__all__ = ["ONNX_DTYPES", "ONNX_TYPE_NAMES", "cast", "onnx_dtype"]

#: ONNX ``TensorProto.DataType`` code -> NumPy dtype, for the types gilt computes with.
ONNX_DTYPES = {
    1: np.dtype(np.float32), 2: np.dtype(np.uint8), 3: np.dtype(np.int8),
    4: np.dtype(np.uint16), 5: np.dtype(np.int16), 6: np.dtype(np.int32),
    7: np.dtype(np.int64), 9: np.dtype(np.bool_), 10: np.dtype(np.float16),
    11: np.dtype(np.float64), 12: np.dtype(np.uint32), 13: np.dtype(np.uint64),
}

#: Every ONNX type code with its ONNX name (for messages naming a refused type).
ONNX_TYPE_NAMES = {
    0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32",
    7: "INT64", 8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32",
    13: "UINT64", 14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16", 17: "FLOAT8E4M3FN",
    18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4",
    23: "FLOAT4E2M1", 24: "FLOAT8E8M0", 25: "UINT2", 26: "INT2",
}


def onnx_dtype(to: object) -> np.dtype:
    """NumPy dtype of ONNX type code ``to``; ValueError naming the type if gilt has none."""
    code = check_int("to", to)
    if code not in ONNX_DTYPES:
        name = ONNX_TYPE_NAMES.get(code, "unknown")
        raise unsupported("to", code, f"ONNX type {name} has no NumPy representation in gilt "
                          f"(supported: {sorted(ONNX_DTYPES)})")
    return ONNX_DTYPES[code]


def cast(input, *, to, saturate=1) -> np.ndarray:
    """ONNX ``Cast`` (opsets 6-21) to ONNX type code ``to``.

    Numeric contract (source -> target):

    - same type: a copy, unchanged.
    - bool -> numeric: 0 / 1. numeric -> bool: ``x != 0`` (NaN -> True).
    - int -> int: two's-complement wrap-around modulo 2**bits (C ``static_cast``, as ONNX
      Runtime; e.g. int32 300 -> uint8 44, -1 -> uint8 255).
    - int -> float and wider float -> narrower float: round to nearest, ties to even; values
      beyond the target's range become +-inf (float64 -> float32, float32 -> float16, large
      ints -> float16). float -> wider float: exact.
    - float -> int: truncation toward zero (ONNX: "the result is undefined if out of range").
      gilt defines only what ONNX defines: a NaN, an infinity or a value whose truncation
      lies outside the target's range is a ValueError naming the first such value, never a
      machine-dependent number (x86 returns INT_MIN for int32, ARM saturates; both are
      silent wrong results).
    - ``saturate`` (opset 19) applies to float8 targets only, which gilt refuses; any other
      target ignores it, as ONNX says.

    Errors: ValueError naming ``to`` for a type without a NumPy dtype (bfloat16, float8,
    int4, string, complex, ...); TypeError for a non-numeric input.
    """
    x = np.asarray(input) if isinstance(input, np.generic) else input
    if not isinstance(x, np.ndarray):
        raise TypeError(f"input must be a numpy.ndarray, got {type(input).__name__} "
                        f"({describe(input)})")
    if x.dtype not in ONNX_DTYPES.values():  # also refuses ml_dtypes' float8/bfloat16 arrays
        raise TypeError(f"input must have one of the dtypes "
                        f"{sorted(d.name for d in ONNX_DTYPES.values())}, got {x.dtype.name}")
    target = onnx_dtype(to)
    check_int("saturate", saturate, minimum=0, maximum=1)
    if x.dtype.kind == "f" and target.kind in "iu":
        _check_float_to_int(x, target)
        return np.trunc(x).astype(target)
    with np.errstate(over="ignore"):  # float narrowing overflows to inf, as defined above
        return x.astype(target)


def _check_float_to_int(x: np.ndarray, target: np.dtype) -> None:
    info = np.iinfo(target)
    with np.errstate(invalid="ignore"):
        t = np.trunc(x.astype(np.float64))
        # info.max + 1 and info.min are powers of two: exact in float64, unlike info.max
        bad = ~np.isfinite(t) | (t < float(info.min)) | (t >= float(info.max) + 1.0)
    if bad.any():
        first = x.reshape(-1)[int(np.argmax(bad.reshape(-1)))].item()
        raise ValueError(f"Cast of {x.dtype.name} value {first!r} to {target.name}: NaN, inf or "
                         f"out of range [{info.min}, {info.max}] after truncation is undefined "
                         f"in ONNX; gilt refuses it")
