"""AVX512-VNNI building blocks for Numba: a 16 x int32 vector type and `vpdpbusd`.

LLVM's auto-vectorizer never emits `vpdpbusd` (it lowers int8 dot products to
`vpmovsxbw` + `vpmaddwd`, about 8x slower here), so the GEMM kernels call the instruction
through `llvm.x86.avx512.vpdpbusd.512` from a Numba `@intrinsic`. The vector type lives in
one zmm register; Numba keeps such locals in registers across the K loop.

`vpdpbusd(acc, a, b)`: for each of 16 int32 lanes, `acc += sum_{t<4} u8(a.byte[4l+t]) *
s8(b.byte[4l+t])`, wrapping modulo 2**32 (the non-saturating form). The four products of
one lane sum to at most 4*255*128 < 2**31, so the only wrap is the accumulate, which is the
ONNX int32 contract.

Use only when `HAS_AVX512_VNNI` is true: the host CPU must have the instruction.
"""

import llvmlite.binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model


def _host_has_avx512_vnni() -> bool:
    features = llvm_binding.get_host_cpu_features()
    return bool(features.get("avx512vnni", False)) and bool(features.get("avx512bw", False))


#: True when the host CPU (as LLVM sees it) has AVX512-VNNI and AVX512-BW.
HAS_AVX512_VNNI = _host_has_avx512_vnni()

# LLVM >= 20 declares vpdpbusd.512 with <64 x i8> byte operands; older versions use
# <16 x i32> (still auto-upgraded, but the native form avoids relying on that).
_BYTE_OPERANDS = llvm_binding.llvm_version_info >= (20, 0, 0)

_I32 = ir.IntType(32)
_V16I32 = ir.VectorType(_I32, 16)
_V64I8 = ir.VectorType(ir.IntType(8), 64)


class Vec16i32(types.Type):
    """Numba type of one zmm register holding 16 int32 lanes."""

    def __init__(self):
        super().__init__(name="vec16i32")


vec16i32 = Vec16i32()


@register_model(Vec16i32)
class _Vec16i32Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _V16I32)


@intrinsic
def v16_zero(typingctx):
    """A vector of 16 zero int32 lanes."""
    def codegen(context, builder, signature, args):
        return ir.Constant(_V16I32, [0] * 16)
    return vec16i32(), codegen


@intrinsic
def v16_broadcast(typingctx, value):
    """Broadcast one int32 (four packed bytes) to all 16 lanes."""
    if not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        scalar = context.cast(builder, args[0], signature.args[0], types.int32)
        vec = builder.insert_element(ir.Constant(_V16I32, ir.Undefined), scalar,
                                     ir.Constant(_I32, 0))
        return builder.shuffle_vector(vec, ir.Constant(_V16I32, ir.Undefined),
                                      ir.Constant(ir.VectorType(_I32, 16), [0] * 16))
    return vec16i32(value), codegen


def _element_pointer(context, builder, arrty, arr, index):
    data = context.make_array(arrty)(context, builder, value=arr).data
    return builder.gep(data, [index])


@intrinsic
def v16_load(typingctx, array, index):
    """Load 64 bytes starting at flat element `index` of a C-contiguous 1-D array."""
    if not (isinstance(array, types.Array) and array.ndim == 1):
        return None

    def codegen(context, builder, signature, args):
        index = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = _element_pointer(context, builder, signature.args[0], args[0], index)
        vptr = builder.bitcast(ptr, _V16I32.as_pointer())
        return builder.load(vptr, align=1)
    return vec16i32(array, index), codegen


@intrinsic
def v16_store(typingctx, array, index, vec):
    """Store 16 int32 lanes at flat element `index` of a C-contiguous 1-D int32 array."""
    if not (isinstance(array, types.Array) and array.ndim == 1 and array.dtype == types.int32):
        return None

    def codegen(context, builder, signature, args):
        index = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = _element_pointer(context, builder, signature.args[0], args[0], index)
        vptr = builder.bitcast(ptr, _V16I32.as_pointer())
        builder.store(args[2], vptr, align=4)
        return context.get_dummy_value()
    return types.none(array, index, vec), codegen


@intrinsic
def dpbusd(typingctx, acc, a_bytes, b_bytes):
    """`acc + vpdpbusd(a_bytes as uint8, b_bytes as int8)`, per 32-bit lane, wrapping."""
    if not all(isinstance(t, Vec16i32) for t in (acc, a_bytes, b_bytes)):
        return None

    def codegen(context, builder, signature, args):
        acc, a, b = args
        operand = _V64I8 if _BYTE_OPERANDS else _V16I32
        fnty = ir.FunctionType(_V16I32, [_V16I32, operand, operand])
        fn = cgutils.get_or_insert_function(builder.module, fnty,
                                            "llvm.x86.avx512.vpdpbusd.512")
        if _BYTE_OPERANDS:
            a = builder.bitcast(a, _V64I8)
            b = builder.bitcast(b, _V64I8)
        return builder.call(fn, [acc, a, b])
    return vec16i32(acc, a_bytes, b_bytes), codegen
