"""The ``gilt`` command. Each subcommand lives in the package that owns it and exposes
``add_arguments(parser)`` and ``run(args) -> int``; it is imported only when chosen, so
``gilt --help`` stays fast and one broken subcommand cannot break the others."""

from __future__ import annotations

import argparse
import importlib
import sys

from gilt import __version__

#: name -> (module, one-line help). Modules are imported lazily.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("gilt.demo", "the main job: W4A8 ResNet-50 + gated net, golden run, GPU/CPU/NPU report"),
    "report": ("gilt.report", "report for any network and hardware choice"),
    "sweep": ("gilt.sweep", "sweep hardware x networks x quantization choices"),
    "net": ("gilt.commands.net", "summarize a built-in or ONNX network (layer table)"),
    "npu": ("gilt.commands.npu", "simulate a network on a systolic NPU (SCALE-Sim compatible)"),
    "gpu": ("gilt.commands.gpu", "simulate a network on a GPU (SMs, Tensor Cores)"),
    "cpu": ("gilt.commands.cpu", "simulate a network on a CPU (SIMD, VNNI, caches)"),
    "golden": ("gilt.commands.golden", "write golden vectors for an operator or a network"),
    "check": ("gilt.commands.check", "check outputs or registered kernels against golden vectors"),
    "llm": ("gilt.commands.llm", "LLM decoder: prefill/decode on every target, serving, sharding"),
    "rtl": ("gilt.commands.rtl", "run layers on the systolic-array RTL from golden vectors (cocotb)"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gilt", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gilt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    if selected not in SUBCOMMANDS:
        selected = None
    parser = build_parser(selected)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
