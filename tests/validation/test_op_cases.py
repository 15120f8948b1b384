"""Every reference operator has a golden case (validation/op_cases.py), its tensors come from
reference/ only, and each case writes its files; the exemptions name existing functions."""

import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import reference
from validation import cases, op_cases
from validation.manifest import WriteOptions, golden_files


def _public_functions():
    out = {}
    for m in pkgutil.iter_modules(reference.__path__):
        if m.name.startswith("_") or m.name in op_cases.EXEMPT_MODULES:
            continue
        mod = importlib.import_module(f"reference.{m.name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if not name.startswith("_") and fn.__module__ == mod.__name__:
                out[f"{m.name}.{name}"] = fn
    return out


def test_every_reference_operator_has_a_case():
    covered = {id(c.fn) for c in op_cases.CASES.values()}
    missing = [name for name, fn in _public_functions().items()
               if id(fn) not in covered and name not in op_cases.EXEMPT]
    assert missing == [], f"add a TensorCase (or an EXEMPT reason) for {missing}"


def test_exemptions_are_current():
    functions = _public_functions()
    stale = [name for name in op_cases.EXEMPT if name not in functions]
    assert stale == []
    assert all(len(why) > 10 for why in op_cases.EXEMPT.values())
    for name in ("conv_int.conv2d_int", "matmul_int.matmul_int", "quantize.quantize",
                 "requantize.requantize"):
        assert op_cases.EXEMPT[name].startswith("the ")   # the four hand-written cases


@pytest.mark.parametrize("op", sorted(op_cases.CASES))
def test_case_writes_its_tensors(op):
    case = cases.OperatorCase.parse(op, {}, 3)
    tensors = case.tensors()
    again = cases.OperatorCase.parse(op, {}, 3).tensors()
    assert [t.name for t in tensors] == [t.name for t in again]
    assert all(np.array_equal(a.array, b.array) for a, b in zip(tensors, again))
    assert any(t.role == "output" for t in tensors)
    manifest, files = golden_files(case.describe(), tensors, WriteOptions(formats=("npy", "hex")))
    assert manifest["op"] == op and list(files)


def test_outputs_are_the_reference_functions():
    from reference.activations import softmax
    case = cases.OperatorCase.parse("activations.softmax", {"shape": "3x5", "axis": "0"}, 1)
    assert case.name == "activations.softmax_3x5_axis0"
    t = {x.name: x.array for x in case.tensors()}
    assert np.array_equal(t["output"], softmax(t["x"], axis=0))
    with pytest.raises(ValueError, match="unknown parameter"):
        cases.OperatorCase.parse("activations.softmax", {"perm": "1"}, 0)


def test_list_ops_names_every_case():
    from gilt.commands.golden import list_ops
    text = list_ops()
    assert all(op in text for op in cases.OPERATORS)
