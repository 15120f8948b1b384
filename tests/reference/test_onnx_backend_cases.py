"""ONNX's own backend node test cases, run directly through gilt's reference table.

The installed onnx wheel ships the case generator (``onnx.backend.test.case.node``), not the
``.pb`` data: importing one operator's module runs its ``export()`` functions, which build the
single-node models with inputs and expected outputs. Every single-node case of an operator in
:data:`reference.onnx_ops_table.ONNX_OPS` runs here and must either match ONNX's expected
outputs (integers and bools equal, floats within the case's rtol/atol, default 1e-3/1e-7 as
ONNX's runner) or be refused with a ValueError/TypeError listed in ``REFUSED`` with its
reason. ``ORT_NOT_ONNX_REFERENCE`` lists the cases whose expected data (made by
``onnx.reference``) disagree with ONNX Runtime; gilt follows ONNX Runtime there, and the test
checks that against ORT instead. Zero silent mismatches. (The importer-level node suite is
another helper's; this is the function-level check.)
"""

from __future__ import annotations

import importlib
import re
import warnings

import numpy as np
import pytest

from reference.onnx_ops_table import ONNX_OPS
from tests.reference._onnx_node import onnx, run_gilt, run_ort

pytestmark = pytest.mark.oracle

MODULES = (
    "abs add cast ceil clip concat constantofshape convtranspose div dropout einsum elu equal "
    "erf exp expand flatten floor gather gatherelements gemm greater groupnormalization gru "
    "hardsigmoid identity instance_normalization layernormalization leakyrelu less log "
    "logsoftmax lstm matmul max mean min mul neg not_ pad pow prelu rangeop reciprocal reducel1 "
    "reducel2 reducemax reducemean reducemin reduceprod reducesum reducesumsquare relu reshape "
    "resize selu shape sigmoid size slice softmax split sqrt squeeze sub sum tanh tile "
    "transpose unsqueeze where").split()

#: Case-name patterns gilt refuses, and why (each must raise ValueError or TypeError).
REFUSED = {
    r"test_cast_.*(BFLOAT16|FLOAT8|INT4|UINT4|FLOAT4E2M1|INT2|UINT2).*":
        "element type without a NumPy dtype in gilt",
    r"test_training_dropout.*": "Dropout with training_mode=True (random)",
    r"test_resize_.*antialias": "antialias=1 is not implemented",
    r"test_einsum_batch_diagonal": "diagonal (repeated letter) Einsum",
    r"test_.*bfloat16.*": "bfloat16",
    r"test_range_float16_type_positive_delta": "float16 Range",
    r"test_equal_string.*": "string tensors",
}

#: Cases whose expected output comes from onnx.reference and differs from ONNX Runtime,
#: which gilt follows (see reference/resize.py: the fractional output length).
ORT_NOT_ONNX_REFERENCE = {
    "test_resize_downsample_scales_linear_align_corners",
    "test_resize_downsample_scales_cubic_align_corners",
}


def _collect():
    import onnx.backend.test.case.node as node_cases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np_state = np.random.get_state()
        for m in MODULES:
            importlib.import_module(f"onnx.backend.test.case.node.{m}")
        np.random.set_state(np_state)
    out = []
    for case in node_cases._NodeTestCases:
        nodes = case.model.graph.node
        if len(nodes) == 1 and nodes[0].domain in ("", "ai.onnx") and \
                nodes[0].op_type in ONNX_OPS:
            out.append(case)
    return out


CASES = _collect()


def _array(value):
    return onnx.numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else \
        np.asarray(value)


def _refusal_reason(name: str) -> str | None:
    for pattern, why in REFUSED.items():
        if re.fullmatch(pattern, name):
            return why
    return None


def _compare(got, want, rtol, atol, what):
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=what)
    else:
        assert np.array_equal(got, want), what


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_onnx_backend_case(case):
    graph = case.model.graph
    node = graph.node[0]
    why = _refusal_reason(case.name)
    for inputs, outputs in case.data_sets:
        feeds = [(vi.name, _array(a)) for vi, a in zip(graph.input, inputs)]
        if why is not None:
            with pytest.raises((ValueError, TypeError)):
                run_gilt(case.model, feeds)
            continue
        got = [g for g, name in zip(run_gilt(case.model, feeds), node.output) if name]
        if case.name in ORT_NOT_ONNX_REFERENCE:
            want = run_ort(case.model, feeds)
            rtol, atol = 1e-5, 1e-6
        else:
            want = [_array(o) for o in outputs]
            rtol, atol = case.rtol or 1e-3, case.atol or 1e-7
        assert len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want)):
            _compare(np.asarray(g), np.asarray(w), rtol, atol, f"{case.name} output {i}")


def test_every_table_operator_has_backend_cases():
    """Each operator of the table is exercised by at least one ONNX case."""
    covered = {c.model.graph.node[0].op_type for c in CASES}
    assert set(ONNX_OPS) - covered == set()
