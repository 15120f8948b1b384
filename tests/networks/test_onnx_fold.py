"""Shape folding before import (networks/onnx_fold.py), checked against ONNX Runtime: the folded
values equal what ORT computes for those tensors in the original model, and the folded model's
outputs equal the original's."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from networks.onnx_fold import MAX_FOLDED_ELEMENTS, fold_constants, set_input_shapes  # noqa: E402

pytestmark = pytest.mark.oracle


def _const(name, array):
    return helper.make_node("Constant", [], [name], name=f"c_{name}",
                            value=numpy_helper.from_array(np.asarray(array), name))


def exporter_like_model():
    """What exporters write for a dynamic-shape detector head: shapes computed at run time
    (Shape -> Gather/Slice -> arithmetic -> Concat -> Reshape / Resize sizes / Range)."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    scale = numpy_helper.from_array(np.float32([0.5]), "half")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Shape", ["y"], ["y_shape"], name="shape"),
        _const("i0", np.int64(0)), _const("two", np.int64(2)),
        helper.make_node("Gather", ["y_shape", "i0"], ["n"], name="gather_n", axis=0),
        _const("axes0", np.array([0], np.int64)), _const("minus1", np.array([-1], np.int64)),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="unsq"),
        helper.make_node("Concat", ["n1", "minus1"], ["flat_shape"], name="concat", axis=0),
        helper.make_node("Reshape", ["y", "flat_shape"], ["flat"], name="reshape"),
        # Resize to twice the spatial size, sizes computed from the shape (DBNet-style head)
        _const("s2", np.array([2], np.int64)), _const("e4", np.array([4], np.int64)),
        helper.make_node("Slice", ["y_shape", "s2", "e4"], ["hw"], name="slice_hw"),
        helper.make_node("Mul", ["hw", "two"], ["hw2"], name="mul_hw"),
        _const("s0", np.array([0], np.int64)),
        helper.make_node("Slice", ["y_shape", "s0", "s2"], ["nc"], name="slice_nc"),
        helper.make_node("Concat", ["nc", "hw2"], ["sizes"], name="concat_sizes", axis=0),
        helper.make_node("Resize", ["y", "", "", "sizes"], ["up"], name="resize",
                         mode="nearest"),
        # Size, Range and a float cast of a shape, as position encodings are exported
        helper.make_node("Size", ["y"], ["numel"], name="size"),
        _const("one", np.int64(1)),
        helper.make_node("Range", ["i0", "n", "one"], ["idx"], name="range"),
        helper.make_node("Cast", ["idx"], ["idx_f"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["idx_f", "half"], ["pos"], name="mul_pos"),
    ]
    graph = helper.make_graph(
        nodes, "exported",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info("flat", TensorProto.FLOAT, [None, None]),
         helper.make_tensor_value_info("up", TensorProto.FLOAT, [None] * 4),
         helper.make_tensor_value_info("numel", TensorProto.INT64, []),
         helper.make_tensor_value_info("pos", TensorProto.FLOAT, [None])],
        [w, scale])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _run(model, feeds, outputs=None):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(outputs, feeds),
                    strict=True))


@pytest.mark.parametrize("shape", [(1, 3, 8, 12), (2, 3, 5, 7)])
def test_folded_model_equals_original_and_folded_values_equal_ort(shape):
    model = exporter_like_model()
    folded, report = fold_constants(model, {"x": shape})
    left = {n.op_type for n in folded.graph.node}
    assert left == {"Conv", "Reshape", "Resize", "Mul"}, left
    assert "Shape" in dict(report.folded).values() or ("shape", "Shape") in report.folded
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    want = _run(model, {"x": x})
    got = _run(folded, {"x": x})
    for name in want:
        assert np.array_equal(want[name], got[name]), name

    # every folded tensor that is still used equals ORT's value in the original model
    inits = {i.name: numpy_helper.to_array(i) for i in folded.graph.initializer}
    folded_names = [n for n in report.added if n in inits]
    assert {"flat_shape", "sizes", "numel", "idx_f"} <= set(folded_names)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in folded_names:
        array = inits[name]
        probe.graph.output.append(helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(array.dtype), [None] * array.ndim))
    ort_values = _run(probe, {"x": x})
    for name in folded_names:
        assert ort_values[name].dtype == inits[name].dtype, name
        assert np.array_equal(ort_values[name], inits[name]), name


def test_float_arithmetic_on_constants_is_left_to_the_golden_model():
    model = exporter_like_model()
    folded, _ = fold_constants(model, {"x": (1, 3, 4, 4)})
    muls = [n for n in folded.graph.node if n.op_type == "Mul"]
    assert [n.name for n in muls] == ["mul_pos"]   # float Mul of a folded cast stays a node


def test_large_results_are_not_folded():
    big = MAX_FOLDED_ELEMENTS * 2
    nodes = [_const("shape", np.array([big], np.int64)),
             helper.make_node("ConstantOfShape", ["shape"], ["zeros"], name="cos",
                              value=numpy_helper.from_array(np.float32([0]))),
             helper.make_node("Add", ["x", "zeros"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [big])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [big])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    folded, report = fold_constants(model)
    assert [n.op_type for n in folded.graph.node] == ["ConstantOfShape", "Add"]
    assert "zeros" not in report.added


@pytest.mark.parametrize("shapes, message", [
    ({"nope": (1, 3, 4, 4)}, "not graph inputs"),
    ({"x": (1, 3, 4)}, "rank 4"),
    ({"x": (1, 4, 4, 4)}, "axis 1 is fixed at 3"),
    ({"x": (1, 3, 0, 4)}, "positive ints"),
    ({"x": (1, 3, True, 4)}, "positive ints"),
])
def test_bad_input_shapes_are_refused_by_name(shapes, message):
    with pytest.raises(ValueError, match=message):
        set_input_shapes(exporter_like_model(), shapes)


def test_original_model_is_not_changed():
    model = exporter_like_model()
    before = model.SerializeToString()
    fold_constants(model, {"x": (1, 3, 4, 4)})
    assert model.SerializeToString() == before
