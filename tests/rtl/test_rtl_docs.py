"""docs/rtl.md: its `gilt rtl` command lines parse, and its worked example's cycle accounting is
what the model (and, in test_rtl_bench, the RTL) gives."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from common.workload import LayerWork
from gilt.cli import build_parser
from simulator.npu import rtl_array

DOC = Path(__file__).resolve().parents[2] / "docs" / "rtl.md"


def test_command_lines_parse():
    text = DOC.read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    commands = [" ".join(c.split()) for c in
                "\n".join(blocks).replace("\\\n", " ").splitlines() if c.startswith("gilt rtl")]
    assert len(commands) == 3
    parser = build_parser("rtl")
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])
        assert args.command == "rtl"


def test_worked_example_is_78_cycles():
    layer = LayerWork.conv("x", batch=1, in_channels=6, in_h=3, in_w=4, out_channels=6,
                           kernel=(1, 1))
    p = rtl_array.predict(layer, rtl_array.array_spec(4, 4, "ws"))
    assert (p.preload, p.steps, p.stall, p.cycles) == (16, 48, 6 + 8, 78)
    assert "**78 cycles**" in DOC.read_text()
