"""``gilt sweep``: hardware parameters x networks x quantization choices, one table and a plot.

A sweep is a grid. The YAML (or dict) that describes it::

    networks: [resnet50, gated_net]        # built-in names or ONNX paths
    precisions: [w8a8, w4a8]
    batch: [1, 8]
    input_size: 224                        # optional, one value for all networks
    targets:
      npu:
        presets: [npu_32x32]
        vary: {rows: [16, 32, 64], cols: [16, 32, 64]}   # spec fields, crossed
      gpu:
        presets: [a100_sxm4_40gb]

expands into one :class:`SweepPoint` per combination. Points run in a local process pool by
default, or on a Dask distributed cluster when a scheduler address is given (Dask is an existing
engine for exactly this; we do not write our own). Each point is independent and deterministic,
so the table does not depend on where or in which order points ran: rows are sorted by point.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from common.files import write_text_atomic
from gilt.progress import Progress

COLUMNS = ("network", "precision", "batch", "target", "hardware", "overrides", "time_s",
           "throughput_per_s", "utilization", "cycles", "macs_dense", "macs_done", "dram_bytes",
           "error")


@dataclass(frozen=True, order=True)
class SweepPoint:
    network: str
    precision: str
    batch: int
    target: str
    hardware: str
    overrides: tuple[tuple[str, object], ...] = ()
    input_size: int | None = None

    @property
    def overrides_text(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.overrides)


def _as_list(name: str, value) -> list:
    if value is None:
        raise ValueError(f"sweep key {name!r} is missing")
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ValueError(f"sweep key {name!r} must not be empty")
    return values


def expand_grid(spec: dict) -> list[SweepPoint]:
    """The grid as sorted points. Unknown keys are errors (a typo must not shrink a sweep)."""
    if not isinstance(spec, dict):
        raise TypeError(f"sweep spec must be a mapping, got {type(spec).__name__}")
    allowed = {"networks", "precisions", "batch", "input_size", "targets"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValueError(f"sweep spec: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    networks = _as_list("networks", spec.get("networks"))
    precisions = _as_list("precisions", spec.get("precisions", ["w8a8"]))
    batches = _as_list("batch", spec.get("batch", [1]))
    for b in batches:
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ValueError(f"sweep batch values must be positive ints, got {b!r}")
    targets = spec.get("targets")
    if not isinstance(targets, dict) or not targets:
        raise ValueError(f"sweep key 'targets' must map target names to presets, got {targets!r}")
    points = []
    for target, tspec in targets.items():
        if target not in ("gpu", "cpu", "npu"):
            raise ValueError(f"sweep target must be one of gpu, cpu, npu; got {target!r}")
        tspec = tspec or {}
        bad = sorted(set(tspec) - {"presets", "vary"})
        if bad:
            raise ValueError(f"sweep target {target!r}: unknown key(s) {bad}")
        presets = _as_list(f"targets.{target}.presets", tspec.get("presets"))
        vary = tspec.get("vary") or {}
        keys = sorted(vary)
        combos = list(itertools.product(*(_as_list(f"vary.{k}", vary[k]) for k in keys)))
        for net, prec, batch, preset, combo in itertools.product(
                networks, precisions, batches, presets, combos):
            points.append(SweepPoint(network=str(net), precision=str(prec), batch=int(batch),
                                     target=target, hardware=str(preset),
                                     overrides=tuple(zip(keys, combo)),
                                     input_size=spec.get("input_size")))
    return sorted(points)


def evaluate_point(point: SweepPoint) -> dict:
    """Simulate one point; failures become a row with ``error`` set, never a lost sweep."""
    from gilt import targets

    row = {"network": point.network, "precision": point.precision, "batch": point.batch,
           "target": point.target, "hardware": point.hardware,
           "overrides": point.overrides_text, "error": ""}
    try:
        workload = targets.cached_workload(point.network, point.precision, point.batch,
                                           point.input_size)
        hw = targets.load_hardware(point.target, point.hardware, dict(point.overrides))
        result = targets.simulate(point.target, workload, hw)
    except (ValueError, TypeError, KeyError) as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    row.update(time_s=result.time_s, throughput_per_s=result.throughput_per_s,
               utilization=result.utilization, cycles=result.cycles,
               macs_dense=result.macs_dense, macs_done=result.macs_done,
               dram_bytes=sum(layer.dram_bytes for layer in result.layers))
    return row


def run_sweep(points: Sequence[SweepPoint], *, evaluate: Callable[[SweepPoint], dict] = evaluate_point,
              workers: int | None = None, scheduler: str | None = None, progress: bool = True
              ) -> list[dict]:
    """Evaluate every point; return rows in point order.

    ``scheduler``: a Dask distributed address (``tcp://host:8786``) or a ``dask.distributed.Client``;
    ``workers``: local process-pool size (default: CPU count; 1 runs in this process)."""
    bar = Progress(len(points), "sweep") if progress else None
    rows: dict[int, dict] = {}
    if scheduler is not None:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed

        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        try:
            futures = {client.submit(evaluate, p, pure=False): i for i, p in enumerate(points)}
            for fut in dask_completed(futures):
                rows[futures[fut]] = fut.result()
                if bar:
                    bar.step(points[futures[fut]].network)
        finally:
            if not isinstance(scheduler, Client):
                client.close()
    else:
        workers = os.cpu_count() or 1 if workers is None else workers
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if workers == 1 or len(points) <= 1:
            for i, p in enumerate(points):
                rows[i] = evaluate(p)
                if bar:
                    bar.step(p.network)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(evaluate, p): i for i, p in enumerate(points)}
                for fut in as_completed(futures):
                    rows[futures[fut]] = fut.result()
                    if bar:
                        bar.step(points[futures[fut]].network)
    return [rows[i] for i in range(len(points))]


def write_table(rows: list[dict], path: str | os.PathLike) -> Path:
    """CSV with :data:`COLUMNS`, written atomically (temp file in the same folder, then rename)."""
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in COLUMNS})
    return write_text_atomic(path, buf.getvalue())


def plot_sweep(rows: list[dict], path: str | os.PathLike) -> Path:
    """Utilization against throughput, one marker per point, coloured by target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gilt.plots import save_figure

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ok = [r for r in rows if not r.get("error")]
    for target in sorted({r["target"] for r in ok}):
        sel = [r for r in ok if r["target"] == target]
        ax.scatter([r["throughput_per_s"] for r in sel], [100 * r["utilization"] for r in sel],
                   label=target, alpha=0.75)
    ax.set_xscale("log")
    ax.set_xlabel("throughput (inputs/s, log)")
    ax.set_ylabel("utilization (%)")
    ax.set_title(f"sweep: {len(ok)} points")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def add_arguments(parser) -> None:
    parser.add_argument("spec", help="sweep YAML file (see gilt.sweep's docstring)")
    parser.add_argument("--out", default="gilt-sweep", help="output folder (default gilt-sweep)")
    parser.add_argument("--workers", type=int, default=None, help="local processes")
    parser.add_argument("--scheduler", default=None,
                        help="Dask distributed scheduler address, e.g. tcp://10.0.0.5:8786")


def run(args) -> int:
    import yaml

    with open(args.spec, encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)
    points = expand_grid(spec)
    rows = run_sweep(points, workers=args.workers, scheduler=args.scheduler)
    table = write_table(rows, Path(args.out) / "sweep.csv")
    plot = plot_sweep(rows, Path(args.out) / "sweep.png")
    failed = sum(1 for r in rows if r.get("error"))
    print(f"{len(rows)} points ({failed} failed) -> {table}, {plot}")
    return 1 if failed else 0


__all__ = ["SweepPoint", "expand_grid", "evaluate_point", "run_sweep", "write_table",
           "plot_sweep"]
