"""``gilt sweep``: hardware parameters x networks x quantization choices, one table and a plot.

A sweep is a grid. The YAML (or dict) that describes it (``examples/sweep-docstring.yaml``, run
by the tests as written)::

    networks: [resnet50, gated_net]        # built-in names or ONNX paths
    precisions: [w8a8, w4a8]
    batch: [1, 8]
    input_size: 224                        # optional, one value for all networks
    targets:
      npu:
        presets: [npu-32x32]
        vary: {array_rows: [16, 32, 64], array_cols: [16, 32, 64]}   # spec fields, crossed
      gpu:
        presets: [a100-sxm4-40gb]

expands into one :class:`SweepPoint` per combination (here 2 x 2 x 2 x (9 + 1) = 80). ``vary``
keys are fields of the target's spec (``gilt.targets.load_hardware``; ``presets`` follow the
kebab-case rule, other spellings are aliases). More examples are in ``examples/``.

``gilt sweep FILE`` checks the whole grid first (every network, preset and overridden value),
then runs the points in a local process pool by default, or on a Dask distributed cluster when
a scheduler address is given (Dask is an existing engine for exactly this; we do not write our
own). Each point is independent and deterministic, so the table does not depend on where or in
which order points ran: rows are sorted by point. The output folder holds ``sweep.csv``, a tidy
table (one row per point, one column per variable: each ``vary`` key has its own column, units
in the metric names), and ``sweep.png``; it is written whole, after every point ran.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from common.files import write_bytes_atomic, write_text_atomic
from gilt.progress import Progress

COLUMNS = ("network", "precision", "batch", "input_size", "target", "hardware", "overrides",
           "time_s", "throughput_per_s", "utilization", "cycles", "macs_dense", "macs_done",
           "dram_bytes", "energy_j", "error")
#: Most points a sweep may have (a typo in a grid must not start a week-long run).
MAX_POINTS = 100_000


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
    precisions = _as_list("precisions", spec.get("precisions", ["w4a8"]))
    batches = _as_list("batch", spec.get("batch", [1]))
    for b in batches:
        if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 65536:
            raise ValueError(f"sweep batch values must be positive ints up to 65536, got {b!r}")
    input_size = spec.get("input_size")
    if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int)
                                   or not 1 <= input_size <= 4096):
        raise ValueError(f"sweep input_size must be an int in 1..4096, got {input_size!r}")
    targets = spec.get("targets")
    if not isinstance(targets, dict) or not targets:
        raise ValueError(f"sweep key 'targets' must map target names to presets, got {targets!r}")
    points = []
    for target, tspec in targets.items():
        if target not in ("gpu", "cpu", "npu"):
            raise ValueError(f"sweep target must be one of gpu, cpu, npu; got {target!r}")
        tspec = tspec or {}
        if not isinstance(tspec, dict):
            raise ValueError(f"sweep target {target!r} must map 'presets' (and 'vary') to "
                             f"lists, got {tspec!r}")
        bad = sorted(set(tspec) - {"presets", "vary"})
        if bad:
            raise ValueError(f"sweep target {target!r}: unknown key(s) {bad}")
        presets = _as_list(f"targets.{target}.presets", tspec.get("presets"))
        vary = tspec.get("vary") or {}
        if not isinstance(vary, dict):
            raise ValueError(f"sweep targets.{target}.vary must map spec fields to lists of "
                             f"values, got {vary!r}")
        keys = sorted(str(k) for k in vary)
        combos = list(itertools.product(*(_as_list(f"vary.{k}", vary[k]) for k in keys)))
        for net, prec, batch, preset, combo in itertools.product(
                networks, precisions, batches, presets, combos):
            points.append(SweepPoint(network=str(net), precision=str(prec), batch=int(batch),
                                     target=target, hardware=str(preset),
                                     overrides=tuple(zip(keys, combo)),
                                     input_size=input_size))
            if len(points) > MAX_POINTS:
                raise ValueError(f"the sweep has more than {MAX_POINTS:,} points; split it")
    return sorted(points)


def check_grid(points: Sequence[SweepPoint]) -> None:
    """Before any point runs: every network exists, every precision is known, and every
    (target, preset, overrides) gives a valid spec. ValueError naming the first bad one."""
    from gilt import options, targets

    for network, precision, batch, size in sorted(
            {(p.network, p.precision, p.batch, p.input_size) for p in points}, key=str):
        options.check_network(network)
        if precision in options.PRECISIONS:
            with options.model_errors(network):  # the model loads (cached for the points)
                targets.cached_workload(network, precision, batch, size)
    for precision in sorted({p.precision for p in points}):
        if precision not in options.PRECISIONS:
            raise ValueError(f"sweep precision {precision!r}: expected one of "
                             f"{list(options.PRECISIONS)}")
    for target, hw, overrides in sorted({(p.target, p.hardware, p.overrides) for p in points},
                                        key=str):
        try:
            targets.load_hardware(target, hw, dict(overrides))
        except (ValueError, TypeError) as exc:
            where = f"{target} {hw}" + (f" with {dict(overrides)}" if overrides else "")
            raise ValueError(f"sweep point {where}: {exc}") from None


def evaluate_point(point: SweepPoint) -> dict:
    """Simulate one point; failures become a row with ``error`` set, never a lost sweep."""
    from gilt import targets

    row = {"network": point.network, "precision": point.precision, "batch": point.batch,
           "input_size": point.input_size, "target": point.target, "hardware": point.hardware,
           "overrides": point.overrides_text, **dict(point.overrides), "error": ""}
    try:
        workload = targets.cached_workload(point.network, point.precision, point.batch,
                                           point.input_size)
        hw = targets.load_hardware(point.target, point.hardware, dict(point.overrides))
        result = targets.simulate(point.target, workload, hw)
    except (ValueError, TypeError, KeyError) as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    energy = [layer.energy_j for layer in result.layers if layer.energy_j is not None]
    row.update(time_s=result.time_s, throughput_per_s=result.throughput_per_s,
               utilization=result.utilization, cycles=result.cycles,
               macs_dense=result.macs_dense, macs_done=result.macs_done,
               dram_bytes=sum(layer.dram_bytes for layer in result.layers),
               energy_j=sum(energy) if energy else None)
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
            pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)
            try:
                futures = {pool.submit(evaluate, p): i for i, p in enumerate(points)}
                for fut in as_completed(futures):
                    rows[futures[fut]] = fut.result()
                    if bar:
                        bar.step(points[futures[fut]].network)
            except BaseException:  # Ctrl-C or a failed worker: stop the pool now, not later
                _stop(pool)
                raise
            pool.shutdown()
    return [rows[i] for i in range(len(points))]


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the parent, which stops them (no traceback per worker);
    the SIGTERM the parent stops them with ends them at once (not the parent's handler)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


def table_columns(rows: list[dict]) -> list[str]:
    """:data:`COLUMNS` with one column per varied spec field (after ``overrides``)."""
    varied = sorted({k for r in rows for k in r if k not in COLUMNS})
    at = COLUMNS.index("overrides") + 1
    return [*COLUMNS[:at], *varied, *COLUMNS[at:]]


def table_text(rows: list[dict]) -> str:
    """The tidy CSV: one row per point, one column per variable."""
    from common.table import csv_text

    return csv_text(rows, table_columns(rows))


def write_table(rows: list[dict], path: str | os.PathLike) -> Path:
    """:func:`table_text`, written atomically (temp file in the same folder, then rename)."""
    return write_text_atomic(path, table_text(rows))


def plot_sweep(rows: list[dict], path: str | os.PathLike) -> Path:
    """Utilization against throughput, one marker per point: colour by target, shape by
    network."""
    return write_bytes_atomic(path, sweep_png(rows))


def sweep_png(rows: list[dict]) -> bytes:
    """The PNG bytes of :func:`plot_sweep`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gilt.plots import figure_png

    fig, ax = plt.subplots(figsize=(8, 5))
    ok = [r for r in rows if not r.get("error")]
    shapes = dict(zip(sorted({r["network"] for r in ok}), "osD^vP*Xph<>"))
    for target in sorted({r["target"] for r in ok}):
        for network, marker in shapes.items():
            sel = [r for r in ok if r["target"] == target and r["network"] == network]
            if sel:
                ax.scatter([r["throughput_per_s"] for r in sel],
                           [100 * r["utilization"] for r in sel], marker=marker, alpha=0.75,
                           color=f"C{'cgn'.index(target[0]) if target[0] in 'cgn' else 3}",
                           label=f"{target}: {network}")
    ax.set_xscale("log")
    ax.set_xlabel("throughput (inputs/s, log)")
    ax.set_ylabel("utilization (%)")
    ax.set_title(f"sweep: {len(ok)} points" + (f" ({len(rows) - len(ok)} failed, not shown)"
                                                 if len(ok) < len(rows) else ""))
    ax.grid(True, alpha=0.3)
    if ok:
        ax.legend(fontsize=7)
    return figure_png(fig)


def add_arguments(parser) -> None:
    from gilt import options

    parser.add_argument("spec", help="sweep YAML file (see examples/ and gilt.sweep's "
                                     "docstring)")
    parser.add_argument("--out", default="gilt-sweep",
                        help="output folder for sweep.csv and sweep.png, replaced whole if "
                             "gilt wrote it; never a file or a folder of yours")
    parser.add_argument("--workers", type=options.int_in(1, options.MAX_WORKERS,
                                                         what="a process count"),
                        default=None, help="local processes (default: one per CPU)")
    parser.add_argument("--scheduler", default=None,
                        help="Dask distributed scheduler address, e.g. tcp://10.0.0.5:8786 "
                             "(default: none, local processes)")


def load_spec_file(path: str | os.PathLike) -> dict:
    """The sweep YAML as a dict; ValueError naming the file for every way it can be wrong."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"sweep file {str(path)!r} "
                         f"{'is a folder' if path.is_dir() else 'does not exist'}")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"sweep file {str(path)!r} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"sweep file {str(path)!r} is not valid YAML{where}: "
                         f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"sweep file {str(path)!r} must hold a mapping with 'networks' and "
                         f"'targets', got {type(spec).__name__}")
    return spec


def _scheduler(address: str | None):
    if address is None:
        return None
    try:
        from dask.distributed import Client
    except ImportError:
        raise ValueError("--scheduler needs Dask: pip install 'dask[distributed]'") from None
    try:
        return Client(address, timeout="10s")
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"--scheduler {address!r}: cannot reach the Dask scheduler "
                         f"({exc})") from None


def run(args) -> int:
    from common.files import atomic_dir, check_output_dir

    points = expand_grid(load_spec_file(args.spec))
    check_grid(points)
    check_output_dir(args.out, what="--out")
    client = _scheduler(args.scheduler)
    try:
        rows = run_sweep(points, workers=args.workers, scheduler=client)
    finally:
        if client is not None:
            client.close()
    with atomic_dir(args.out) as staging:
        write_table(rows, staging / "sweep.csv")
        (staging / "sweep.png").write_bytes(sweep_png(rows))
    failed = [r for r in rows if r.get("error")]
    print(f"{len(rows)} points ({len(failed)} failed) -> {Path(args.out) / 'sweep.csv'}, "
          f"{Path(args.out) / 'sweep.png'}")
    for row in failed[:5]:
        print(f"failed: {row['network']} {row['precision']} batch {row['batch']} on "
              f"{row['target']} {row['hardware']} {row['overrides']}: {row['error']}",
              file=sys.stderr)
    return 1 if failed else 0


__all__ = ["SweepPoint", "expand_grid", "check_grid", "evaluate_point", "run_sweep",
           "write_table", "plot_sweep", "load_spec_file"]
