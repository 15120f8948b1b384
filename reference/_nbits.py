"""``MatMulNBits`` operands (ONNX Runtime's com.microsoft operator): the packed 4-bit weight
codes, their per-block zero points and scales, checked and unpacked once for every user
(``reference.onnx_ops.matmul_nbits`` and ``reference.llm_ops``)."""

from __future__ import annotations

import numpy as np

from reference._validate import check_array


def nbits_operands(B, scales, zero_points, k: int, n: int, bs: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check ``MatMulNBits`` tensors; return codes ``(N, n_blocks*bs)`` int16, zero points
    ``(N, n_blocks)`` int16 and scales ``(N, n_blocks)`` float32."""
    nblk = -(-k // bs)
    B = check_array("B", B, ("uint8",))
    if B.shape != (n, nblk, bs // 2):
        raise ValueError(f"B must have shape (N, ceil(K / block_size), block_size / 2) = "
                         f"{(n, nblk, bs // 2)}, got {B.shape}")
    scales = check_array("scales", scales, ("float32",))
    if scales.size != n * nblk:
        raise ValueError(f"scales must hold N * n_blocks = {n * nblk} values, got {scales.size}")
    codes = np.stack([B & 0xF, B >> 4], axis=-1).reshape(n, nblk * bs).astype(np.int16)
    if zero_points is None:
        zp = np.full((n, nblk), 8, np.int16)
    else:
        zero_points = check_array("zero_points", zero_points, ("uint8",))
        per_row = (nblk + 1) // 2
        if zero_points.size != n * per_row:
            raise ValueError(f"zero_points must hold N * ceil(n_blocks / 2) = {n * per_row} "
                             f"bytes, got {zero_points.size}")
        rows = zero_points.reshape(n, per_row)
        zp = np.stack([rows & 0xF, rows >> 4], axis=-1).reshape(n, 2 * per_row)[:, :nblk]
        zp = zp.astype(np.int16)
    return codes, zp, scales.reshape(n, nblk)
