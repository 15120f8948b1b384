"""The ONNX operator table: its mapping agrees with ONNX's own schemas, and every refusal is one
ValueError naming what is wrong."""

import numpy as np
import pytest

from reference.onnx_ops_table import MAX_OPSET, MIN_OPSET, ONNX_OPS, keyword_names, run_onnx_op
from tests.reference._onnx_node import onnx

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


@pytest.mark.parametrize("op_type", sorted(ONNX_OPS))
def test_mapping_matches_onnx_schema(op_type):
    """Positional parameters are the schema's inputs in order; keyword parameters are
    attributes of the schema at some opset the table accepts (by ONNX's own names)."""
    spec = ONNX_OPS[op_type]
    newest = onnx.defs.get_schema(op_type, MAX_OPSET)
    assert [i.name for i in newest.inputs][:len(spec.inputs)] == list(spec.inputs)
    assert len(spec.outputs) == len(newest.outputs) or spec.outputs == ("outputs",)
    names = set()
    for version in range(max(spec.min_opset, 1), MAX_OPSET + 1):
        try:
            names |= set(onnx.defs.get_schema(op_type, version).attributes)
        except onnx.defs.SchemaError:
            continue
    assert set(spec.attributes) <= names, set(spec.attributes) - names


@pytest.mark.parametrize("op_type", sorted(ONNX_OPS))
def test_signature_defaults_are_onnx_defaults(op_type):
    """Every keyword default equals the schema's default where ONNX states one."""
    import inspect

    from onnx import helper

    schema = onnx.defs.get_schema(op_type, MAX_OPSET)
    params = inspect.signature(ONNX_OPS[op_type].function).parameters
    for name in keyword_names(ONNX_OPS[op_type].function):
        attr = schema.attributes.get(name)
        if attr is None or not attr.default_value.name:
            continue
        default = helper.get_attribute_value(attr.default_value)
        if isinstance(default, bytes):
            default = default.decode()
        ours = params[name].default
        if isinstance(default, float):
            assert np.float32(ours) == np.float32(default), (op_type, name, ours, default)
        elif isinstance(default, list):
            assert ours in (None, default, []), (op_type, name, ours, default)
        else:
            assert ours == default, (op_type, name, ours, default)


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match="'Loop' is not in gilt's reference table"):
        run_onnx_op("Loop", [X], {}, opset=13)
    with pytest.raises(ValueError, match=f"opset 10 is not supported.*{MIN_OPSET}-{MAX_OPSET}"):
        run_onnx_op("Slice", [X, np.array([0]), np.array([1])], {}, opset=10)
    with pytest.raises(ValueError, match="opset 29"):
        run_onnx_op("Relu", [X], {}, opset=29)
    with pytest.raises(ValueError, match=r"attribute\(s\) \['beta'\] not supported"):
        run_onnx_op("LeakyRelu", [X], {"alpha": 0.1, "beta": 2.0}, opset=16)
    with pytest.raises(ValueError, match="at most 2 inputs"):
        run_onnx_op("MatMul", [X, X, X], {}, opset=13)
    with pytest.raises(ValueError, match="Split needs n_outputs"):
        run_onnx_op("Split", [X], {}, opset=13)
    with pytest.raises(ValueError, match="Split produced 2 pieces for 3 outputs"):
        run_onnx_op("Split", [X, np.array([1, 1])], {}, opset=13, n_outputs=3)
    with pytest.raises(ValueError, match="GroupNormalization at opset 17"):
        run_onnx_op("GroupNormalization", [X, X, X], {"num_groups": 1}, opset=17)


def test_opset_adapters():
    # Squeeze/Unsqueeze axes as attribute (opset 11) and as input (13) give the same result
    y = np.zeros((1, 3, 1), np.float32)
    a = run_onnx_op("Squeeze", [y], {"axes": [0]}, opset=11)[0]
    b = run_onnx_op("Squeeze", [y, np.array([0])], {}, opset=13)[0]
    assert a.shape == b.shape == (3, 1)
    # Split before opset 18 divides evenly into the node's outputs
    parts = run_onnx_op("Split", [X], {"axis": 2}, opset=13, n_outputs=2)
    assert [p.shape for p in parts] == [(2, 3, 2), (2, 3, 2)]
    # Softmax before 13: axis defaults to 1 and the input is coerced to 2-D there
    s11 = run_onnx_op("Softmax", [X], {}, opset=11)[0]
    assert np.allclose(s11.reshape(2, 12).sum(axis=1), 1)
    s13 = run_onnx_op("Softmax", [X], {}, opset=13)[0]
    assert np.allclose(s13.sum(axis=-1), 1)
    # string attributes arrive as bytes from onnx.helper: decoded
    r = run_onnx_op("Pad", [X, np.array([0, 0, 1, 0, 0, 1])], {"mode": b"edge"}, opset=13)[0]
    assert r.shape == (2, 3, 6)
    # absent trailing optional inputs may be given as None
    c = run_onnx_op("Clip", [X, None, np.array(5.0, np.float32)], {}, opset=13)[0]
    assert c.max() == 5.0


def test_numpy_scalars_behave_like_0d_arrays():
    out = run_onnx_op("Add", [np.float32(1.5), np.array([1.0, 2.0], np.float32)], {},
                      opset=14)[0]
    assert out.dtype == np.float32 and out.tolist() == [2.5, 3.5]
    assert run_onnx_op("Cast", [np.int8(-3)], {"to": 7}, opset=13)[0] == -3


def test_wrong_types_are_type_errors_naming_the_argument():
    with pytest.raises(TypeError, match="A and B must have the same dtype"):
        run_onnx_op("Add", [X, X.astype(np.float64)], {}, opset=14)
    with pytest.raises(TypeError, match="input must be a numpy.ndarray"):
        run_onnx_op("Flatten", [[1, 2, 3]], {}, opset=13)
