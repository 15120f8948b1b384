"""Single-node ONNX models built in memory, run by ONNX Runtime, ``onnx.reference`` and gilt.

gilt's side goes through :func:`reference.onnx_ops_table.run_onnx_op` with the attributes
decoded from the very node the oracles run, so an attribute the node omits is left to the
function's default, exactly as an importer would see it.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx (test extra) is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is not installed")
from onnx import helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from reference.onnx_ops_table import run_onnx_op  # noqa: E402

ort.set_default_logger_severity(3)


def make_model(op_type: str, inputs, *, opset: int, n_outputs: int = 1, domain: str = "",
               **attrs):
    """``inputs``: list of (name, array or None); None makes an absent optional input."""
    names = ["" if a is None else n for n, a in inputs]
    while names and names[-1] == "":
        names.pop()
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, domain=domain, **attrs)
    vi = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
          for n, a in inputs if a is not None]
    vo = [helper.make_empty_tensor_value_info(o) for o in outs]
    graph = helper.make_graph([node], "g", vi, vo)
    opsets = [helper.make_opsetid("", opset)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model)


def feeds(inputs) -> dict:
    return {n: a for n, a in inputs if a is not None}


def run_ort(model, inputs) -> list[np.ndarray]:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, feeds(inputs))


def run_onnx_reference(model, inputs) -> list[np.ndarray]:
    return list(ReferenceEvaluator(model).run(None, feeds(inputs)))


def node_attributes(node) -> dict:
    """The node's attributes as an importer decodes them (tensors as arrays)."""
    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        out[a.name] = value
    return out


def run_gilt(model, inputs) -> list[np.ndarray]:
    node = model.graph.node[0]
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    by_name = dict(feeds(inputs))
    arrays = [by_name[n] if n else None for n in node.input]
    return run_onnx_op(node.op_type, arrays, node_attributes(node), opset=opset,
                       n_outputs=len(node.output))


def assert_same(got, want, what=""):
    """Integer / selection results: same dtype, shape and values (NaN equal to NaN)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f"), \
        f"{what}: values differ at {np.argwhere(got != want)[:5].tolist()}"


def assert_close(got, want, *, rtol, atol, what=""):
    """Float results: dtype and shape equal, values within ``atol + rtol * |want|``."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def check_node(op_type, inputs, *, opset, n_outputs=1, rtol=None, atol=0.0, oracle="ort",
               **attrs) -> list[np.ndarray]:
    """Build the node, run the oracle and gilt, compare every output: exactly when ``rtol``
    is None, else with the tolerance. Returns gilt's outputs."""
    model = make_model(op_type, inputs, opset=opset, n_outputs=n_outputs, **attrs)
    want = run_ort(model, inputs) if oracle == "ort" else run_onnx_reference(model, inputs)
    got = run_gilt(model, inputs)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        what = f"{op_type} output {i} (opset {opset}, {attrs})"
        if rtol is None:
            assert_same(g, w, what)
        else:
            assert_close(g, w, rtol=rtol, atol=atol, what=what)
    return got


def run_both(op_type, inputs, *, opset, n_outputs=1, oracle="ort", **attrs):
    """(gilt outputs, oracle outputs) of one node, for comparisons with a computed bound."""
    model = make_model(op_type, inputs, opset=opset, n_outputs=n_outputs, **attrs)
    want = run_ort(model, inputs) if oracle == "ort" else run_onnx_reference(model, inputs)
    return run_gilt(model, inputs), want


F32_EPS = float(np.finfo(np.float32).eps)


def assert_within(got, want, bound, what=""):
    """Float results within a per-element error bound (an array broadcastable to them)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, \
        f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    ok = (diff <= bound) | (np.isnan(got) & np.isnan(want)) | (got == want)
    assert ok.all(), f"{what}: {int((~ok).sum())} elements beyond the bound, worst " \
                     f"{float(np.max(diff - bound))} over it"
