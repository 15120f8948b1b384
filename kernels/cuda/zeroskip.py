"""Zero-block-skipping int8 GEMM in Numba-CUDA, bit-exact with `reference.zeroskip.skip_matmul_int`.

`zero_bitmap_kernel`: one thread per block decides whether the block is all zero.
`skip_gemm_kernel`: one thread per output element walks the K blocks and accumulates only
those where its A block (row block, K block) and B block (K block, column block) are both
non-zero; it adds the multiply-accumulates it performed to a global counter (int64 atomic),
which becomes the record's `macs_done`. Loads are cast to int32 before arithmetic.
"""

import math

import numpy as np
from numba import cuda, int32, int64

from kernels.cpu.zeroskip import make_record
from reference.zeroskip import skip_matmul_operands

__all__ = ["skip_matmul_int"]

#: Threads per block edge of the GEMM grid and threads per block of the bitmap kernel.
TILE = 16
THREADS = 128


@cuda.jit(cache=True)
def zero_bitmap_kernel(c, b0, b1, out):
    t = cuda.grid(1)
    nr, nk = out.shape
    if t >= nr * nk:
        return
    i = t // nk
    j = t % nk
    r, k = c.shape
    zero = 1
    for u in range(i * b0, min((i + 1) * b0, r)):
        for v in range(j * b1, min((j + 1) * b1, k)):
            if c[u, v] != 0:
                zero = 0
    out[i, j] = zero


@cuda.jit(cache=True)
def skip_gemm_kernel(ac, bc, a_zero, b_zero, bm, bk, bn, out, done):
    col = cuda.blockIdx.x * TILE + cuda.threadIdx.x
    row = cuda.blockIdx.y * TILE + cuda.threadIdx.y
    m, k = ac.shape
    n = bc.shape[1]
    if row >= m or col >= n:
        return
    ib = row // bm
    jb = col // bn
    acc = int32(0)
    macs = int64(0)
    for kb in range(a_zero.shape[1]):
        if a_zero[ib, kb] != 0 or b_zero[kb, jb] != 0:
            continue
        k1 = min((kb + 1) * bk, k)
        for kk in range(kb * bk, k1):
            acc = int32(acc + int32(ac[row, kk]) * int32(bc[kk, col]))
        macs += k1 - kb * bk
    out[row, col] = acc
    cuda.atomic.add(done, 0, macs)


def skip_matmul_int(a, b, *, a_zero_point=0, b_zero_point=0, a_block=(4, 4), b_block=(4, 4)):
    """Bit-exact CUDA twin of `reference.zeroskip.skip_matmul_int`: `(int32, ZeroSkipRecord)`."""
    ac, bc, a_block, b_block = skip_matmul_operands(a, b, a_zero_point, b_zero_point, a_block,
                                                  b_block)
    m, k = ac.shape
    n = bc.shape[1]
    d_ac = cuda.to_device(ac)
    d_bc = cuda.to_device(bc)
    bitmaps = []
    for d_c, (b0, b1), (r, cc) in ((d_ac, a_block, (m, k)), (d_bc, b_block, (k, n))):
        bm = cuda.device_array((math.ceil(r / b0), math.ceil(cc / b1)), np.int8)
        zero_bitmap_kernel[max(1, math.ceil(bm.size / THREADS)), THREADS](d_c, b0, b1, bm)
        bitmaps.append(bm)
    out = cuda.device_array((m, n), np.int32)
    done = cuda.to_device(np.zeros(1, np.int64))
    grid = (max(1, math.ceil(n / TILE)), max(1, math.ceil(m / TILE)))
    skip_gemm_kernel[grid, (TILE, TILE)](d_ac, d_bc, bitmaps[0], bitmaps[1], a_block[0],
                                         a_block[1], b_block[1], out, done)
    a_zero, b_zero = (bm.copy_to_host().astype(bool) for bm in bitmaps)
    return out.copy_to_host(), make_record(a_zero, b_zero, a_block, b_block, m * k * n,
                                           int(done.copy_to_host()[0]))
