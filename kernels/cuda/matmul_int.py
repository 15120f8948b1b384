"""Integer GEMM in Numba-CUDA: int8/uint8 x int8/uint8 and x packed int4 -> int32.

Mirrors `reference.matmul_int.matmul_int` (and `kernels.cpu.matmul_int`): out[i, j] =
sum_k (a[i,k] - a_zp[i]) * (b[k,j] - b_zp[j]), int32 wrapping modulo 2**32.

Classic shared-memory tiling: a TILE x TILE thread block owns a TILE x TILE output tile and
walks K in steps of TILE, staging zero-point-centred int32 tiles of A and B in shared memory.
Loads are bounds-guarded (0 outside the matrix, which adds nothing), every load is cast to
int32 before arithmetic (the simulator would wrap int8 x int8 at 8 bits), and int4 nibbles
are sign-extended with `((v & 15) ^ 8) - 8` (see kernels/cuda/README.md).
"""

import math

import numpy as np
from numba import cuda, int32

from kernels._args import (
    check_int4_shape,
    check_operand,
    check_packed_int4,
    check_same_k,
    zero_point_vector,
)

#: Output tile edge (threads per block = TILE * TILE) and K step.
TILE = 16


@cuda.jit(device=True, inline=True)
def int4_at(packed, idx):
    """Signed int4 element `idx` of a flat packed array (low nibble = even element)."""
    byte = int32(packed[idx >> 1])
    nib = (byte >> 4) if idx & 1 else byte
    return ((nib & 15) ^ 8) - 8


@cuda.jit(cache=True)
def gemm_kernel(a, b, a_zp, b_zp, out):
    """out = (a - a_zp) @ (b - b_zp); one thread per output element, TILE x TILE blocks."""
    a_tile = cuda.shared.array((TILE, TILE), int32)
    b_tile = cuda.shared.array((TILE, TILE), int32)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    row = cuda.blockIdx.y * TILE + ty
    col = cuda.blockIdx.x * TILE + tx
    m, k = a.shape
    n = b.shape[1]
    acc = int32(0)
    for k0 in range(0, k, TILE):
        ka = k0 + tx
        kb = k0 + ty
        a_tile[ty, tx] = int32(a[row, ka]) - a_zp[row] if row < m and ka < k else 0
        b_tile[ty, tx] = int32(b[kb, col]) - b_zp[col] if kb < k and col < n else 0
        cuda.syncthreads()
        for t in range(TILE):
            acc = int32(acc + a_tile[ty, t] * b_tile[t, tx])
        cuda.syncthreads()
    if row < m and col < n:
        out[row, col] = acc


@cuda.jit(cache=True)
def gemm_int4_kernel(a, b_packed, n, a_zp, b_zp, out):
    """As gemm_kernel with B given as flat packed int4 nibbles of a (K, n) matrix."""
    a_tile = cuda.shared.array((TILE, TILE), int32)
    b_tile = cuda.shared.array((TILE, TILE), int32)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    row = cuda.blockIdx.y * TILE + ty
    col = cuda.blockIdx.x * TILE + tx
    m, k = a.shape
    acc = int32(0)
    for k0 in range(0, k, TILE):
        ka = k0 + tx
        kb = k0 + ty
        a_tile[ty, tx] = int32(a[row, ka]) - a_zp[row] if row < m and ka < k else 0
        b_tile[ty, tx] = int4_at(b_packed, kb * n + col) - b_zp[col] if kb < k and col < n else 0
        cuda.syncthreads()
        for t in range(TILE):
            acc = int32(acc + a_tile[ty, t] * b_tile[t, tx])
        cuda.syncthreads()
    if row < m and col < n:
        out[row, col] = acc


def _grid(m, n):
    return (max(1, math.ceil(n / TILE)), max(1, math.ceil(m / TILE))), (TILE, TILE)


def matmul_int(a, b, *, a_zero_point=0, b_zero_point=0, b_int4_shape=None):
    """CUDA int32 GEMM, bit-exact with `reference.matmul_int.matmul_int`.

    Numeric contract: as the reference and `kernels.cpu.matmul_int.matmul_int`: exact products
    of zero-point-centred int8/uint8 values, int32 accumulation wrapping modulo 2**32. Errors:
    TypeError/ValueError for bad dtypes, shapes or zero points. int4 weights packed with
    `reference.packing.pack_int4` take `b_int4_shape=(K, N)` (as the reference).
    """
    check_operand("a", a)
    if b_int4_shape is not None:
        n = check_int4_shape(b, b_int4_shape, a.shape[1])
        return _matmul_int4(a, b, n=n, a_zero_point=a_zero_point, b_zero_point=b_zero_point)
    check_operand("b", b)
    check_same_k(a, b.shape[0])
    m, n = a.shape[0], b.shape[1]
    a_zp = zero_point_vector("a_zero_point", a_zero_point, m, a.dtype).astype(np.int32)
    b_zp = zero_point_vector("b_zero_point", b_zero_point, n, b.dtype).astype(np.int32)
    out = cuda.device_array((m, n), dtype=np.int32)
    if m and n:
        grid, block = _grid(m, n)
        gemm_kernel[grid, block](cuda.to_device(np.ascontiguousarray(a)),
                                 cuda.to_device(np.ascontiguousarray(b)),
                                 cuda.to_device(a_zp), cuda.to_device(b_zp), out)
    return out.copy_to_host()


def _matmul_int4(a, b_packed, *, n, a_zero_point=0, b_zero_point=0):
    """CUDA int8/uint8 x packed-int4 GEMM; equals `matmul_int(a, unpack(b_packed).reshape(K, n))`.

    Numeric contract: as `matmul_int`; B is `reference.packing.pack_int4` of a (K, n) int8
    matrix of values -8..7 (flat C order); b_zero_point in the int8 range (as the reference).
    """
    check_operand("a", a)
    m, k = a.shape
    check_packed_int4(b_packed, k, n)
    a_zp = zero_point_vector("a_zero_point", a_zero_point, m, a.dtype).astype(np.int32)
    b_zp = zero_point_vector("b_zero_point", b_zero_point, n, np.int8)
    out = cuda.device_array((m, n), dtype=np.int32)
    if m and n:
        grid, block = _grid(m, n)
        gemm_int4_kernel[grid, block](cuda.to_device(np.ascontiguousarray(a)),
                                      cuda.to_device(b_packed if b_packed.size else
                                                     np.zeros(1, np.uint8)),
                                      n, cuda.to_device(a_zp),
                                      cuda.to_device(b_zp.astype(np.int32)), out)
    return out.copy_to_host()
