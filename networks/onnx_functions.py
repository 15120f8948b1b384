"""ONNX operators that are one ``reference/`` function with ONNX's own signature.

Such a function takes the operator's inputs positionally in ONNX order (an absent optional
input is ``None``) and its attributes as keywords with ONNX's defaults, so the graph needs no
operator of its own: a node's ``op`` is the ONNX ``op_type`` and its ``attrs`` are
``{"attributes": <what the model wrote>, "opset": <the model's default-domain opset>}``. The
rows are ``reference.onnx_ops_table.ONNX_OPS`` (shape, math, activation, normalization,
resampling, recurrent operators; opset differences in its adapters), :data:`EXTRA` (the
integer ONNX entry points of ``reference.onnx_ops``) and :data:`MS_FUNCTIONS` (ONNX Runtime's
com.microsoft QOperator operators, ``reference.qlinear_ops``). One row makes an operator importable
(``networks.onnx_rules``), executable (``networks.execute``) and part of the graph vocabulary.

:data:`CONST_INPUTS` names the inputs whose *values* decide an output shape (a Reshape's
shape, a Slice's starts): the importer requires them to be constants, so shapes stay static
(and the executor checks every output shape against the graph's anyway).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reference import onnx_ops, qlinear_ops
from reference.onnx_ops_table import MAX_OPSET, ONNX_OPS, OnnxOp, keyword_names, run_onnx_op

#: ONNX operators of ``reference.onnx_ops`` (integer entry points) run the same way
EXTRA: dict[str, OnnxOp] = {
    "ConvInteger": OnnxOp(onnx_ops.conv_integer, ("x", "w", "x_zero_point", "w_zero_point"),
                          ("y",), min_opset=10),
    "MatMulInteger": OnnxOp(onnx_ops.matmul_integer, ("A", "B", "a_zero_point",
                                                      "b_zero_point"), ("Y",), min_opset=10),
    "DynamicQuantizeLinear": OnnxOp(onnx_ops.dynamic_quantize_linear, ("x",),
                                    ("y", "y_scale", "y_zero_point"), min_opset=11),
}
_QX = ("X", "X_scale", "X_zero_point", "Y_scale", "Y_zero_point")
_QAB = ("A", "A_scale", "A_zero_point", "B", "B_scale", "B_zero_point", "C_scale",
        "C_zero_point")
#: com.microsoft QOperator operators: ONNX Runtime's x86-64 kernels (reference.qlinear_ops)
MS_FUNCTIONS: dict[str, OnnxOp] = {
    "QLinearAdd": OnnxOp(qlinear_ops.qlinear_add, _QAB, ("C",), min_opset=1),
    "QLinearMul": OnnxOp(qlinear_ops.qlinear_mul, _QAB, ("C",), min_opset=1),
    "QLinearSigmoid": OnnxOp(qlinear_ops.qlinear_sigmoid, _QX, ("Y",), min_opset=1),
    "QLinearLeakyRelu": OnnxOp(qlinear_ops.qlinear_leaky_relu, _QX, ("Y",), min_opset=1),
    "QLinearSoftmax": OnnxOp(qlinear_ops.qlinear_softmax, _QX, ("Y",), min_opset=1),
    "QLinearAveragePool": OnnxOp(qlinear_ops.qlinear_average_pool, _QX, ("Y",), min_opset=1),
    "QLinearConcat": OnnxOp(qlinear_ops.qlinear_concat, ("Y_scale", "Y_zero_point",
                                                         "inputs"), ("Y",), min_opset=1,
                            variadic=True),
}
#: every operator run by one reference function (default domain, then com.microsoft)
FUNCTIONS: dict[str, OnnxOp] = {**ONNX_OPS, **EXTRA, **MS_FUNCTIONS}

#: op_type -> names of the inputs that must be constants (their values fix output shapes)
CONST_INPUTS: dict[str, tuple[str, ...]] = {
    "ConstantOfShape": ("input",), "Expand": ("shape",), "Range": ("start", "limit", "delta"),
    "Reshape": ("shape",), "Resize": ("roi", "scales", "sizes"),
    "Slice": ("starts", "ends", "axes", "steps"), "Split": ("split",),
    "Squeeze": ("axes",), "Unsqueeze": ("axes",), "Tile": ("repeats",),
    "Pad": ("pads", "axes"),
    **{op: ("axes",) for op in ONNX_OPS if op.startswith("Reduce")},
}


def const_input_positions(op: str) -> tuple[int, ...]:
    spec = FUNCTIONS[op]
    names = CONST_INPUTS.get(op, ())
    return tuple(i for i, name in enumerate(spec.inputs) if name in names)


def run_function(op: str, inputs: Sequence[np.ndarray | None], attributes: dict, *,
                 opset: int, n_outputs: int) -> list[np.ndarray]:
    """Evaluate ``op`` on its input arrays (ONNX order, None where absent); a list with one
    array per output the node names. Errors: one ValueError naming the operator and what."""
    if op in ONNX_OPS:
        return run_onnx_op(op, inputs, attributes, opset=opset, n_outputs=n_outputs)
    spec = FUNCTIONS[op]
    if not spec.min_opset <= opset <= MAX_OPSET:
        raise ValueError(f"{op} at opset {opset} is not supported (opsets {spec.min_opset}-"
                         f"{MAX_OPSET})")
    unknown = sorted(set(attributes) - set(keyword_names(spec.function)))
    if unknown:
        raise ValueError(f"{op}: attribute(s) {unknown} not supported")
    inputs = list(inputs)
    while inputs and inputs[-1] is None:
        inputs.pop()
    if not spec.variadic and len(inputs) > len(spec.inputs):
        raise ValueError(f"{op} takes at most {len(spec.inputs)} inputs, got {len(inputs)}")
    result = spec.function(*inputs, **attributes)
    outs = list(result) if isinstance(result, tuple) else [result]
    if n_outputs > len(outs):
        raise ValueError(f"{op} has {len(outs)} outputs, the node names {n_outputs}")
    return outs[:n_outputs]
