"""Models quantized by ONNX Runtime's own quantize_static, imported for an ORT optimization level
and compared with ORT at that level: identical (np.array_equal) or refused by name, never a
silent difference (gilt.experiments.ort_quantizer; the full matrix is slow and in
docs/ort-quantizer.md)."""

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from gilt.experiments import ort_quantizer as oq  # noqa: E402

pytestmark = pytest.mark.oracle

#: configurations that never saturate ORT's uint8 x int8 pair sums (int8 activations, or
#: reduce_range), so the comparison holds on any host
PORTABLE = (oq.Config("QOperator", "QInt8", True, False), oq.Config("QDQ", "QUInt8", True, True),
            oq.Config("QDQ", "QInt8", False, False))


def test_mobilenet_portable_configs():
    rows = oq.run_network("mobilenetv3_large", PORTABLE)
    assert [r["outcome"] for r in rows if r["outcome"] == "mismatch"] == []
    cells = {(r["config"], r["level"]): r for r in rows}
    assert cells[(PORTABLE[0], "default")]["outcome"] == "identical"
    assert cells[(PORTABLE[0], "disable_all")]["outcome"] == "identical"
    assert cells[(PORTABLE[1], "default")]["outcome"] == "identical"
    refused = cells[(PORTABLE[1], "disable_all")]
    assert refused["outcome"] == "refused" and "runs in float32" in refused["detail"]


def test_probe_names_the_host():
    assert oq.ort_saturates_u8s8() in (True, False)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(oq.NETWORKS))
def test_matrix_has_no_silent_mismatch(name):
    rows = oq.run_network(name)
    assert [(r["config"].label, r["level"], r["detail"]) for r in rows
            if r["outcome"] == "mismatch"] == []
