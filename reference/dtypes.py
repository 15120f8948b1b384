"""Quantized integer types of gilt: names, ranges and storage.

Numeric contract
----------------
=========  ======  ===========  =============  =====
name       bits    range        storage dtype  signed
=========  ======  ===========  =============  =====
``int4``   4       -8 .. 7      int8           yes
``uint4``  4       0 .. 15      uint8          no
``int8``   8       -128 .. 127  int8           yes
``uint8``  8       0 .. 255     uint8          no
``int16``  16      -32768..     int16          yes
``uint16`` 16      0 .. 65535   uint16         no
=========  ======  ===========  =============  =====

4-bit values are stored unpacked, one per byte, in int8 (int4) or uint8 (uint4) arrays; packing
two per byte lives in :mod:`reference.packing`. Accumulators are int32 (``ACC_DTYPE``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference._validate import describe

__all__ = ["ACC_DTYPE", "QTYPES", "QType", "qrange", "qtype", "storage_dtype"]

ACC_DTYPE = np.dtype(np.int32)


@dataclass(frozen=True)
class QType:
    """One quantized integer type: its name, width, range and NumPy storage dtype."""

    name: str
    bits: int
    signed: bool
    storage: np.dtype

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


QTYPES: dict[str, QType] = {
    "int4": QType("int4", 4, True, np.dtype(np.int8)),
    "uint4": QType("uint4", 4, False, np.dtype(np.uint8)),
    "int8": QType("int8", 8, True, np.dtype(np.int8)),
    "uint8": QType("uint8", 8, False, np.dtype(np.uint8)),
    "int16": QType("int16", 16, True, np.dtype(np.int16)),
    "uint16": QType("uint16", 16, False, np.dtype(np.uint16)),
}


def qtype(dtype: object, *, name: str = "dtype") -> QType:
    """Look up a quantized type by name (``"int4"``) or NumPy dtype (``np.int8``).

    Raises ``ValueError`` naming ``name`` for an unsupported type or bit width.
    """
    key = dtype
    if not isinstance(dtype, str):
        try:
            key = np.dtype(dtype).name  # type: ignore[arg-type]
        except TypeError:
            key = None
    if key not in QTYPES:
        raise ValueError(f"{name} must be one of {list(QTYPES)}, got {describe(dtype)}")
    return QTYPES[key]  # type: ignore[index]


def qrange(dtype: object) -> tuple[int, int]:
    """``(qmin, qmax)`` of a quantized type: ``(-2**(b-1), 2**(b-1) - 1)`` signed,
    ``(0, 2**b - 1)`` unsigned.

    >>> qrange("int4"), qrange("uint8"), qrange("int16")
    ((-8, 7), (0, 255), (-32768, 32767))
    """
    t = qtype(dtype)
    return t.qmin, t.qmax


def storage_dtype(dtype: object) -> np.dtype:
    """NumPy dtype that stores values of ``dtype`` (int8 for int4, uint8 for uint4)."""
    return qtype(dtype).storage
