"""ONNX operators that are one ``reference/`` function with ONNX's own signature.

Such a function takes the operator's inputs positionally in ONNX order (an absent optional
input is ``None``) and its attributes as keywords with ONNX's defaults, so the graph needs no
operator of its own: a node's ``op`` is the ONNX ``op_type`` and its ``attrs`` are the attributes
the model gave. One row here makes the operator importable (``networks.onnx_import``),
executable (``networks.execute``) and part of the graph vocabulary (``networks.graph``).

``const_inputs`` lists the inputs whose *values* decide the output shape (a Reshape's shape,
a Slice's starts): the importer requires them to be constants, so shapes stay static.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reference import onnx_ops


@dataclass(frozen=True)
class OnnxFunction:
    """A row of :data:`ONNX_FUNCTIONS`: the reference function and the inputs that must be
    constants (their values fix the output shape)."""

    fn: Callable
    const_inputs: tuple[int, ...] = ()


#: ONNX op_type -> reference function with the ONNX signature
ONNX_FUNCTIONS: dict[str, OnnxFunction] = {
    "ConvInteger": OnnxFunction(onnx_ops.conv_integer),
    "MatMulInteger": OnnxFunction(onnx_ops.matmul_integer),
    "DynamicQuantizeLinear": OnnxFunction(onnx_ops.dynamic_quantize_linear),
}
