"""What ``gilt npu``, ``gilt gpu`` and ``gilt cpu`` share: the same options with the same
defaults, the same table layout (common columns first, then the target's own), the same
totals line, the same CSV/JSON outputs, all checked before the simulation and written together
after it."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence

from common.files import PendingOutputs, check_output_file
from common.table import Column, csv_text, render  # noqa: F401 (commands use them)
from common.workload import Workload
from gilt import options
from simulator.results import NetworkResult

#: Columns every target's table starts with (units in the headers; CSV keys in SI units).
COMMON_COLUMNS = (
    Column("name", "layer"),
    Column("op", "op"),
    Column("cycles", "cycles", ",.0f"),
    Column("time_s", "time (us)", ",.2f", 1e6),
    Column("utilization", "MAC util (%)", ".1f", 100),
    Column("stall_fraction", "stall (%)", ".1f", 100),
    Column("dram_bytes", "DRAM (KiB)", ",.1f", 1 / 1024),
    Column("energy_j", "energy (uJ)", ",.2f", 1e6),
    Column("bound", "bound"),
)


def add_arguments(parser: argparse.ArgumentParser, target: str, presets: Sequence[str], *,
                  hw_extra: str = "") -> None:
    """--hw, --net, --precision, --batch, --input-size, --csv, --json, --quiet."""
    parser.add_argument("--hw", default=None, metavar="PRESET_OR_YAML",
                        help=f"{target.upper()} preset ({', '.join(presets)}){hw_extra} or a "
                             f"spec .yaml file (default: {options.DEFAULT_HW[target]})")
    options.add_network_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--csv", metavar="PATH",
                     help="write the per-layer table as CSV (every column the model computes, "
                          "SI units) (default: none)")
    out.add_argument("--json", metavar="PATH",
                     help="write totals and per-layer rows as JSON (default: none)")
    out.add_argument("--quiet", action="store_true", help="print the totals line only")


def check_outputs(args: argparse.Namespace, *names: str) -> None:
    """Refuse unwritable output paths before any work (each ``names`` is an attribute)."""
    seen = {}
    for name in ("csv", "json", *names):
        path = getattr(args, name, None)
        if path is None:
            continue
        check_output_file(path, what=f"--{name.replace('_', '-')}")
        if str(path) in seen:
            raise ValueError(f"--{name} and --{seen[str(path)]} name the same file {path!r}")
        seen[str(path)] = name


def network_workload(args: argparse.Namespace) -> Workload:
    """The dense workload of ``--net`` from its shapes (no golden run)."""
    import networks  # lazily: only the commands that need it pay for the import

    kwargs = {"batch": args.batch, "precision": args.precision}
    if args.input_size is not None:
        kwargs["input_size"] = args.input_size
    name = options.check_network(args.net or options.DEFAULT_NETWORK)
    with options.model_errors(name):
        return networks.workload_for(name, **kwargs)


def layer_rows(result: NetworkResult, workload: Workload | None = None,
               extra: Callable[[dict], dict] | None = None) -> list[dict]:
    """One dict per layer: the model's row plus ``op`` (from the workload) and
    ``stall_fraction``; ``extra(row)`` adds target-specific derived keys."""
    ops = {layer.name: layer.op for layer in workload.layers} if workload is not None else {}
    rows = []
    for layer in result.layers:
        row = layer.as_row()
        row.setdefault("op", ops.get(layer.name, ""))
        row["stall_fraction"] = layer.stall_cycles / layer.cycles if layer.cycles else 0.0
        if extra is not None:
            row.update(extra(row))
        rows.append(row)
    return rows


def totals(result: NetworkResult, args: argparse.Namespace | None = None, **extra) -> dict:
    energy = [layer.energy_j for layer in result.layers if layer.energy_j is not None]
    out = {"network": result.network, "target": result.target, "hardware": result.hardware,
           "batch": result.batch, "layers": len(result.layers), "cycles": result.cycles,
           "time_s": result.time_s, "throughput_per_s": result.throughput_per_s,
           "macs_dense": result.macs_dense, "macs_done": result.macs_done,
           "utilization": result.utilization,
           "stall_cycles": sum(layer.stall_cycles for layer in result.layers),
           "dram_bytes": sum(layer.dram_bytes for layer in result.layers),
           "energy_j": sum(energy) if energy else None}
    if args is not None:
        out["precision"] = args.precision
    out.update(extra)
    return out


def totals_line(t: dict, *details: str) -> str:
    """The one totals line every target prints."""
    energy = "" if t.get("energy_j") is None else f", energy {t['energy_j'] * 1e3:.3f} mJ"
    head = (f"total: {t['network']} on {t['hardware']} ({t['target']}, batch {t['batch']}"
            + (f", {t['precision']}" if t.get("precision") else "") + "): "
            f"{t['time_s'] * 1e3:.3f} ms, {t['throughput_per_s']:,.1f} inputs/s, "
            f"{t['cycles']:,.0f} cycles, MAC util {100 * t['utilization']:.1f}%, "
            f"DRAM {t['dram_bytes'] / 2**20:.2f} MiB{energy}")
    return "; ".join([head, *details])


def emit(args: argparse.Namespace, rows: list[dict], columns: Sequence[Column], summary: dict,
         line: str, *, extra_json: dict | None = None,
         extra_files: Sequence[tuple[str, bytes | str]] = ()) -> int:
    """Print the table (unless --quiet) and the totals line, then write --csv, --json and
    ``extra_files`` (path, content) together."""
    if not args.quiet:
        print(render(columns, rows))
    print(line)
    payload = {"totals": summary, "layers": rows, **(extra_json or {})}
    with PendingOutputs() as outputs:
        if args.csv:
            outputs.add(args.csv, csv_text(rows))
        if args.json:
            outputs.add(args.json, json_text(payload))
        for path, data in extra_files:
            outputs.add(path, data)
    return 0


def json_text(payload) -> str:
    """Strict JSON (non-finite floats become null; other objects their str)."""
    return json.dumps(_finite(payload), indent=1, default=str, allow_nan=False) + "\n"


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
