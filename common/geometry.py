"""Geometry shared by the golden run and the simulators: convolution output sizes (the one
definition lives in ``reference``, re-exported here) and packed storage sizes."""

from __future__ import annotations

import math

from reference._validate import conv_output_size


def storage_bytes(count: int, bits: int) -> int:
    """Bytes to store ``count`` values of ``bits`` bits, packed (int4: two per byte):
    ``ceil(count * bits / 8)``.

    >>> storage_bytes(3, 4), storage_bytes(10, 8), storage_bytes(5, 32)
    (2, 10, 20)
    """
    return math.ceil(count * bits / 8)


__all__ = ["conv_output_size", "storage_bytes"]
