"""Value checks where a command-line value enters gilt, and the options every command shares.

Every ``type=`` function here raises ``argparse.ArgumentTypeError`` with a message naming the
accepted range, so a bad value is one line (``gilt npu: error: argument --batch: ...``) before
any work starts. The bounds are sanity limits, far above real use and far below sizes that
would make a model allocate or loop without end.

Defaults shared by every command (one rule, stated in ``gilt --help``):

* ``--precision w4a8`` (the stack's deployment precision; ``w8a8`` and ``float32`` on request);
* ``--gating topk:0.5`` and zero-block skipping on wherever a golden run measures them
  (``net --run``, ``report``, ``demo``); the gate applies to gated layers only, so networks
  without gates are unchanged. ``npu``/``gpu``/``cpu``/``sweep`` cost the dense network from
  its shapes (no golden run) and say so;
* ``--net resnet50`` and ``--hw`` the target's default preset (:data:`DEFAULT_HW`).
"""

from __future__ import annotations

import argparse
import contextlib
import math

from gilt.targets import DEFAULT_PRESETS

#: Shared defaults (see the module docstring).
DEFAULT_PRECISION = "w4a8"
DEFAULT_GATING = "topk:0.5"
DEFAULT_NETWORK = "resnet50"
DEFAULT_HW = DEFAULT_PRESETS
PRECISIONS = ("w4a8", "w8a8", "float32")

#: Sanity limits of values entering from the command line.
MAX_BATCH = 65536
MAX_INPUT_SIZE = 4096
MAX_SEED = 2**32 - 1
MAX_WORKERS = 1024


def int_in(lo: int, hi: int | None = None, *, what: str = "an integer"):
    """An argparse type: an int in ``[lo, hi]`` (decimal or 0x/0o/0b literal)."""

    def parse(text: str) -> int:
        try:
            value = int(str(text).strip(), 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise argparse.ArgumentTypeError(f"expected {what} {bound}, got {text!r}")
        return value

    parse.__name__ = "int"
    return parse


def finite_float(lo: float = -math.inf, hi: float = math.inf, *, what: str = "a number"):
    """An argparse type: a finite float in ``[lo, hi]`` (nan and inf refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected {what} in [{lo:g}, {hi:g}], got "
                                             f"{text!r}")
        return value

    parse.__name__ = "float"
    return parse


batch = int_in(1, MAX_BATCH, what="a batch size")
input_size = int_in(1, MAX_INPUT_SIZE, what="an input size (image side or sequence length)")
seed = int_in(0, MAX_SEED, what="a seed")


def gating(text: str) -> str | None:
    """An argparse type: a gating strategy, checked (``none`` -> None)."""
    from networks.quantize import parse_gating

    if str(text).strip().lower() in ("none", "off", ""):
        return None
    try:
        parse_gating(text)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_network_arguments(parser: argparse.ArgumentParser, *, positional: bool = False,
                          precisions=PRECISIONS) -> None:
    """--net (or a positional network), --precision, --batch, --input-size."""
    net_help = ("built-in network (resnet50, mobilenetv3_large, bert_base, yolov5s_backbone, "
                "gated_net) or an .onnx file")
    if positional:
        parser.add_argument("network", nargs="?", default=DEFAULT_NETWORK,
                            help=f"{net_help} (default: {DEFAULT_NETWORK})")
    else:
        parser.add_argument("--net", default=None, metavar="NAME_OR_ONNX",
                            help=f"{net_help} (default: {DEFAULT_NETWORK})")
    parser.add_argument("--precision", default=DEFAULT_PRECISION, choices=precisions,
                        help="deployment precision: w4a8 = 4-bit weights (first and last "
                             "weighted layers 8-bit), 8-bit activations")
    parser.add_argument("--batch", type=batch, default=1, help=f"batch size, 1..{MAX_BATCH}")
    parser.add_argument("--input-size", type=input_size, default=None,
                        help="image side (or sequence length for bert_base) (default: the "
                             "network's own)")


def add_gating_arguments(parser: argparse.ArgumentParser, *, default: str = DEFAULT_GATING
                         ) -> None:
    parser.add_argument("--gating", type=gating, default=default,
                        help="channel-gating strategy of gated layers: topk:KEEP (fraction "
                             "kept, 0 < KEEP <= 1), threshold:T, or none")
    parser.add_argument("--zero-skip", action=argparse.BooleanOptionalAction, default=True,
                        help="skip all-zero 4x4 activation blocks (default: on)")


@contextlib.contextmanager
def model_errors(name: str):
    """Errors raised while a network file is read or imported, as one ValueError naming the
    file (a corrupt or unsupported ONNX file is bad input, whatever the importer raised)."""
    try:
        yield
    except MemoryError:
        raise
    except Exception as exc:
        from gilt.cli import is_user_error, one_line

        if not is_user_error(exc):
            raise
        raise ValueError(f"network {name!r}: {one_line(exc)}") from None


def check_network(name: str) -> str:
    """A network is a built-in model name or a non-empty readable model file; ValueError
    naming it otherwise (a zero-byte file is no model)."""
    import os

    import networks

    if name in networks.MODELS:
        return name
    if not os.path.exists(name):
        raise ValueError(f"network {name!r} is neither a built-in model "
                         f"({', '.join(sorted(networks.MODELS))}) nor an existing .onnx file")
    if os.path.isdir(name):
        raise ValueError(f"network {name!r} is a folder, not an .onnx file")
    if os.path.getsize(name) == 0:
        raise ValueError(f"network {name!r} is an empty file, not an ONNX model")
    with open(name, "rb"):  # readable (permission errors name the file)
        pass
    return name


def available_memory_bytes() -> int | None:
    """Memory the system can give this process now (Linux MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def golden_run_bytes(workload) -> int:
    """A lower bound of the memory a golden run of ``workload`` needs at its largest layer:
    input, output and the im2col patch matrix of that layer in float32 (calibration runs the
    float network), twice for the integer copies."""
    worst = 0
    for layer in workload.layers:
        acts = layer.batch * (layer.in_channels * layer.in_h * layer.in_w
                              + layer.out_channels * layer.out_h * layer.out_w)
        patches = (layer.batch * layer.out_h * layer.out_w * layer.kernel_h * layer.kernel_w
                   * layer.in_channels // max(layer.groups, 1)) if layer.op == "conv" else 0
        worst = max(worst, acts + patches)
    return 2 * 4 * worst


def check_run_memory(network: str, *, batch: int = 1, input_size: int | None = None,
                     what: str = "a golden run") -> None:
    """Refuse, before allocating, a golden run that cannot fit in the memory available."""
    import networks

    kwargs = {"batch": batch, "precision": "float32"}
    if input_size is not None:
        kwargs["input_size"] = input_size
    with model_errors(network):
        workload = networks.workload_for(network, **kwargs)
    # measured on ResNet-50: resident memory grows by about twice this bound with the input
    # size, over about 0.3 GiB of code and weights
    need = 2 * golden_run_bytes(workload) + 2**29
    have = available_memory_bytes()
    if have is not None and need > have:
        raise MemoryError(f"{what} of {network} (batch {batch}"
                          + (f", input size {input_size}" if input_size else "")
                          + f") needs at least {need / 2**30:.1f} GiB; {have / 2**30:.1f} GiB "
                          "is available: choose a smaller --input-size or --batch")
