"""Integer GEMM on the CPU: int8/uint8 x int8/uint8 and int8/uint8 x packed int4 -> int32.

Mirrors `reference.matmul_int.matmul_int(a, b, *, a_zero_point=0, b_zero_point=0)`:
`out[i, j] = sum_k (a[i, k] - a_zp[i]) * (b[k, j] - b_zp[j])`, int32 wrapping modulo 2**32
(ONNX MatMulInteger). Zero points are scalars or per-row (a) / per-column (b) vectors.

Two kernels compute the raw product, chosen once per process:

* VNNI (`HAS_AVX512_VNNI`): `vpdpbusd` multiplies uint8 by int8. Inputs are mapped to that
  form by XOR 0x80 (`a_u = a + 128` for int8 a, `b_s = b - 128` for uint8 b), so with
  `A0 = a_zp + 128*[a is int8]`, `B0 = b_zp - 128*[b is uint8]`::

      (a - a_zp)(b - b_zp) = (a_u - A0)(b_s - B0)
      out = a_u @ b_s - B0[j] * rowsum(a_u)[i] - A0[i] * colsum(b_s)[j] + K * A0[i] * B0[j]

  Every term is exact modulo 2**32, so the int32 result equals the reference for any K.
  B is packed once (`pack_b`) in the VNNI layout: for each block of 64 columns and each group
  of 4 k, 256 bytes holding 4 zmm loads of 16 columns x 4 consecutive k bytes. The register
  block is 6 rows x 64 columns = 24 zmm accumulators.
* Portable: `(a - a_zp)` and `(b - b_zp)` widened to int16, dot products in int64, narrowed
  once to int32 (wrap). Used where the CPU lacks AVX512-VNNI.

int4 weights: `matmul_int(a, b_packed, b_int4_shape=(K, N))` takes `reference.packing.pack_int4(b)` of a
(K, N) int8 matrix of values -8..7 (flat C order, element 2i in the low nibble of byte i).
The portable kernel decodes nibbles inside its inner loop (`((v & 15) ^ 8) - 8`); the VNNI
path decodes them once into the packed-B layout (weights are constants, packed once).
"""

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from kernels._args import (
    check_int4_shape,
    check_operand,
    check_packed_int4,
    check_same_k,
    unpack_int4_values,
    zero_point_vector,
)
from kernels.cpu._vnni import HAS_AVX512_VNNI, dpbusd, v16_broadcast, v16_load, v16_store, v16_zero

#: Rows and columns of the VNNI register block (6 x 4 zmm accumulators).
MR = 6
NR = 64
_KGROUP = 4  # bytes per int32 lane in vpdpbusd

# --------------------------------------------------------------------------- packing

@dataclass(frozen=True)
class PackedB:
    """B in the VNNI layout (see module docstring), with what the epilogue needs."""

    data: np.ndarray       # uint8, n_blocks * k_groups * 256 bytes (b_s = b - offset)
    colsum: np.ndarray     # int64 (N,): sum_k b_s[k, j]
    offset: int            # 128 when b was uint8, else 0: b = b_s + offset
    k: int
    n: int
    dtype: np.dtype        # dtype of the original B (int8 or uint8)


@njit(inline="always")
def packed_offset(kk, j, k_groups):
    """Byte offset of B[kk, j] in the VNNI layout (see module docstring)."""
    return (((j // NR) * k_groups + kk // _KGROUP) * 4 + (j % NR) // 16) * 64 + \
        (j % 16) * 4 + kk % _KGROUP


@njit(parallel=True, cache=True)
def _pack_b_kernel(b, flip, k_groups, n_blocks):
    """VNNI-packed bytes of b_s = b (XOR 0x80 when `flip`: uint8 b) and colsum(b_s)."""
    k, n = b.shape
    out = np.zeros(n_blocks * k_groups * NR * _KGROUP, dtype=np.int8)
    colsum = np.zeros(n, dtype=np.int64)
    x = np.uint8(0x80) if flip else np.uint8(0)
    for j in prange(n):
        s = np.int64(0)
        for kk in range(k):
            v = np.int8(np.uint8(b[kk, j]) ^ x)  # truncation: uint8 200 -> int8 -56
            out[packed_offset(kk, j, k_groups)] = v
            s += v
        colsum[j] = s
    return out, colsum


def _pack_signed(b, dtype, offset):
    k, n = b.shape
    k_groups = -(-k // _KGROUP)
    n_blocks = -(-n // NR)
    data, colsum = _pack_b_kernel(b, offset != 0, k_groups, n_blocks)
    return PackedB(data=data.view(np.uint8), colsum=colsum, offset=offset, k=k, n=n,
                   dtype=np.dtype(dtype))


def pack_b(b):
    """Pack a (K, N) int8/uint8 matrix once for repeated `matmul_int` calls (VNNI layout)."""
    check_operand("b", b)
    return _pack_signed(b, b.dtype, 128 if b.dtype == np.uint8 else 0)


# --------------------------------------------------------------------------- kernels

@njit(parallel=True, cache=True)
def _gemm_vnni(a32, bp, k_groups, m_blocks, n_blocks, c):
    """c[(i, j) of the padded grid] = sum_k a_u[i, k] * b_s[k, j], int32 wrapping.

    a32: (m_blocks*MR, k_groups) int32 view of zero-padded uint8 rows; bp: packed B bytes;
    c: flat int32 (m_blocks*MR) x (n_blocks*NR).
    """
    n_pad = n_blocks * NR
    for t in prange(n_blocks * m_blocks):
        jb = t // m_blocks
        i0 = (t % m_blocks) * MR
        c00 = v16_zero(); c01 = v16_zero(); c02 = v16_zero(); c03 = v16_zero()  # noqa: E702
        c10 = v16_zero(); c11 = v16_zero(); c12 = v16_zero(); c13 = v16_zero()  # noqa: E702
        c20 = v16_zero(); c21 = v16_zero(); c22 = v16_zero(); c23 = v16_zero()  # noqa: E702
        c30 = v16_zero(); c31 = v16_zero(); c32 = v16_zero(); c33 = v16_zero()  # noqa: E702
        c40 = v16_zero(); c41 = v16_zero(); c42 = v16_zero(); c43 = v16_zero()  # noqa: E702
        c50 = v16_zero(); c51 = v16_zero(); c52 = v16_zero(); c53 = v16_zero()  # noqa: E702
        base = jb * k_groups * 256
        for g in range(k_groups):
            off = base + g * 256
            b0 = v16_load(bp, off)
            b1 = v16_load(bp, off + 64)
            b2 = v16_load(bp, off + 128)
            b3 = v16_load(bp, off + 192)
            a = v16_broadcast(a32[i0, g])
            c00 = dpbusd(c00, a, b0); c01 = dpbusd(c01, a, b1)  # noqa: E702
            c02 = dpbusd(c02, a, b2); c03 = dpbusd(c03, a, b3)  # noqa: E702
            a = v16_broadcast(a32[i0 + 1, g])
            c10 = dpbusd(c10, a, b0); c11 = dpbusd(c11, a, b1)  # noqa: E702
            c12 = dpbusd(c12, a, b2); c13 = dpbusd(c13, a, b3)  # noqa: E702
            a = v16_broadcast(a32[i0 + 2, g])
            c20 = dpbusd(c20, a, b0); c21 = dpbusd(c21, a, b1)  # noqa: E702
            c22 = dpbusd(c22, a, b2); c23 = dpbusd(c23, a, b3)  # noqa: E702
            a = v16_broadcast(a32[i0 + 3, g])
            c30 = dpbusd(c30, a, b0); c31 = dpbusd(c31, a, b1)  # noqa: E702
            c32 = dpbusd(c32, a, b2); c33 = dpbusd(c33, a, b3)  # noqa: E702
            a = v16_broadcast(a32[i0 + 4, g])
            c40 = dpbusd(c40, a, b0); c41 = dpbusd(c41, a, b1)  # noqa: E702
            c42 = dpbusd(c42, a, b2); c43 = dpbusd(c43, a, b3)  # noqa: E702
            a = v16_broadcast(a32[i0 + 5, g])
            c50 = dpbusd(c50, a, b0); c51 = dpbusd(c51, a, b1)  # noqa: E702
            c52 = dpbusd(c52, a, b2); c53 = dpbusd(c53, a, b3)  # noqa: E702
        r = i0 * n_pad + jb * NR
        v16_store(c, r, c00); v16_store(c, r + 16, c01)  # noqa: E702
        v16_store(c, r + 32, c02); v16_store(c, r + 48, c03)  # noqa: E702
        r += n_pad
        v16_store(c, r, c10); v16_store(c, r + 16, c11)  # noqa: E702
        v16_store(c, r + 32, c12); v16_store(c, r + 48, c13)  # noqa: E702
        r += n_pad
        v16_store(c, r, c20); v16_store(c, r + 16, c21)  # noqa: E702
        v16_store(c, r + 32, c22); v16_store(c, r + 48, c23)  # noqa: E702
        r += n_pad
        v16_store(c, r, c30); v16_store(c, r + 16, c31)  # noqa: E702
        v16_store(c, r + 32, c32); v16_store(c, r + 48, c33)  # noqa: E702
        r += n_pad
        v16_store(c, r, c40); v16_store(c, r + 16, c41)  # noqa: E702
        v16_store(c, r + 32, c42); v16_store(c, r + 48, c43)  # noqa: E702
        r += n_pad
        v16_store(c, r, c50); v16_store(c, r + 16, c51)  # noqa: E702
        v16_store(c, r + 32, c52); v16_store(c, r + 48, c53)  # noqa: E702


@njit(parallel=True, cache=True)
def _vnni_epilogue(c, n_pad, rowsum, colsum, a0, b0, k, out):
    """out = c - B0[j]*R[i] - A0[i]*S[j] + K*A0[i]*B0[j], narrowed once to int32 (wrap)."""
    m, n = out.shape
    for i in prange(m):
        for j in range(n):
            v = (np.int64(c[i * n_pad + j]) - b0[j] * rowsum[i] - a0[i] * colsum[j]
                 + k * a0[i] * b0[j])
            out[i, j] = np.int32(v)  # truncation: wraps modulo 2**32


@njit(parallel=True, cache=True)
def _pack_a_u(a, flip, m_pad, k_pad):
    """Zero-padded uint8 rows of a (XOR 0x80 when `flip`: int8 a) and their int64 row sums."""
    m, k = a.shape
    out = np.zeros((m_pad, k_pad), dtype=np.uint8)
    rowsum = np.zeros(m, dtype=np.int64)
    x = np.uint8(0x80) if flip else np.uint8(0)
    for i in prange(m):
        s = np.int64(0)
        for kk in range(k):
            v = np.uint8(a[i, kk]) ^ x
            out[i, kk] = v
            s += v
        rowsum[i] = s
    return out, rowsum


def padded_a_shape(m, k):
    """(rows, columns) of the zero-padded uint8 A panel `gemm_vnni_raw` takes."""
    return -(-m // MR) * MR, -(-k // _KGROUP) * _KGROUP


def gemm_vnni_raw(a_u, packed):
    """Raw `a_u @ b_s` (int32, wrapping) on the padded grid, as a flat (rows * n_pad) array.

    a_u: C-contiguous uint8 (rows, k_pad) from `padded_a_shape` (zero padding); packed: PackedB
    with k <= k_pad. Callers apply the zero-point correction (see module docstring).
    """
    rows, k_pad = a_u.shape
    n_blocks = -(-packed.n // NR)
    c = np.empty(rows * n_blocks * NR, dtype=np.int32)
    if rows and packed.n and packed.k:
        _gemm_vnni(a_u.view(np.int32), packed.data, k_pad // _KGROUP, rows // MR, n_blocks, c)
    else:
        c[:] = 0
    return c


def _matmul_vnni(a, packed, a_zp, b_zp):
    m, k = a.shape
    n_blocks = -(-packed.n // NR)
    flip = a.dtype == np.int8
    a_u, rowsum = _pack_a_u(a, flip, *padded_a_shape(m, k))
    c = gemm_vnni_raw(a_u, packed)
    a0 = a_zp + (128 if flip else 0)
    b0 = b_zp - packed.offset
    out = np.empty((m, packed.n), dtype=np.int32)
    _vnni_epilogue(c, n_blocks * NR, rowsum, packed.colsum, a0, b0, np.int64(k), out)
    return out


@njit(parallel=True, cache=True)
def _gemm_portable(a_c, bt_c, out):
    """out[i, j] = sum_k a_c[i, k] * bt_c[j, k] (int16 operands), narrowed once to int32."""
    m, k = a_c.shape
    n = bt_c.shape[0]
    for i in prange(m):
        for j in range(n):
            acc = np.int64(0)
            for kk in range(k):
                acc += np.int32(a_c[i, kk]) * np.int32(bt_c[j, kk])
            out[i, j] = np.int32(acc)  # truncation: wraps modulo 2**32


@njit(parallel=True, cache=True)
def _gemm_portable_int4(a_c, b_packed, n, b_zp, out):
    """Like _gemm_portable with B as packed int4 nibbles (flat C order of (K, N))."""
    m, k = a_c.shape
    for i in prange(m):
        for j in range(n):
            acc = np.int64(0)
            for kk in range(k):
                idx = kk * n + j
                byte = np.int32(b_packed[idx >> 1])
                nib = (byte >> 4) if idx & 1 else (byte & 15)
                w = ((nib & 15) ^ 8) - 8
                acc += np.int32(a_c[i, kk]) * (w - b_zp[j])
            out[i, j] = np.int32(acc)  # truncation: wraps modulo 2**32


def _centered_a(a, a_zp):
    return (a.astype(np.int16) - a_zp.astype(np.int16)[:, None])


# --------------------------------------------------------------------------- public API

def matmul_int(a, b, *, a_zero_point=0, b_zero_point=0, b_int4_shape=None, use_vnni=None):
    """int32 GEMM of int8/uint8 operands, bit-exact with `reference.matmul_int.matmul_int`.

    Numeric contract: out[i, j] = sum_k (a[i,k] - a_zp) * (b[k,j] - b_zp) computed exactly and
    narrowed once to int32 with wrap-around (ONNX MatMulInteger). `a` (M, K), `b` (K, N) or a
    `PackedB` from `pack_b` / `pack_b_int4`; int4 weights packed with
    `reference.packing.pack_int4` take `b_int4_shape=(K, N)` (as the reference). Zero points
    scalar or per row of a / per column of b, in the operand dtype's range. `use_vnni=None` picks VNNI when the host has it; True without
    AVX512-VNNI raises RuntimeError. Raises TypeError/ValueError on bad dtypes or shapes.
    """
    check_operand("a", a)
    if b_int4_shape is not None and not isinstance(b, PackedB):
        n = check_int4_shape(b, b_int4_shape, a.shape[1])
        return _matmul_int4(a, b, n=n, a_zero_point=a_zero_point, b_zero_point=b_zero_point,
                            use_vnni=use_vnni)
    if isinstance(b, PackedB):
        k_b, n, b_dtype = b.k, b.n, b.dtype
    else:
        check_operand("b", b)
        (k_b, n), b_dtype = b.shape, b.dtype
    m, k = a.shape
    check_same_k(a, k_b)
    a_zp = zero_point_vector("a_zero_point", a_zero_point, m, a.dtype)
    b_zp = zero_point_vector("b_zero_point", b_zero_point, n, b_dtype)
    if _pick_vnni(use_vnni):
        packed = b if isinstance(b, PackedB) else pack_b(b)
        return _matmul_vnni(a, packed, a_zp, b_zp)
    if isinstance(b, PackedB):
        raise ValueError("a PackedB needs the VNNI kernel; pass the (K, N) array instead")
    out = np.empty((m, n), dtype=np.int32)
    bt_c = np.ascontiguousarray((b.astype(np.int16) - b_zp.astype(np.int16)[None, :]).T)
    _gemm_portable(_centered_a(a, a_zp), bt_c, out)
    return out


def _pick_vnni(use_vnni):
    if use_vnni is None:
        return HAS_AVX512_VNNI
    if use_vnni and not HAS_AVX512_VNNI:
        raise RuntimeError("use_vnni=True but this CPU lacks AVX512-VNNI (vpdpbusd)")
    return bool(use_vnni)


def unpack_int4_matrix(b_packed, k, n):
    """(K, N) int8 values -8..7 from flat packed nibbles (low nibble = even element)."""
    check_packed_int4(b_packed, k, n)
    return unpack_int4_values(b_packed, k * n).reshape(k, n)


def pack_b_int4(b_packed, k, n):
    """VNNI-packed B from packed int4 weights (decoded once; weights are constants)."""
    return _pack_signed(unpack_int4_matrix(b_packed, k, n), np.int8, 0)


def _matmul_int4(a, b_packed, *, n, a_zero_point=0, b_zero_point=0, use_vnni=None):
    """int8/uint8 x packed-int4 GEMM; equals `matmul_int(a, unpack(b_packed).reshape(K, n))`.

    Numeric contract: as `matmul_int`; B holds int4 values -8..7 packed two per byte in
    `reference.packing.pack_int4` order over the flat (K, N) matrix; b_zero_point in the int8 range (as the reference).
    `b_packed` may also be a `PackedB` from `pack_b_int4` (VNNI only).
    """
    check_operand("a", a)
    m, k = a.shape
    if isinstance(b_packed, PackedB):
        if (b_packed.k, b_packed.n) != (k, n):
            raise ValueError(f"PackedB holds K={b_packed.k}, N={b_packed.n}; expected K={k}, N={n}")
    else:
        check_packed_int4(b_packed, k, n)
    a_zp = zero_point_vector("a_zero_point", a_zero_point, m, a.dtype)
    b_zp = zero_point_vector("b_zero_point", b_zero_point, n, np.int8)
    if _pick_vnni(use_vnni):
        packed = b_packed if isinstance(b_packed, PackedB) else pack_b_int4(b_packed, k, n)
        return _matmul_vnni(a, packed, a_zp, b_zp)
    if isinstance(b_packed, PackedB):
        raise ValueError("a PackedB needs the VNNI kernel; pass the packed uint8 bytes instead")
    out = np.empty((m, n), dtype=np.int32)
    _gemm_portable_int4(_centered_a(a, a_zp), b_packed, n, b_zp.astype(np.int32), out)
    return out
