"""The NVDLA model and the Jetson GPU presets against published figures:
``python -m gilt.experiments.edge_validation`` prints the tables of ``docs/edge.md`` and stores
``benchmarks/data/edge_validation.json``.

1. **The hardware rules against NVIDIA's NVDLA performance estimator** (``nvdla/hw``
   ``perf/NVDLA_OpenSource_Performance.xlsx``): per layer of its ResNet-50 sheet at its own
   configuration (``benchmarks/data/nvdla_estimator_resnet50.csv``), and the seven ResNet-50
   frames/s of the NVDLA primer's "Example Area and Performance" table (32 to 2048 MACs).
   The model runs in the estimator's terms: ``conv_efficiency`` and ``dram_efficiency`` 1, no
   overheads (the estimator "calculates optimal performance, not including software overhead").
2. **Measured MLPerf Inference Edge figures** (``benchmarks/data/edge_published.csv``): one
   Xavier DLA, the Xavier and Orin GPUs, and GPU + 2 DLAs together. The DLA's
   ``conv_efficiency`` is fit on the "fit" row(s) only; "held-out" and "check" rows never move
   a constant.

Error = model / measured - 1 on throughput (latency rows: on 1 / latency), so a negative error
means the model is too slow.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import statistics
from pathlib import Path

from common.workload import LayerWork, Workload

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
ESTIMATOR_CSV = DATA / "nvdla_estimator_resnet50.csv"
PUBLISHED_CSV = DATA / "edge_published.csv"
RESULT_JSON = DATA / "edge_validation.json"
ESTIMATOR_FC_BATCH = 16        # the estimator sheet's "Fully-Connected Layer Batch Size"

#: The NVDLA primer's table (doc/primer.rst, "Example Area and Performance with NVDLA"): MACs,
#: convolution buffer KB, SDRAM GB/s, INT8 ResNet-50 frames/s, all at 1 GHz.
PRIMER_TABLE = ((2048, 512, 20, 269), (1024, 256, 15, 153), (512, 256, 10, 93),
                (256, 256, 5, 46), (128, 256, 2, 20), (64, 128, 1, 7.3), (32, 128, 0.5, 3.6))
#: atomic-C x atomic-K per MAC count: nv_full (64x32), the hwarch "large" example (64x16),
#: nv_small_256 (32x8), nv_small (8x8); the others halve one side (an assumption: the primer
#: gives only the MAC count)
ATOMICS = {2048: (64, 32), 1024: (64, 16), 512: (32, 16), 256: (32, 8), 128: (16, 8),
           64: (8, 8), 32: (8, 4)}


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def estimator_workload() -> tuple[Workload, list[dict]]:
    """The estimator sheet's ResNet-50 (Caffe v1: stride on the 1x1 ``branch2a``) as a
    workload, with its ``conv1`` max pool and final average pool fused as the sheet assumes;
    the FC layer at the sheet's batch of 16."""
    rows = _rows(ESTIMATOR_CSV)
    layers: list[LayerWork] = []
    for r in rows:
        c, h, w, k, kr, ks, st = (int(r[x]) for x in ("c", "h", "w", "k", "r", "s", "stride"))
        name = r["layer"].split(" ")[0]
        if r["type"] == "fc":
            layers.append(LayerWork.matmul(name, m=ESTIMATOR_FC_BATCH, n=k, k=c))
            continue
        pad = (kr - 1) // 2 if r["pad"] == "1" else 0
        ops = ("bn", "add", "relu") if r["type"] == "conv + elwise" else ("bn", "relu")
        layers.append(LayerWork.conv(name, batch=1, in_channels=c, in_h=h, in_w=w,
                                     out_channels=k, kernel=(kr, ks), stride=(st, st),
                                     pads=(pad,) * 4, fused=ops))
        if r["pool"] == "1":
            conv = layers[-1]
            side = 56 if name == "Conv1" else 1
            ratio = conv.out_h * conv.out_w // (side * side)
            layers.append(LayerWork.elementwise(f"{name}.pool", shape=(1, k, side, side),
                                                op="pool", ops_per_element=ratio,
                                                inputs=ratio))
    return Workload("resnet50-estimator", tuple(layers), meta={"batch": 1}), rows


def estimator_spec(macs: int = 2048, cbuf_kb: int = 512, dram_gb_per_s: float = 10.0,
                   clock_mhz: float = 1000.0):
    """An NVDLA configuration in the estimator's terms (module docstring, item 1)."""
    from simulator.npu.nvdla.spec import load_nvdla_spec

    base = load_nvdla_spec("jetson-agx-xavier-dla")
    ac, ak = ATOMICS[macs]
    banks = 16 if cbuf_kb >= 256 else 32
    model = dataclasses.replace(base.model, conv_efficiency=1.0, dram_efficiency=1.0,
                                layer_fixed_cycles=0, layer_overhead_us=0.0,
                                task_overhead_us=0.0)
    return dataclasses.replace(base, name=f"nvdla-{macs}mac-{cbuf_kb}kb", atomic_c=ac,
                               atomic_k=ak, cbuf_banks=banks, cbuf_bank_kib=cbuf_kb // banks,
                               clock_mhz=clock_mhz, dram_bw_gb_per_s=float(dram_gb_per_s),
                               model=model)


def _per_image_cycles(result, rows) -> list[float]:
    """Model cycles per image, one per estimator row (fused pools folded into their conv,
    the FC layer divided by its batch)."""
    by_name = {lr.name: lr for lr in result.layers}
    out = []
    for r in rows:
        lr = by_name[r["layer"].split(" ")[0]]
        out.append(lr.cycles / (ESTIMATOR_FC_BATCH if r["type"] == "fc" else 1))
    return out


def compare_estimator() -> dict:
    """Per-layer cycles against the estimator's sheet, and the primer's seven frames/s."""
    from simulator.npu.nvdla.model import simulate_network

    wl, rows = estimator_workload()
    res = simulate_network(wl, estimator_spec())
    cycles = _per_image_cycles(res, rows)
    by_name = {lr.name: lr for lr in res.layers}
    layers = [{"layer": r["layer"], "estimator": float(r["cycles"]), "model": m,
               "error": m / float(r["cycles"]) - 1,
               "estimator_bound": "MAC" if float(r["mac_cycles"]) >= float(r["dram_cycles"])
               else "DRAM", "mode": by_name[r["layer"].split(" ")[0]].details.get("mode")}
              for r, m in zip(rows, cycles)]
    primer = []
    for macs, kb, bw, fps in PRIMER_TABLE:
        r = simulate_network(wl, estimator_spec(macs, kb, bw))
        model_fps = 1e9 / sum(_per_image_cycles(r, rows))
        primer.append({"macs": macs, "cbuf_kb": kb, "dram_gb_per_s": bw, "published_fps": fps,
                       "model_fps": model_fps, "error": model_fps / fps - 1})
    total = sum(cycles)
    return {"layers": layers, "primer": primer,
            "layer_median_abs_error": statistics.median(abs(x["error"]) for x in layers),
            "primer_median_abs_error": statistics.median(abs(x["error"]) for x in primer),
            "total_cycles": total, "estimator_total_cycles": 7113691.0}


def _workload(network: str, batch: int) -> Workload:
    from gilt.experiments.edge_workloads import ssd_mobilenet_v1_workload, yolov5s_workload
    from gilt.experiments.published import bert_large_workload, resnet50_workload

    builders = {"resnet50": resnet50_workload, "ssd_mobilenet_v1": ssd_mobilenet_v1_workload,
                "bert_large": bert_large_workload,
                "yolov5s_trimmed_672": lambda b: yolov5s_workload(b, input_size=672,
                                                                  trimmed=True)}
    return builders[network](batch)


#: What the fit may move: preset -> (model constant, grid). Every other constant keeps the
#: preset's cited value.
FITS = {"jetson-agx-xavier-dla": ("conv_efficiency", (0.30, 1.00, 0.01)),
        "jetson-agx-xavier": ("kernel_fixed_us", (0.0, 30.0, 0.5))}
DLA_BATCH = 32            # MLPerf v1.1 Xavier: dla_batch_size 32 (resnet50, ssd-mobilenet)


def _spec(preset: str, constants: dict):
    """The preset's spec with the fitted constant of :data:`FITS` replaced, if given."""
    from simulator.gpu.spec import load_gpu_spec
    from simulator.npu.nvdla.spec import is_nvdla_preset, load_nvdla_spec

    spec = load_nvdla_spec(preset) if is_nvdla_preset(preset) else load_gpu_spec(preset)
    if preset in constants:
        key = FITS[preset][0]
        spec = dataclasses.replace(spec, model=dataclasses.replace(
            spec.model, **{key: constants[preset]}))
    return spec


def _gpu(preset: str, network: str, batch: int, constants: dict):
    from simulator.gpu.network import simulate_network

    return simulate_network(_workload(network, batch), _spec(preset, constants),
                            launch="graph", fusion="tensorrt")


def _dla(preset: str, network: str, batch: int, constants: dict):
    from simulator.npu.nvdla.model import simulate_network

    return simulate_network(_workload(network, batch), _spec(preset, constants))


def model_value(row: dict, constants: dict | None = None) -> float:
    """The model's figure for one published row, in the row's unit (``constants``: fitted
    values by preset, :data:`FITS`)."""
    constants = constants or {}
    batch = int(row["batch"])
    if row["engine"] == "dla":
        return batch / _dla(row["hardware"], row["network"], batch, constants).time_s
    if row["engine"] == "gpu":
        r = _gpu(row["hardware"], row["network"], batch, constants)
        return r.time_s * 1e3 / batch if row["metric"] == "latency_ms" else batch / r.time_s
    return both_engines(row["hardware"], row["network"], batch, DLA_BATCH,
                        constants=constants)["samples_per_s"]


def both_engines(gpu_preset: str, network: str, gpu_batch: int, dla_batch: int, *,
                 constants: dict | None = None, dla_preset: str = "jetson-agx-xavier-dla",
                 dlas: int = 2) -> dict:
    """GPU and ``dlas`` DLAs each on their own stream of samples, sharing DRAM
    (:func:`simulator.npu.nvdla.soc.concurrent_throughput`)."""
    from simulator.npu.nvdla.soc import EngineLoad, concurrent_throughput

    constants = constants or {}
    gspec = _spec(gpu_preset, constants)
    g = _gpu(gpu_preset, network, gpu_batch, constants)
    d = _dla(dla_preset, network, dla_batch, constants)
    engines = [EngineLoad("gpu", gpu_batch / g.time_s, g.details["dram_bytes"] / gpu_batch)]
    engines += [EngineLoad(f"dla{i}", dla_batch / d.time_s,
                           d.details["dram_bytes"] / dla_batch) for i in range(dlas)]
    capacity = gspec.hbm_bw_bytes_per_s * gspec.model.hbm_efficiency
    return concurrent_throughput(engines, capacity)


def _error(row: dict, model: float) -> float:
    measured = float(row["value"])
    if row["metric"] == "latency_ms":
        return measured / model - 1
    return model / measured - 1


def fit(rows: list[dict]) -> dict:
    """Per preset of :data:`FITS`, the grid value minimizing the median |log error| of that
    preset's rows marked ``fit`` (each constant on its own rows only)."""
    constants = {}
    for preset, (_, (lo, hi, step)) in FITS.items():
        mine = [r for r in rows if r["hardware"] == preset and r["half"] == "fit"]
        if not mine:
            continue

        def score(value, preset=preset, mine=mine):
            trial = {**constants, preset: value}
            return statistics.median(abs(math.log1p(_error(r, model_value(r, trial))))
                                     for r in mine)

        constants[preset] = _grid_search(score, lo, hi, step)
    return constants


def _grid_search(score, lo: float, hi: float, step: float) -> float:
    """The grid point of ``lo, lo + step, ..., hi`` minimizing ``score``: a 10x coarser pass,
    then the fine grid around its best point (the scores here are unimodal)."""
    n = round((hi - lo) / step)
    points = [round(lo + i * step, 10) for i in range(n + 1)]
    coarse = points[::10] + ([points[-1]] if n % 10 else [])
    best = min(coarse, key=score)
    i = points.index(best)
    near = points[max(0, i - 10):i + 11]
    return min(near, key=lambda v: (score(v), points.index(v)))


def compare_published(constants: dict | None = None) -> dict:
    """Every row of ``edge_published.csv`` against the model (constants: default, fit here
    on the fit rows)."""
    rows = _rows(PUBLISHED_CSV)
    constants = fit(rows) if constants is None else constants
    out = []
    for r in rows:
        model = model_value(r, constants)
        out.append({**{k: r[k] for k in ("id", "engine", "hardware", "network", "scenario",
                                          "batch", "metric", "half", "source")},
                    "measured": float(r["value"]), "model": model, "error": _error(r, model)})
    groups = {}
    for key, pick in (("DLA", lambda x: x["engine"] == "dla"),
                      ("Xavier GPU", lambda x: x["hardware"] == "jetson-agx-xavier"
                       and x["engine"] == "gpu"),
                      ("Orin GPU (priors)", lambda x: x["hardware"] == "jetson-agx-orin-64gb"),
                      ("GPU + 2 DLA", lambda x: x["engine"] == "both")):
        errs = [abs(x["error"]) for x in out if pick(x) and x["half"] == "held-out"]
        groups[key] = {"rows": len(errs),
                       "median_abs_error": statistics.median(errs) if errs else None}
    every = [abs(x["error"]) for x in out if x["half"] == "held-out"]
    groups["all held-out"] = {"rows": len(every), "median_abs_error": statistics.median(every)}
    return {"constants": {p: {FITS[p][0]: v} for p, v in constants.items()}, "rows": out,
            "groups": groups}


def run() -> dict:
    result = {"estimator": compare_estimator(), "published": compare_published()}
    RESULT_JSON.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def lines(result: dict) -> list[str]:
    est, pub = result["estimator"], result["published"]
    out = [f"NVDLA rules vs the estimator, ResNet-50 per layer: median |error| "
           f"{est['layer_median_abs_error']:.1%} over {len(est['layers'])} layers; total "
           f"{est['total_cycles']:,.0f} vs {est['estimator_total_cycles']:,.0f} cycles",
           f"primer table (7 configurations): median |error| {est['primer_median_abs_error']:.1%}"]
    out += [f"  {p['macs']:>5} MACs {p['cbuf_kb']:>4} KB {p['dram_gb_per_s']:>4} GB/s: "
            f"{p['published_fps']:>6} fps published, {p['model_fps']:7.1f} model "
            f"({p['error']:+.1%})" for p in est["primer"]]
    fitted = ", ".join(f"{p} {k} = {v}" for p, kv in pub["constants"].items()
                       for k, v in kv.items())
    out.append(f"MLPerf rows (fit: {fitted}):")
    out += [f"  {r['id']:<38} {r['half']:<9} {r['measured']:>9.3f} measured "
            f"{r['model']:>9.3f} model ({r['error']:+.1%})" for r in pub["rows"]]
    out += [f"  {k}: median |error| " + ("-" if v["median_abs_error"] is None else
                                          f"{v['median_abs_error']:.1%}") + f" ({v['rows']} held-out rows)"
            for k, v in pub["groups"].items()]
    return out


if __name__ == "__main__":
    print("\n".join(lines(run())))
