"""One table from ONNX operator type to gilt's reference function, and one entry point
:func:`run_onnx_op` that evaluates a node from its input arrays, its decoded attributes and the
model's opset.

Mapping convention (every function in the table):

- ONNX inputs map to the function's positional parameters in ONNX order (``OnnxOp.inputs``
  names them); an absent optional input is ``None`` (an empty input name in the node).
  Variadic operators (Concat, Max, Min, Mean, Sum, Einsum) take their inputs as ``*args``.
- ONNX attributes map to keyword-only parameters of the same name with ONNX's defaults in
  the signature; an attribute the node omits keeps that default. String attributes may be
  ``str`` or ``bytes`` (what ``onnx.helper.get_attribute_value`` returns); tensor attributes
  (ConstantOfShape ``value``) are NumPy arrays.
- Outputs: a function returns one array, or a tuple in ONNX output order (LSTM, GRU,
  LayerNormalization, Split, Dropout); :func:`run_onnx_op` returns a list of the first
  ``n_outputs``.
- Opset differences are handled here, in adapters, not in the functions: attributes that
  later opsets turned into inputs (Squeeze/Unsqueeze/Split/Reduce* ``axes``/``split``,
  Dropout ``ratio``), Split's implicit even split before opset 18, Softmax/LogSoftmax's 2-D
  coercion and ``axis=1`` default before opset 13, GroupNormalization's per-group
  scale/bias before opset 21.
- Refusals: an unknown operator, an opset outside ``[OnnxOp.min_opset, MAX_OPSET]``, an
  attribute the function does not take, or more inputs than the operator
  has: one ``ValueError`` naming the operator and what is wrong. The functions refuse
  unsupported values themselves.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from reference import (
    activation_ops,
    cast,
    conv_transpose,
    einsum,
    linalg,
    math_ops,
    normalization_ext,
    recurrent,
    reduce,
    resize,
    shape_ops,
)

__all__ = ["MAX_OPSET", "MIN_OPSET", "ONNX_OPS", "OnnxOp", "run_onnx_op"]

#: Oldest default-domain opset the table accepts.
MIN_OPSET = 11
#: Newest opset whose schemas of these operators were reviewed (ONNX 1.23 defines up to 28):
#: the versions after 21 only add element types (which the functions refuse by dtype) or
#: attributes gilt does not take (Cast ``round_mode``, Range ``stash_type``: refused).
MAX_OPSET = 28

Adapter = Callable[[list, dict, int, int], tuple[list, dict, Callable | None]]


@dataclass(frozen=True)
class OnnxOp:
    """One ONNX operator: its reference function and how a node maps onto it."""

    function: Callable
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    min_opset: int = MIN_OPSET
    variadic: bool = False
    adapter: Adapter | None = None

    @property
    def attributes(self) -> tuple[str, ...]:
        """ONNX attribute names the function takes (at the newest opset)."""
        return keyword_names(self.function)


def keyword_names(function: Callable) -> tuple[str, ...]:
    """A reference function's keyword-only parameters: the ONNX attributes it takes."""
    params = inspect.signature(function).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _axes_attribute_to_input(position: int, last_attribute_opset: int) -> Adapter:
    """Opsets <= ``last_attribute_opset`` carry ``axes`` as an attribute: pass it as input."""
    def adapt(inputs, attrs, opset, n_outputs):
        if opset <= last_attribute_opset and "axes" in attrs:
            inputs = _padded(inputs, position)
            inputs[position] = np.asarray(attrs.pop("axes"), np.int64)
        return inputs, attrs, None
    return adapt


def _padded(inputs: list, position: int) -> list:
    return list(inputs) + [None] * (position + 1 - len(inputs))


def _split_adapter(inputs, attrs, opset, n_outputs):
    if opset < 13 and "split" in attrs:
        inputs = _padded(inputs, 1)
        inputs[1] = np.asarray(attrs.pop("split"), np.int64)
    has_split = len(inputs) > 1 and inputs[1] is not None and np.size(inputs[1]) > 0
    if not has_split:
        inputs = list(inputs[:1])
        if opset < 18:  # implicit equal split into the node's outputs; ONNX needs it even
            x = inputs[0]
            axis = attrs.get("axis", 0)
            dim = x.shape[axis] if -x.ndim <= axis < x.ndim else None
            if dim is not None and dim % n_outputs:
                raise ValueError(f"Split (opset {opset}): axis {axis} of size {dim} does not "
                                 f"split evenly into {n_outputs} outputs")
            attrs["num_outputs"] = n_outputs
    return inputs, attrs, None


def _dropout_adapter(inputs, attrs, opset, n_outputs):
    if opset < 12 and n_outputs > 1:
        raise ValueError(f"Dropout (opset {opset}): the mask output is undefined in inference "
                         f"before opset 12 (ONNX Runtime gives all False, onnx.reference all "
                         f"True); gilt refuses a node that uses it")
    if opset < 12 and "ratio" in attrs:
        inputs = _padded(inputs, 1)
        inputs[1] = np.asarray(attrs.pop("ratio"), np.float32)
    return inputs, attrs, None


def _softmax_adapter(function):
    def adapt(inputs, attrs, opset, n_outputs):
        if opset >= 13:
            return inputs, attrs, None
        axis = attrs.pop("axis", 1)

        def coerced(x):  # opsets < 13: normalise the 2-D [prod(:axis), prod(axis:)] view
            return function(shape_ops.flatten(x, axis=axis), axis=1).reshape(x.shape)
        return inputs, attrs, coerced
    return adapt


def _group_norm_adapter(inputs, attrs, opset, n_outputs):
    if opset < 21:
        return inputs, attrs, normalization_ext.group_normalization_18
    return inputs, attrs, None


_REDUCE_INPUTS = ("data", "axes")
_BINARY = ("A", "B")


def _reduce(function, axes_input_since: int) -> OnnxOp:
    return OnnxOp(function, _REDUCE_INPUTS, ("reduced",),
                  adapter=_axes_attribute_to_input(1, axes_input_since - 1))


def _unary(function, name="X") -> OnnxOp:
    return OnnxOp(function, (name,), ("Y",))


#: ONNX operator type (default domain) -> reference function and mapping.
ONNX_OPS: dict[str, OnnxOp] = {
    # data movement and shapes (reference/shape_ops.py, reference/cast.py)
    "Cast": OnnxOp(cast.cast, ("input",), ("output",)),
    "Concat": OnnxOp(shape_ops.concat, ("inputs",), ("concat_result",),
                     variadic=True),
    "ConstantOfShape": OnnxOp(shape_ops.constant_of_shape, ("input",), ("output",)),
    "Dropout": OnnxOp(shape_ops.dropout, ("data", "ratio", "training_mode"),
                      ("output", "mask"), adapter=_dropout_adapter),
    "Expand": OnnxOp(shape_ops.expand, ("input", "shape"), ("output",)),
    "Flatten": OnnxOp(shape_ops.flatten, ("input",), ("output",)),
    "Gather": OnnxOp(shape_ops.gather, ("data", "indices"), ("output",)),
    "GatherElements": OnnxOp(shape_ops.gather_elements, ("data", "indices"), ("output",)),
    "Identity": OnnxOp(shape_ops.identity, ("input",), ("output",)),
    "Pad": OnnxOp(shape_ops.pad, ("data", "pads", "constant_value", "axes"), ("output",)),
    "Range": OnnxOp(shape_ops.range_, ("start", "limit", "delta"), ("output",)),
    "Reshape": OnnxOp(shape_ops.reshape, ("data", "shape"), ("reshaped",)),
    "Shape": OnnxOp(shape_ops.shape, ("data",), ("shape",)),
    "Size": OnnxOp(shape_ops.size, ("data",), ("size",)),
    "Slice": OnnxOp(shape_ops.slice_, ("data", "starts", "ends", "axes", "steps"),
                    ("output",)),
    "Split": OnnxOp(shape_ops.split, ("input", "split"), ("outputs",),
                    adapter=_split_adapter),
    "Squeeze": OnnxOp(shape_ops.squeeze, ("data", "axes"), ("squeezed",),
                      adapter=_axes_attribute_to_input(1, 12)),
    "Tile": OnnxOp(shape_ops.tile, ("input", "repeats"), ("output",)),
    "Transpose": OnnxOp(shape_ops.transpose, ("data",), ("transposed",)),
    "Unsqueeze": OnnxOp(shape_ops.unsqueeze, ("data", "axes"), ("expanded",),
                        adapter=_axes_attribute_to_input(1, 12)),
    "Where": OnnxOp(shape_ops.where, ("condition", "X", "Y"), ("output",)),
    # reductions (reference/reduce.py): axes became an input in opset 13 (Sum) / 18 (others)
    "ReduceL1": _reduce(reduce.reduce_l1, 18),
    "ReduceL2": _reduce(reduce.reduce_l2, 18),
    "ReduceMax": _reduce(reduce.reduce_max, 18),
    "ReduceMean": _reduce(reduce.reduce_mean, 18),
    "ReduceMin": _reduce(reduce.reduce_min, 18),
    "ReduceProd": _reduce(reduce.reduce_prod, 18),
    "ReduceSum": _reduce(reduce.reduce_sum, 13),
    "ReduceSumSquare": _reduce(reduce.reduce_sum_square, 18),
    # element-wise math (reference/math_ops.py)
    "Abs": _unary(math_ops.abs_),
    "Add": OnnxOp(math_ops.add, _BINARY, ("C",)),
    "Ceil": _unary(math_ops.ceil),
    "Div": OnnxOp(math_ops.div, _BINARY, ("C",)),
    "Equal": OnnxOp(math_ops.equal, _BINARY, ("C",)),
    "Erf": _unary(math_ops.erf, "input"),
    "Exp": _unary(math_ops.exp, "input"),
    "Floor": _unary(math_ops.floor),
    "Greater": OnnxOp(math_ops.greater, _BINARY, ("C",)),
    "Less": OnnxOp(math_ops.less, _BINARY, ("C",)),
    "Log": _unary(math_ops.log, "input"),
    "Max": OnnxOp(math_ops.max_, ("data_0",), ("max",), variadic=True),
    "Mean": OnnxOp(math_ops.mean, ("data_0",), ("mean",), variadic=True),
    "Min": OnnxOp(math_ops.min_, ("data_0",), ("min",), variadic=True),
    "Mul": OnnxOp(math_ops.mul, _BINARY, ("C",)),
    "Neg": _unary(math_ops.neg),
    "Not": OnnxOp(math_ops.not_, ("X",), ("Y",), min_opset=1),  # one version, never changed
    "Pow": OnnxOp(math_ops.pow_, ("X", "Y"), ("Z",)),
    "Reciprocal": _unary(math_ops.reciprocal),
    "Sqrt": _unary(math_ops.sqrt),
    "Sub": OnnxOp(math_ops.sub, _BINARY, ("C",)),
    "Sum": OnnxOp(math_ops.sum_, ("data_0",), ("sum",), variadic=True),
    "Tanh": _unary(math_ops.tanh, "input"),
    # activations (reference/activation_ops.py)
    "Clip": OnnxOp(activation_ops.clip, ("input", "min", "max"), ("output",)),
    "Elu": _unary(activation_ops.elu),
    "HardSigmoid": _unary(activation_ops.hard_sigmoid),
    "LeakyRelu": _unary(activation_ops.leaky_relu),
    "LogSoftmax": OnnxOp(activation_ops.log_softmax, ("input",), ("output",),
                         adapter=_softmax_adapter(activation_ops.log_softmax)),
    "PRelu": OnnxOp(activation_ops.prelu, ("X", "slope"), ("Y",)),
    "Relu": _unary(activation_ops.relu),
    "Selu": _unary(activation_ops.selu),
    "Sigmoid": _unary(activation_ops.sigmoid),
    "Softmax": OnnxOp(activation_ops.softmax, ("input",), ("output",),
                      adapter=_softmax_adapter(activation_ops.softmax)),
    # normalisations (reference/normalization_ext.py)
    "GroupNormalization": OnnxOp(normalization_ext.group_normalization, ("X", "scale", "bias"),
                                 ("Y",), min_opset=18,
                                 adapter=_group_norm_adapter),
    "InstanceNormalization": OnnxOp(normalization_ext.instance_normalization,
                                    ("input", "scale", "B"), ("output",)),
    "LayerNormalization": OnnxOp(normalization_ext.layer_normalization, ("X", "Scale", "B"),
                                 ("Y", "Mean", "InvStdDev"), min_opset=17),
    # linear algebra, convolution, resampling, recurrence
    "ConvTranspose": OnnxOp(conv_transpose.conv_transpose, ("X", "W", "B"), ("Y",)),
    "Einsum": OnnxOp(einsum.einsum, ("Inputs",), ("Output",), min_opset=12,
                     variadic=True),
    "Gemm": OnnxOp(linalg.gemm, ("A", "B", "C"), ("Y",)),
    "GRU": OnnxOp(recurrent.gru, ("X", "W", "R", "B", "sequence_lens", "initial_h"),
                  ("Y", "Y_h")),
    "LSTM": OnnxOp(recurrent.lstm, ("X", "W", "R", "B", "sequence_lens", "initial_h",
                                    "initial_c", "P"), ("Y", "Y_h", "Y_c")),
    "MatMul": OnnxOp(linalg.matmul, ("A", "B"), ("Y",)),
    "Resize": OnnxOp(resize.resize, ("X", "roi", "scales", "sizes"), ("Y",)),
}


def _decode(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list | tuple) and value and isinstance(value[0], bytes):
        return [v.decode() for v in value]
    return value


def run_onnx_op(op_type: str, inputs: Sequence[np.ndarray | None], attributes: dict, *,
                opset: int, n_outputs: int | None = None) -> list[np.ndarray]:
    """Evaluate one ONNX node of the default domain with gilt's reference functions.

    ``inputs``: arrays in ONNX order, None for an absent optional input. ``attributes``:
    name -> decoded value (only the attributes the node has). ``opset``: the model's
    default-domain opset. ``n_outputs``: how many outputs the node names (default: all the
    operator has; Split requires it). Returns a list of arrays, positionally matching the
    node's outputs (an output the node leaves unnamed is still computed and returned).
    """
    spec = ONNX_OPS.get(op_type)
    if spec is None:
        raise ValueError(f"ONNX operator {op_type!r} is not in gilt's reference table")
    if not spec.min_opset <= opset <= MAX_OPSET:
        raise ValueError(f"{op_type} at opset {opset} is not supported: gilt's table covers "
                         f"opsets {spec.min_opset}-{MAX_OPSET} for it")
    attrs = {k: _decode(v) for k, v in attributes.items()}
    inputs = list(inputs)
    while inputs and inputs[-1] is None:
        inputs.pop()
    if spec.outputs == ("outputs",) and n_outputs is None:
        raise ValueError(f"{op_type} needs n_outputs (the number of outputs the node names)")
    count = len(spec.outputs) if n_outputs is None else n_outputs
    function = spec.function
    if spec.adapter is not None:
        inputs, attrs, replacement = spec.adapter(inputs, attrs, opset, count)
        function = replacement or function
    known = set(keyword_names(function))
    unknown = sorted(set(attrs) - known)
    if unknown:
        raise ValueError(f"{op_type}: attribute(s) {unknown} not supported (gilt takes "
                         f"{sorted(known)})")
    if not spec.variadic and len(inputs) > len(spec.inputs):
        raise ValueError(f"{op_type} takes at most {len(spec.inputs)} inputs "
                         f"{list(spec.inputs)}, got {len(inputs)}")
    result = function(*inputs, **attrs)
    outs = list(result) if isinstance(result, tuple) else [result]
    if spec.outputs == ("outputs",):  # Split: one output per piece
        if len(outs) != count:
            raise ValueError(f"Split produced {len(outs)} pieces for {count} outputs")
        return outs
    if count > len(outs):
        raise ValueError(f"{op_type} has {len(outs)} outputs, the node names {count}")
    return outs[:count]
