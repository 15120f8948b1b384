"""Reports: Markdown and HTML pages with matplotlib figures, for any network and hardware.

A report is a list of :class:`Section` (text, tables, figures) rendered twice, to
``report.md`` and ``index.html`` (self-contained apart from the PNGs in ``figures/``). The folder
is written in a staging directory and swapped in whole, so an existing report is never
half-overwritten. ``gilt report`` runs :func:`gilt.pipeline.run_pipeline` for the chosen network
and targets and writes its report; ``gilt demo`` is the same with built-in defaults.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from common.files import atomic_dir, write_text_atomic
from gilt.plots import save_figure


@dataclass
class Table:
    columns: list[str]
    rows: list[list]
    caption: str = ""


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)


def _fmt(value) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def render_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for sec in sections:
        out += [f"## {sec.title}", ""]
        for para in sec.text:
            out += [para, ""]
        for table in sec.tables:
            if table.caption:
                out += [f"*{table.caption}*", ""]
            out.append("| " + " | ".join(table.columns) + " |")
            out.append("|" + "---|" * len(table.columns))
            for row in table.rows:
                out.append("| " + " | ".join(_fmt(v) for v in row) + " |")
            out.append("")
        for name, caption in sec.figures:
            out += [f"![{caption}](figures/{name})", "", f"*{caption}*", ""]
    return "\n".join(out)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}figure{margin:1.5em 0}img{max-width:100%}
figcaption{color:#555;font-size:0.9em}h2{border-bottom:1px solid #ddd;padding-bottom:4px}
nav a{margin-right:1em}"""


def render_html(title: str, sections: list[Section]) -> str:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1><nav>"]
    parts += [f"<a href='#s{i}'>{esc(s.title)}</a>" for i, s in enumerate(sections)]
    parts.append("</nav>")
    for i, sec in enumerate(sections):
        parts.append(f"<h2 id='s{i}'>{esc(sec.title)}</h2>")
        for para in sec.text:
            if para.startswith("```"):
                parts.append(f"<pre>{esc(para.strip('`').strip())}</pre>")
            else:
                parts.append(f"<p>{esc(para)}</p>")
        for table in sec.tables:
            parts.append("<table>")
            if table.caption:
                parts.append(f"<caption>{esc(table.caption)}</caption>")
            parts.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in table.columns) + "</tr>")
            for row in table.rows:
                parts.append("<tr>" + "".join(f"<td>{esc(_fmt(v))}</td>" for v in row) + "</tr>")
            parts.append("</table>")
        for name, caption in sec.figures:
            parts.append(f"<figure><img src='figures/{esc(name)}' alt='{esc(caption)}'>"
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(out_dir: str | os.PathLike, title: str, sections: list[Section],
                 figures: dict[str, object] | None = None) -> Path:
    """Write ``report.md``, ``index.html`` and ``figures/*.png`` into ``out_dir`` atomically
    (:func:`common.files.atomic_dir`: built aside, swapped in whole; never over a file or a
    folder gilt did not write).

    ``figures`` maps file names to callables ``f(path)`` that draw and save one figure."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as staging:
        (staging / "figures").mkdir()
        for name, draw in (figures or {}).items():
            draw(staging / "figures" / name)
        write_text_atomic(staging / "report.md", render_markdown(title, sections))
        write_text_atomic(staging / "index.html", render_html(title, sections))
    return out_dir


# ---------------------------------------------------------------------- network report pieces
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_layer_utilization(run, path) -> Path:
    """Per compute layer, the PE/SIMD/Tensor-Core utilization each target reaches."""
    plt = _plt()
    names = [layer.name for layer in run.workload.compute_layers]
    fig, ax = plt.subplots(figsize=(10, 4))
    for target, result in run.results.items():
        util = {r.name: r.utilization for r in result.layers}
        ax.plot(range(len(names)), [100 * util.get(n, 0.0) for n in names], marker=".",
                label=f"{target} ({result.hardware})")
    ax.set_xlabel("compute layer (execution order)")
    ax.set_ylabel("utilization (%)")
    ax.set_title(f"{run.network} {run.precision}: per-layer utilization")
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def figure_npu_timeline(run, path) -> Path:
    """The NPU's per-fold PE utilization over the whole network, layer after layer."""
    from simulator.npu.model import timeline_points

    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 3.5))
    offset = 0
    result = run.results["npu"]
    for layer in result.layers:
        runs = layer.details.get("timeline")
        if runs:
            starts, utils = timeline_points(runs)
            ax.step([offset + s for s in starts], [100 * u for u in utils], where="post",
                    linewidth=0.7, color="tab:green")
        offset += layer.cycles
    ax.set_xlabel("cycle")
    ax.set_ylabel("PE utilization (%)")
    ax.set_title(f"{run.network}: NPU utilization timeline ({result.hardware})")
    ax.set_ylim(0, 105)
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def figure_savings(run, path) -> Path:
    """What each technique saved per layer: MACs skipped by gating and by zero blocks (golden
    run), on-chip accesses saved by 4x4 tiling (access model), GPU time saved by fusion."""
    plt = _plt()
    layers = run.workload.compute_layers
    x = range(len(layers))
    fig, axes = plt.subplots(3, 1, figsize=(10, 8))
    gate = [100 * la.macs_skipped_gate / la.macs_dense if la.macs_dense else 0 for la in layers]
    zero = [100 * la.macs_skipped_zero / la.macs_dense if la.macs_dense else 0 for la in layers]
    axes[0].bar(x, gate, label="gating", color="tab:orange")
    axes[0].bar(x, zero, bottom=gate, label="zero-block skip", color="tab:blue")
    axes[0].set_ylabel("MACs skipped (%)")
    axes[0].set_title("golden run: MACs skipped per compute layer")
    axes[0].legend()
    tiles = run.tiling
    axes[1].bar(range(len(tiles)), [100 * t.saving for t in tiles], color="tab:purple")
    axes[1].set_ylabel("accesses saved (%)")
    axes[1].set_title("4x4 tiling: on-chip buffer accesses saved per conv (access model)")
    if run.gpu_unfused is not None:
        fused = {r.name: r.time_s for r in run.results["gpu"].layers}
        unfused = [r for r in run.gpu_unfused.layers if r.name in fused]
        axes[2].bar(range(len(unfused)), [1e6 * (r.time_s - fused[r.name]) for r in unfused],
                    color="tab:red")
        axes[2].set_ylabel("GPU time saved (us)")
        axes[2].set_title("Conv+BN+ReLU fusion: GPU time saved per layer (unfused - fused)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    axes[2].set_xlabel("layer (execution order)")
    return save_figure(fig, path)


def summary_rows(runs) -> list[list]:
    rows = []
    for run in runs:
        for target, result in run.results.items():
            dense = run.dense_results[target]
            rows.append([run.network, target, result.hardware, 1e3 * result.time_s,
                         result.throughput_per_s, 100 * result.utilization,
                         result.macs_done / max(result.macs_dense, 1),
                         1e3 * dense.time_s, dense.time_s / result.time_s])
    return rows


SUMMARY_COLUMNS = ["network", "target", "hardware", "time (ms)", "inputs/s", "MAC util (%)",
                   "MACs done / dense", "dense time (ms)", "speed-up vs dense"]


def network_sections(run) -> tuple[list[Section], dict]:
    """Sections and figure painters for one :class:`gilt.pipeline.NetworkRun`."""
    net = run.network
    wl = run.workload
    skipped_gate = sum(la.macs_skipped_gate for la in wl.compute_layers)
    skipped_zero = sum(la.macs_skipped_zero for la in wl.compute_layers)
    untiled = sum(t.untiled_accesses for t in run.tiling)
    tiled = sum(t.tiled_accesses for t in run.tiling)
    text = [
        f"{net}, {run.precision}, gating {run.gating or 'off'}, zero-skip "
        f"{'on' if run.zero_skip else 'off'}; {len(wl.layers)} layers, "
        f"{len(wl.compute_layers)} compute layers.",
        f"Golden run: {wl.macs_done:,} of {wl.macs_dense:,} MACs done; gating skipped "
        f"{skipped_gate:,} ({skipped_gate / max(wl.macs_dense, 1):.1%}), zero blocks "
        f"{skipped_zero:,} ({skipped_zero / max(wl.macs_dense, 1):.1%}).",
    ]
    if run.tiling:
        text.append(f"4x4 tiling (access model, {len(run.tiling)} convs): on-chip accesses "
                    f"{untiled:,} untiled -> {tiled:,} tiled ({1 - tiled / untiled:.1%} fewer).")
    if run.gpu_unfused is not None:
        fused_t, unfused_t = run.results["gpu"].time_s, run.gpu_unfused.time_s
        text.append(f"Fusion on the GPU: {1e3 * unfused_t:.3f} ms with separate BN/ReLU "
                    f"passes, {1e3 * fused_t:.3f} ms fused ({1 - fused_t / unfused_t:.1%} "
                    f"less).")
    text.append("Timings of each step (s): " + ", ".join(
        f"{k} {v:.2f}" for k, v in run.seconds.items()))
    layer_rows = []
    by_target = {t: {r.name: r for r in res.layers} for t, res in run.results.items()}
    for la in wl.compute_layers:
        row = [la.name, la.op, f"{la.in_channels}x{la.in_h}x{la.in_w}",
               f"{la.out_channels}x{la.out_h}x{la.out_w}", la.weight_bits, la.macs_dense,
               la.skip_fraction]
        row += [by_target[t][la.name].utilization if la.name in by_target[t] else ""
                for t in run.results]
        layer_rows.append(row)
    figures = {f"util_{net}.png": lambda p: figure_layer_utilization(run, p),
               f"savings_{net}.png": lambda p: figure_savings(run, p)}
    sec_figs = [(f"util_{net}.png", f"{net}: per-layer utilization on each target"),
                (f"savings_{net}.png", f"{net}: what gating, zero-skip, tiling and fusion saved")]
    if "npu" in run.results:
        figures[f"npu_timeline_{net}.png"] = lambda p: figure_npu_timeline(run, p)
        sec_figs.append((f"npu_timeline_{net}.png", f"{net}: NPU utilization timeline"))
    if "gpu" in run.results:
        from gilt.plots import roofline_plot

        figures[f"roofline_{net}.png"] = lambda p: roofline_plot(
            run.results["gpu"], run.hardware["gpu"], p)
        sec_figs.append((f"roofline_{net}.png", f"{net}: GPU roofline"))
    sections = [
        Section(f"{net}: golden run and savings", text=text, figures=sec_figs),
        Section(f"{net}: per-layer table", tables=[Table(
            ["layer", "op", "in (CxHxW)", "out (CxHxW)", "w bits", "MACs dense", "skipped",
             *[f"util {t}" for t in run.results]], layer_rows)]),
    ]
    return sections, figures


def build_report(out_dir, runs, *, title: str = "gilt report", intro: list[str] | None = None
                 ) -> Path:
    sections = [Section("Summary", text=list(intro or []),
                        tables=[Table(SUMMARY_COLUMNS, summary_rows(runs),
                                      "time and utilization per network and target; 'dense' is "
                                      "the same quantized network without gating or zero-skip")])]
    figures: dict = {}
    for run in runs:
        secs, figs = network_sections(run)
        sections += secs
        figures.update(figs)
    return write_report(out_dir, title, sections, figures)


def format_summary(runs) -> str:
    """The summary table as aligned terminal text (:func:`common.table.render`, the printer
    every command uses)."""
    from common.table import Column, render

    formats = ["", "", "", ",.3f", ",.1f", ".1f", ".3f", ",.3f", ".2f"]
    columns = [Column(str(i), name, fmt) for i, (name, fmt) in
               enumerate(zip(SUMMARY_COLUMNS, formats))]
    rows = [{str(i): v for i, v in enumerate(row)} for row in summary_rows(runs)]
    return render(columns, rows)


# ---------------------------------------------------------------------- gilt report
def add_arguments(parser, *, networks_default: tuple[str, ...] = ("resnet50",)) -> None:
    from gilt import options

    parser.add_argument("--net", action="append", default=None, metavar="NAME_OR_ONNX",
                        help="built-in network name or ONNX path, repeatable (default: "
                             f"{' '.join(networks_default)})")
    parser.add_argument("--precision", default=options.DEFAULT_PRECISION,
                        choices=("w4a8", "w8a8"), help="deployment precision")
    options.add_gating_arguments(parser)
    parser.add_argument("--input-size", type=options.input_size, default=None,
                        help="image side / sequence length (default: each network's own)")
    for target in ("gpu", "cpu", "npu"):
        extra = ", 'host'" if target == "cpu" else ""
        parser.add_argument(f"--{target}", default=None, metavar="PRESET_OR_YAML",
                            help=f"{target.upper()} preset{extra} or spec .yaml; '-' skips the "
                                 f"target (default: {options.DEFAULT_HW[target]})")
    parser.add_argument("--seed", type=options.seed, default=0,
                        help="seed of the built-in weights and of the golden-run sample")
    parser.add_argument("--out", default="gilt-report",
                        help="report folder, replaced whole if gilt wrote it; never a file or "
                             "a folder of yours")


def hardware_choice(args) -> dict[str, str]:
    from gilt.options import DEFAULT_HW

    chosen = {}
    for target in ("gpu", "cpu", "npu"):
        value = getattr(args, target)
        if value != "-":
            chosen[target] = value or DEFAULT_HW[target]
    if not chosen:
        raise ValueError("every target was skipped: give at least one of --gpu, --cpu, --npu")
    return chosen


def check_report_arguments(args, nets: list[str]) -> dict[str, str]:
    """Everything a report needs, checked before any work: networks exist and fit in memory,
    hardware specs load, the output folder may be written. Returns the hardware choice."""
    from common.files import check_output_dir
    from gilt import options, targets

    if len(set(nets)) != len(nets):
        raise ValueError(f"--net names a network twice: {nets}")
    hardware = hardware_choice(args)
    for target, hw in hardware.items():
        targets.load_hardware(target, hw)
    for net in nets:
        options.check_network(net)
        options.check_run_memory(net, input_size=args.input_size)
    check_output_dir(args.out, what="--out")
    return hardware


def run_report(args, networks_default: list[str], title: str) -> int:
    from gilt.pipeline import run_network
    from gilt.progress import Progress

    nets = args.net or networks_default
    hardware = check_report_arguments(args, nets)
    steps_per_net = 5
    bar = Progress(len(nets) * steps_per_net + 1, title.split(":")[0])
    runs = [run_network(net, precision=args.precision, gating=args.gating,
                        zero_skip=args.zero_skip, input_size=args.input_size,
                        seed=args.seed, hardware=hardware, progress=bar.step) for net in nets]
    out = build_report(args.out, runs, title=title)
    bar.step("report written")
    print(format_summary(runs))
    print(f"\nreport: {out / 'index.html'} (and report.md, figures/)")
    return 0


def run(args) -> int:
    return run_report(args, ["resnet50"], "gilt report")
