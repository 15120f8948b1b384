"""Zero-block-skipping int8 GEMM on the CPU, bit-exact with `reference.zeroskip.skip_matmul_int`.

A block of zero-point-centred A (bm x bk) or B (bk x bn) whose values are all zero adds
nothing to any sum, so the kernel skips the (row block, K block, column block) triples that
touch one: each output tile accumulates only over the K blocks where both its A block and its
B block are non-zero. Sums are exact in int64 and narrowed once to int32 (wrap), so the
result equals the dense GEMM. The kernel computes the bitmaps itself and counts the
multiply-accumulates it actually performed; both go into the same `ZeroSkipRecord` as the
reference's.
"""

import numpy as np
from numba import njit, prange

from reference.zeroskip import ZeroSkipRecord, skip_matmul_operands

__all__ = ["skip_matmul_int", "zero_bitmap_2d"]


@njit(parallel=True, cache=True)
def zero_bitmap_2d(c, b0, b1):
    """True where block (i, j) of shape (b0, b1) of `c` is all zero (short edge blocks too)."""
    r, k = c.shape
    nr = (r + b0 - 1) // b0
    nk = (k + b1 - 1) // b1
    out = np.ones((nr, nk), dtype=np.bool_)
    for i in prange(nr):
        for j in range(nk):
            zero = True
            for u in range(i * b0, min((i + 1) * b0, r)):
                for v in range(j * b1, min((j + 1) * b1, k)):
                    if c[u, v] != 0:
                        zero = False
                        break
                if not zero:
                    break
            out[i, j] = zero
    return out


@njit(parallel=True, cache=True)
def _skip_gemm(ac, bc, a_zero, b_zero, bm, bk, bn, out, done_rows):
    m, k = ac.shape
    n = bc.shape[1]
    n_kb = a_zero.shape[1]
    for ib in prange(a_zero.shape[0]):
        r0 = ib * bm
        r1 = min(r0 + bm, m)
        done = 0
        for jb in range(b_zero.shape[1]):
            c0 = jb * bn
            c1 = min(c0 + bn, n)
            acc = np.zeros((r1 - r0, c1 - c0), dtype=np.int64)
            for kb in range(n_kb):
                if a_zero[ib, kb] or b_zero[kb, jb]:
                    continue
                k0 = kb * bk
                k1 = min(k0 + bk, k)
                for i in range(r0, r1):
                    for kk in range(k0, k1):
                        av = np.int64(ac[i, kk])
                        for j in range(c0, c1):
                            acc[i - r0, j - c0] += av * bc[kk, j]
                done += (r1 - r0) * (k1 - k0) * (c1 - c0)
            for i in range(r0, r1):
                for j in range(c0, c1):
                    out[i, j] = np.int32(acc[i - r0, j - c0])  # truncation: wraps mod 2**32
        done_rows[ib] = done


def make_record(a_bitmap, b_bitmap, a_block, b_block, dense, done):
    return ZeroSkipRecord(a_bitmap, b_bitmap, a_block, b_block, int(a_bitmap.sum()),
                          int(b_bitmap.sum()), dense, done, dense - done)


def skip_matmul_int(a, b, *, a_zero_point=0, b_zero_point=0, a_block=(4, 4), b_block=(4, 4)):
    """Bit-exact CPU twin of `reference.zeroskip.skip_matmul_int`: `(int32, ZeroSkipRecord)`.

    Numeric contract: as the reference (exact int64 block sums, one int32 wrap; identical
    to the dense GEMM). Errors: TypeError/ValueError naming the argument.
    """
    ac, bc, a_block, b_block = skip_matmul_operands(a, b, a_zero_point, b_zero_point, a_block,
                                                  b_block)
    a_zero = zero_bitmap_2d(ac, a_block[0], a_block[1])
    b_zero = zero_bitmap_2d(bc, b_block[0], b_block[1])
    m, k = ac.shape
    n = bc.shape[1]
    out = np.empty((m, n), np.int32)
    done_rows = np.zeros(a_zero.shape[0], np.int64)
    _skip_gemm(ac, bc, a_zero, b_zero, a_block[0], a_block[1], b_block[1], out, done_rows)
    return out, make_record(a_zero, b_zero, a_block, b_block, m * k * n, int(done_rows.sum()))
