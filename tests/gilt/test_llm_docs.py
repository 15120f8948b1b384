"""docs/llm.md's commands: every ``gilt`` line of its sh blocks parses (default run) and runs
(slow run) as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from gilt.cli import build_parser, main

DOC = Path(__file__).resolve().parents[2] / "docs" / "llm.md"


def _commands() -> list[list[str]]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("gilt ")]


def test_documented_commands_parse():
    commands = _commands()
    assert len(commands) >= 5
    for argv in commands:
        args = build_parser(argv[0]).parse_args(argv)
        assert args.command == "llm" and args.llm_command


@pytest.mark.slow
@pytest.mark.parametrize("argv", _commands(), ids=lambda a: " ".join(a[:2]))
def test_documented_commands_run(argv):
    assert main(argv) == 0
