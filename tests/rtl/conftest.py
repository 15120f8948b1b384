"""Shared fixtures of the RTL tests: tool checks (a missing tool skips and is named) and
golden-vector cases written with `gilt golden`'s own writer."""

from __future__ import annotations

import pytest

from validation.manifest import WriteOptions, golden_files, write_tree_atomic
from validation.rtl.build import ToolMissingError, choose_simulator

OPTIONS = WriteOptions(formats=("npy", "hex"), word_bits=32, endianness="little")


def need(simulator: str) -> str:
    """The simulator's name, or skip the test naming what is missing."""
    try:
        return choose_simulator(simulator)
    except ToolMissingError as exc:
        pytest.skip(str(exc))


def write_case(root, case) -> object:
    """Write an OperatorCase as `gilt golden` does; return its folder."""
    _, files = golden_files(case.describe(), case.tensors(), OPTIONS)
    return write_tree_atomic(root / case.name, files)
