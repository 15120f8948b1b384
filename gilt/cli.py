"""The ``gilt`` command.

Each subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and is imported
only when chosen, so ``gilt --help`` stays fast and one broken subcommand cannot break the others.

Every subcommand behaves the same way at its edges:

* a bad input (option value, file, preset, network, YAML) is one line on stderr,
  ``gilt COMMAND: error: ...``, naming what is wrong, and exit status 2; no traceback;
* Ctrl-C (SIGINT) prints ``gilt COMMAND: interrupted`` and exits 130 (SIGTERM: 143), after
  removing what the run had half-written;
* inputs are all checked before any output is written, and outputs are committed all
  together (``common.files``); a file is never replaced by a folder;
* an unexpected internal error is one line too, with exit status 70; ``GILT_DEBUG=1`` shows
  its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
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

DESCRIPTION = ("gilt: the bit-exact golden model of a W4A8 inference stack (4-bit weights, "
               "8-bit activations, channel gating, 4x4 tiling, zero-block skipping) and "
               "cycle-approximate GPU, CPU and NPU models.")
EPILOG = """\
defaults shared by every command: --precision w4a8; --gating topk:0.5 with zero-block skipping
where a golden run measures them (net, report, demo); --net resnet50; --hw npu-32x32,
a100-sxm4-40gb, zen5-epyc. npu, gpu, cpu and sweep cost the dense network from its shapes.
Hardware presets are kebab-case (a100-sxm4-40gb); snake_case spellings are accepted.
Bad input: one line on stderr, exit status 2. Ctrl-C: exit status 130. See docs/cli.md.
Run `gilt COMMAND --help` for a command's options."""

EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that half-written outputs are removed on the way out."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Adds ``(default: X)`` to an option's help unless the text already gives its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default is None or action.default is argparse.SUPPRESS
                or not action.option_strings or isinstance(action.default, bool)):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``PROG: error: MESSAGE``, exit status 2)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    parser = Parser(prog="gilt", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"gilt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, (module, help_text) in SUBCOMMANDS.items():
        mod = importlib.import_module(module) if name == selected else None
        p = sub.add_parser(name, help=help_text, description=_description(mod, help_text))
        if mod is not None:
            mod.add_arguments(p)
    return parser


def _description(module, fallback: str) -> str:
    """The module docstring (markup removed) as the subcommand's --help text."""
    doc = (getattr(module, "__doc__", None) or "").strip()
    return doc.replace("``", "`").replace("::", ":") if doc else fallback


def one_line(exc: BaseException) -> str:
    """A readable one-line message for an exception (no traceback, no line breaks)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        text = f"{exc.strerror}: {where}" if where else exc.strerror
    elif isinstance(exc, KeyError) and exc.args:
        text = f"unknown key {exc.args[0]!r}"
    elif isinstance(exc, MemoryError):
        text = str(exc) if str(exc) else "not enough memory; try a smaller size"
    else:
        text = str(exc) or type(exc).__name__
    if type(exc).__module__.startswith("google.protobuf"):
        text = f"not a valid ONNX (protobuf) file: {text}"
    return " ".join(text.split())


def is_user_error(exc: BaseException) -> bool:
    """Errors that bad input causes: reported in one line with exit status 2."""
    import yaml

    return (isinstance(exc, (ValueError, TypeError, LookupError, OSError, ArithmeticError,
                             MemoryError, RecursionError, NotImplementedError, yaml.YAMLError))
            or type(exc).__module__.startswith("google.protobuf"))


def _raise_terminated(_signum, _frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    if selected not in SUBCOMMANDS:
        selected = None
    prog = f"gilt {selected}" if selected else "gilt"
    previous = _install_sigterm()
    try:
        parser = build_parser(selected)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a one-line usage error
            return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
        if args.command is None:
            parser.print_help()
            return 0
        module = importlib.import_module(SUBCOMMANDS[args.command][0])
        return int(module.run(args) or 0)
    except KeyboardInterrupt as exc:
        print(f"{prog}: {'terminated' if isinstance(exc, Terminated) else 'interrupted'}",
              file=sys.stderr)
        return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
    except BrokenPipeError:  # `gilt net resnet50 | head`: the reader left; not an error
        _silence_stdout()
        return 0
    except Exception as exc:
        if os.environ.get("GILT_DEBUG"):
            raise
        if is_user_error(exc):
            print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
            return EXIT_USAGE
        print(f"{prog}: internal error: {type(exc).__name__}: {one_line(exc)} (a bug in gilt; "
              "GILT_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        _restore_sigterm(previous)


def _install_sigterm():
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (an embedding application): leave it alone
        return None


def _restore_sigterm(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
