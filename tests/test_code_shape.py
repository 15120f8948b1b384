"""Shape rules of the code that a reader relies on, read from the source:

* no function body (its docstring not counted) longer than :data:`MAX_BODY_LINES` lines unless
  a ``# long: <reason>`` comment stands in the comment lines above its ``def`` (or decorators);
* docstrings that state formulas carry doctests, and those doctests pass (:data:`DOCTESTED`)."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reference", "common", "networks", "simulator", "kernels", "validation", "gilt")
MAX_BODY_LINES = 60


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1 if body else 0


def _has_reason(fn, lines: list[str]) -> bool:
    """A ``# long: <reason>`` comment in the block of comment lines right above the def."""
    i = min([fn.lineno] + [d.lineno for d in fn.decorator_list]) - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        text = lines[i].strip()
        if text.startswith("# long:") and len(text) > len("# long:") + 10:
            return True
        i -= 1
    return False


def _long_functions() -> list[str]:
    found = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            lines = text.splitlines()
            for node in ast.walk(ast.parse(text, filename=str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                        and _body_lines(node) > MAX_BODY_LINES and not _has_reason(node, lines):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} "
                                 f"({_body_lines(node)} lines)")
    return found


def test_no_long_function_without_a_reason():
    assert _long_functions() == [], \
        f"split these, or write '# long: <why>' above the def: {_long_functions()}"


def test_the_rule_sees_a_long_function(tmp_path):
    src = "def f():\n" + "".join(f"    x{i} = {i}\n" for i in range(MAX_BODY_LINES + 1))
    fn = ast.parse(src).body[0]
    assert _body_lines(fn) == MAX_BODY_LINES + 1
    assert not _has_reason(fn, src.splitlines())
    reasoned = "# long: one table of sixty-one rows\n" + src
    assert _has_reason(ast.parse(reasoned).body[0], reasoned.splitlines())


#: modules whose docstrings state formulas with worked examples (doctests)
DOCTESTED = ("reference.dtypes", "reference.requantize", "reference._validate", "common.geometry",
             "simulator.npu.memory", "simulator.npu.mapping", "simulator.gpu.model")


@pytest.mark.parametrize("module", DOCTESTED)
def test_formula_docstrings(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{module}: no doctest in its formula docstrings"
    assert result.failed == 0
