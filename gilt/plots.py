"""Figures of the application: the GPU roofline, the NPU fold timeline, and the one atomic
PNG writer every figure goes through (rendered in memory, then written with
:func:`common.files.write_bytes_atomic`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from common.files import write_bytes_atomic
from simulator.gpu.spec import GpuSpec, load_gpu_spec
from simulator.results import NetworkResult


def figure_png(fig, *, dpi: int = 110) -> bytes:
    """A matplotlib figure as PNG bytes (rendered in memory); closes it."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically (rendered in memory first); closes it."""
    return write_bytes_atomic(path, figure_png(fig, dpi=dpi))


def roofline_plot(result: NetworkResult, spec: GpuSpec | str, path: str | os.PathLike) -> Path:
    """Roofline PNG: each compute layer at (FLOP per DRAM byte, achieved FLOP/s) under the
    Tensor Core and HBM roofs. Written atomically (temp file + os.replace)."""
    return save_figure(roofline_figure(result, spec), path)


def roofline_figure(result: NetworkResult, spec: GpuSpec | str):
    """The matplotlib figure of :func:`roofline_plot`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = load_gpu_spec(spec)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ai = np.logspace(-1, 4, 200)
    bw = spec.hbm_bw_bytes_per_s
    for dtype in sorted(spec.tc_macs_per_clock_per_sm):
        peak = spec.peak_flops(dtype)
        ax.loglog(ai, np.minimum(peak, ai * bw) / 1e12, lw=1, label=f"roof {dtype}")
    pts = [(r.details.get("arithmetic_intensity", 0), r.details.get("achieved_tflops", 0),
            r.bound) for r in result.layers if r.macs_done > 0 and r.details.get("tiles")]
    colors = {"compute": "tab:green", "memory": "tab:red", "overhead": "tab:orange"}
    for bound, color in colors.items():
        xs = [p[0] for p in pts if p[2] == bound and p[0] > 0 and p[1] > 0]
        ys = [p[1] for p in pts if p[2] == bound and p[0] > 0 and p[1] > 0]
        if xs:
            ax.scatter(xs, ys, s=14, color=color, label=f"{bound}-bound layers", zorder=3)
    ax.set_xlabel("arithmetic intensity (FLOP / DRAM byte)")
    ax.set_ylabel("TFLOP/s")
    ax.set_title(f"{result.network} on {result.hardware}, batch {result.batch}")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, which="both", lw=0.3)
    return fig


def timeline_plot(rows: list[dict], path: str, title: str) -> Path:
    """NPU: step plot of per-fold PE utilization over compute cycles (written atomically).
    ``rows`` are :func:`simulator.npu.model.network_timeline` rows."""
    return write_bytes_atomic(path, timeline_png(rows, title))


def timeline_png(rows: list[dict], title: str) -> bytes:
    """The PNG bytes of :func:`timeline_plot`."""
    if not rows:
        raise ValueError("the timeline has no folds to plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys = [], []
    for row in rows:
        xs.append(row["start_cycle"])
        ys.append(100 * row["utilization"])
    last = rows[-1]
    xs.append(last["start_cycle"] + last["folds"] * last["cycles_per_fold"])
    ys.append(0.0)
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.step(xs, ys, where="post", linewidth=0.8)
    ax.set_xlabel("compute cycle")
    ax.set_ylabel("PE utilization %")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    return figure_png(fig, dpi=120)
