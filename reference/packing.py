"""Two 4-bit values per byte, in ONNX order.

Worked example (signed int4)::

    values        [ 1,  -2,   7,  -8,   3]
    two's nibble  [0x1, 0xE, 0x7, 0x8, 0x3]
    byte 0 = low nibble values[0] | high nibble values[1] << 4 = 0x1 | 0xE0 = 0xE1 (225)
    byte 1 = 0x7 | 0x8 << 4 = 0x87 (135)
    byte 2 = 0x3 | 0x0 << 4 = 0x03 (3)     # odd count: the missing high nibble is 0

    pack_int4(np.array([1, -2, 7, -8, 3], np.int8)) -> array([225, 135, 3], dtype=uint8)

This is the layout of ONNX's INT4/UINT4 tensors (element ``2i`` in bits 0-3 of byte ``i``,
element ``2i+1`` in bits 4-7) and of com.microsoft ``MatMulNBits`` blocks. Values are
flattened in C order first; ``unpack_int4`` needs the original ``count`` because an odd count
leaves a padding nibble.
"""

from __future__ import annotations

import numpy as np

from reference._validate import check_array, check_int

__all__ = ["pack_int4", "unpack_int4"]


def pack_int4(values: np.ndarray, *, signed: bool = True) -> np.ndarray:
    """Pack 4-bit integers two per byte (ONNX order).

    Numeric contract
    ----------------
    - ``values``: int8 array in -8..7 (``signed=True``) or uint8/int8 array in 0..15
      (``signed=False``), any shape, flattened in C order.
    - Result: 1-D uint8 array of ``ceil(values.size / 2)`` bytes; element ``2i`` in the low
      nibble of byte ``i``, element ``2i+1`` in the high nibble; an odd count pads the last high
      nibble with 0. Signed values are stored as 4-bit two's complement (``-1 -> 0xF``).
    - No saturation: a value outside the 4-bit range raises ``ValueError`` (never wraps).
    - Errors: ``TypeError`` for a non-array or a dtype other than int8/uint8.
    """
    arr = check_array("values", values, ("int8", "uint8") if not signed else ("int8",))
    flat = arr.reshape(-1).astype(np.int16)
    lo, hi = (-8, 7) if signed else (0, 15)
    if flat.size and (flat.min() < lo or flat.max() > hi):
        bad = flat[(flat < lo) | (flat > hi)][0]
        raise ValueError(f"values must be in [{lo}, {hi}] for "
                         f"{'signed' if signed else 'unsigned'} int4, got {int(bad)}")
    nibbles = (flat & 0xF).astype(np.uint8)
    if nibbles.size % 2:
        nibbles = np.concatenate([nibbles, np.zeros(1, np.uint8)])
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)


def unpack_int4(packed: np.ndarray, count: int, *, signed: bool = True) -> np.ndarray:
    """Unpack ``count`` 4-bit integers from bytes packed by :func:`pack_int4`.

    Numeric contract
    ----------------
    - ``packed``: uint8 array (any shape, flattened in C order) of at least
      ``ceil(count / 2)`` bytes; extra bytes raise ``ValueError``.
    - Result: 1-D array of ``count`` values, int8 in -8..7 (``signed=True``, 4-bit two's
      complement sign-extended) or uint8 in 0..15 (``signed=False``). Exact, no rounding.
    - Errors: ``TypeError`` for a non-uint8 ``packed`` or non-int ``count``; ``ValueError`` when
      ``packed`` does not hold exactly ``ceil(count / 2)`` bytes.
    """
    arr = check_array("packed", packed, ("uint8",)).reshape(-1)
    count = check_int("count", count, minimum=0)
    need = (count + 1) // 2
    if arr.size != need:
        raise ValueError(f"packed must hold ceil(count / 2) = {need} bytes for count={count}, "
                         f"got {arr.size}")
    out = np.empty(2 * need, np.uint8)
    out[0::2] = arr & 0xF
    out[1::2] = arr >> 4
    out = out[:count]
    if signed:
        return ((out.astype(np.int8) ^ 8) - 8).astype(np.int8)
    return out
