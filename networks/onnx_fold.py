"""Fix an ONNX model's input shapes and fold what then becomes constant, before import.

Exporters compute shapes at run time: ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape``,
``Size``, ``Range``, ``ConstantOfShape``, index arithmetic on ``int64`` tensors. With every
graph input given a concrete shape, each of these depends on constants only; this pass
evaluates them once and replaces them by initializers, so the importer sees static shapes.

What is folded (and only this, so that numerics stay where the golden model computes them):

* ``Constant`` nodes become initializers;
* ``Shape`` and ``Size`` of a tensor whose shape ONNX shape inference fixed;
* any deterministic node whose inputs are all constant and whose outputs are all integer or
  bool tensors (index and shape arithmetic: ``Gather``, ``Slice``, ``Concat``, ``Cast`` to
  int64, ``Add``/``Mul``/``Div`` on int64, ``Equal``, ``Where``, ...);
* ``Cast``, ``Squeeze``, ``Unsqueeze``, ``Reshape``, ``Concat``, ``Gather``, ``Slice``,
  ``Expand``, ``ConstantOfShape``, ``Range``, ``Identity`` and ``Transpose`` whose inputs are all
  constant, whatever the output type (they move or convert values without arithmetic), if the
  result has at most :data:`MAX_FOLDED_ELEMENTS` elements.

Float arithmetic on constants (a weight's ``Mul``, a ``DequantizeLinear`` of a quantized
weight) is left alone: the importer and the golden model evaluate it in their documented
order, and QDQ weight patterns stay recognisable.

Values are computed by ``onnx.reference`` (ONNX's own reference implementation), node by node,
except ``Shape`` and ``Size``, computed here from the inferred shape.
``tests/networks/test_onnx_fold.py`` checks the folded values against ONNX Runtime running the
original model, and the folded model's outputs against the original's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

#: Larger results are left to run time (``Expand`` of a big tensor would bloat the model).
MAX_FOLDED_ELEMENTS = 1 << 16

#: Ops that only move or convert values: folded whatever their output type.
MOVE_OPS = frozenset({"Cast", "Squeeze", "Unsqueeze", "Reshape", "Concat", "Gather", "Slice",
                      "Expand", "ConstantOfShape", "Range", "Identity", "Transpose", "Flatten"})

#: Never folded: their outputs differ from run to run, or they are not functions of inputs.
NONDETERMINISTIC_OPS = frozenset({"RandomNormal", "RandomNormalLike", "RandomUniform",
                                  "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout"})


@dataclass
class FoldReport:
    """What :func:`fold_constants` did: the folded nodes ``(name, op_type)`` in order, and the
    initializers it added (name -> shape)."""

    folded: list[tuple[str, str]] = field(default_factory=list)
    added: dict[str, tuple[int, ...]] = field(default_factory=dict)
    removed_nodes: int = 0

    def summary(self) -> str:
        ops: dict[str, int] = {}
        for _, op in self.folded:
            ops[op] = ops.get(op, 0) + 1
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(ops.items()))
        return f"folded {len(self.folded)} nodes ({listed or 'none'})"


def _onnx():
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - onnx is a dependency of ONNX import
        raise ValueError("folding ONNX models needs the 'onnx' package") from exc
    return onnx


def set_input_shapes(model, input_shapes: dict[str, tuple[int, ...]]):
    """A copy of ``model`` whose graph inputs have the given concrete shapes. Every name must
    be a graph input (initializers excluded); the rank must match and fixed dimensions must
    agree. Inputs not named keep their shapes. ValueError naming the input otherwise."""
    onnx = _onnx()
    model = copy.deepcopy(model)
    inits = {init.name for init in model.graph.initializer}
    inputs = {vi.name: vi for vi in model.graph.input if vi.name not in inits}
    unknown = sorted(set(input_shapes) - set(inputs))
    if unknown:
        raise ValueError(f"input_shapes names {unknown}, which are not graph inputs; "
                         f"graph inputs: {sorted(inputs)}")
    for name, shape in input_shapes.items():
        shape = tuple(shape)
        if not shape or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1
                            for d in shape):
            raise ValueError(f"input {name!r}: shape must be positive ints, got {shape!r}")
        tensor_type = inputs[name].type.tensor_type
        if tensor_type.HasField("shape"):
            dims = tensor_type.shape.dim
            if len(dims) != len(shape):
                raise ValueError(f"input {name!r} has rank {len(dims)}, got shape {shape} "
                                 f"(rank {len(shape)})")
            for axis, (dim, value) in enumerate(zip(dims, shape)):
                if dim.HasField("dim_value") and dim.dim_value != value:
                    raise ValueError(f"input {name!r} axis {axis} is fixed at {dim.dim_value} "
                                     f"in the model, got {value}")
        new = onnx.helper.make_tensor_value_info(name, tensor_type.elem_type, list(shape))
        inputs[name].CopyFrom(new)
    return model


def _known_shapes(model) -> dict[str, tuple[int, ...]]:
    """Fully static shapes of every tensor after ONNX shape inference (data propagation on)."""
    onnx = _onnx()
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:   # onnx raises its own error types; name the cause in one line
        raise ValueError(f"ONNX shape inference failed: {exc}") from exc
    shapes = {}
    graph = inferred.graph
    for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            shapes[vi.name] = tuple(int(d.dim_value) for d in t.shape.dim)
    for init in graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes


def _evaluate(node, values: dict[str, np.ndarray], opset: list) -> list[np.ndarray]:
    """Run one node with ``onnx.reference`` on constant inputs."""
    onnx = _onnx()
    from onnx.reference import ReferenceEvaluator

    helper = onnx.helper
    inputs = [i for i in node.input if i]
    graph_inputs = [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(
        values[i].dtype), values[i].shape) for i in inputs]
    outputs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
               for o in node.output if o]
    graph = helper.make_graph([node], "fold", graph_inputs, outputs)
    model = helper.make_model(graph, opset_imports=opset)
    results = ReferenceEvaluator(model).run(None, {i: values[i] for i in inputs})
    return [np.asarray(r) for r in results]


def _is_integer(array: np.ndarray) -> bool:
    return array.dtype.kind in "iub"


def fold_constants(model, input_shapes: dict[str, tuple[int, ...]] | None = None):
    """``model`` (an ``onnx.ModelProto``) with input shapes fixed and shape subgraphs folded
    (see the module docstring). Returns ``(new_model, FoldReport)``; the input is not changed.
    Nodes in sub-graphs (If/Loop bodies) are not folded."""
    onnx = _onnx()
    from onnx import numpy_helper

    if input_shapes:
        model = set_input_shapes(model, input_shapes)
    else:
        model = copy.deepcopy(model)
    graph = model.graph
    opset = list(model.opset_import)
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    shapes = _known_shapes(model)
    report = FoldReport()
    kept = []
    for node in graph.node:            # nodes are in topological order in a valid model
        out = _fold_node(node, values, shapes, opset)
        if out is None:
            kept.append(node)
            continue
        for name, array in zip(node.output, out, strict=True):
            values[name] = array
            report.added[name] = tuple(array.shape)
        report.folded.append((node.name or node.output[0], node.op_type))
    _rewrite(graph, kept, values, report, numpy_helper)
    onnx.checker.check_model(model)
    return model, report


def _fold_node(node, values, shapes, opset) -> list[np.ndarray] | None:
    """The node's output arrays if it folds, else None."""
    if node.domain not in ("", "ai.onnx") or node.op_type in NONDETERMINISTIC_OPS:
        return None
    if any(attr.type in (attr.GRAPH, attr.GRAPHS) for attr in node.attribute):
        return None
    if node.op_type == "Constant":
        return _evaluate(node, values, opset)
    if node.op_type in ("Shape", "Size") and node.input[0] in shapes:
        return [_shape_or_size(node, shapes[node.input[0]])]
    inputs = [i for i in node.input if i]
    if not inputs or not all(i in values for i in inputs):
        return None
    out = _evaluate(node, values, opset)
    if any(a.size > MAX_FOLDED_ELEMENTS for a in out):
        return None
    if node.op_type in MOVE_OPS or all(_is_integer(a) for a in out):
        return out
    return None


def _shape_or_size(node, shape: tuple[int, ...]) -> np.ndarray:
    """ONNX Shape (int64 1-D, ``start``/``end`` clamped, negative from the back; opset 15) and
    Size (int64 0-d), computed from the inferred shape alone (no tensor is materialised)."""
    if node.op_type == "Size":
        return np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    attrs = {a.name: a.i for a in node.attribute}
    rank = len(shape)
    start, end = attrs.get("start", 0), attrs.get("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return np.array(shape[start:end], dtype=np.int64)


def _rewrite(graph, kept, values, report, numpy_helper) -> None:
    """Replace folded nodes by initializers, then drop nodes and initializers nothing uses."""
    outputs = {o.name for o in graph.output}
    needed = set(outputs)
    live = []
    for node in reversed(kept):
        if any(o in needed for o in node.output) or not node.output:
            live.append(node)
            needed.update(i for i in node.input if i)
    live.reverse()
    report.removed_nodes = len(graph.node) - len(live)
    existing = {init.name for init in graph.initializer}
    new_inits = [init for init in graph.initializer if init.name in needed]
    for name in report.added:
        if name in needed and name not in existing:
            # np.array, not np.ascontiguousarray: the latter turns a 0-d scalar into 1-D
            new_inits.append(numpy_helper.from_array(np.array(values[name], order="C"), name))
    del graph.node[:]
    graph.node.extend(live)
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    # initializers listed as graph inputs (older exporters) go with their initializer
    keep_inputs = [vi for vi in graph.input if vi.name in needed or vi.name not in existing]
    if len(keep_inputs) != len(graph.input):
        del graph.input[:]
        graph.input.extend(keep_inputs)
    for vi in [vi for vi in graph.value_info if vi.name in report.added]:
        graph.value_info.remove(vi)


__all__ = ["FoldReport", "MAX_FOLDED_ELEMENTS", "fold_constants", "set_input_shapes"]
