"""Compatibility alias, kept only while ``kernels/cpu/tiling.py`` and ``kernels/cpu/zeroskip.py``
import ``int_tuple`` from here; every check lives in :mod:`reference._validate`. Delete this file
once those imports read ``from reference._validate import check_int_tuple``.
"""

from __future__ import annotations

from reference._validate import check_int_tuple

__all__ = ["int_tuple"]


def int_tuple(name: str, value: object, length: int, *, minimum: int) -> tuple[int, ...]:
    """:func:`reference._validate.check_int_tuple` with ``broadcast=True`` (its old meaning)."""
    return check_int_tuple(name, value, length, minimum=minimum, broadcast=True)
