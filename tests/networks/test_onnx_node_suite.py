"""ONNX's own backend node tests, generated in the test run by ONNX's case generator, through
gilt's importer and executor (``networks.conformance``): every case whose operators gilt
accepts passes or is refused with a message; zero silent mismatches, zero crashes. The default
run covers the modules of the operators gilt accepts; the slow run every module."""

import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")  # the pass-ort cases and onnx_fold's checks

from networks import conformance  # noqa: E402

pytestmark = pytest.mark.oracle

#: operators whose node tests must mostly pass (the suite is not vacuous)
CORE = ("Conv", "MatMul", "Gemm", "AveragePool", "MaxPool", "Concat", "Softmax", "Reshape",
        "Transpose", "QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul",
        "Relu", "Add", "Mul", "Slice", "Resize", "LayerNormalization")


@pytest.fixture(scope="module")
def suite():
    cases = conformance.collect(conformance.accepted_ops())
    return cases, conformance.run(cases)


def _bad(outcomes, status):
    return [f"{o.case.name}: {o.detail}" for o in outcomes if o.status == status]


def test_no_silent_mismatch_and_no_crash(suite):
    cases, outcomes = suite
    assert len(outcomes) > 500
    assert _bad(outcomes, "mismatch") == []
    assert _bad(outcomes, "crash") == []


def test_refusals_name_what(suite):
    _, outcomes = suite
    for o in outcomes:
        if o.status == "refused":
            assert len(o.detail) > 20, (o.case.name, o.detail)


def test_core_operators_pass(suite):
    _, outcomes = suite
    for op in CORE:
        mine = [o for o in outcomes if o.case.op == op and not o.case.expanded]
        passed = sum(o.status.startswith("pass") for o in mine)
        assert mine and passed >= len(mine) // 2, (op, passed, len(mine))


def test_docs_table_is_current(suite):
    """docs/onnx-conformance.md holds the table this run produces (regenerate it with
    ``python -m networks.conformance --out docs/onnx-conformance.md``)."""
    from pathlib import Path

    cases, outcomes = suite
    page = (Path(__file__).resolve().parents[2] / "docs" / "onnx-conformance.md").read_text()
    table = conformance.table(cases, outcomes)
    assert table.split("\n\nRefusals")[0] in page


@pytest.mark.slow
def test_every_node_case():
    cases = conformance.collect(None)
    outcomes = conformance.run(cases)
    assert _bad(outcomes, "mismatch") == [] and _bad(outcomes, "crash") == []
