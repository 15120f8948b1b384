"""Measure torch matmul and conv on the GPU at hand next to simulator.gpu's prediction.

    python benchmarks/gpu_measure.py [--hw PRESET_OR_YAML] [--out results.json] [--quick]
                                     [--csv benchmarks/data/gpu_kernels.csv]

Times FP16 and INT8 matmul (``torch.matmul``, ``torch._int_mm``) and FP16 convolution
(``torch.nn.functional.conv2d``, channels-last, cuDNN) over a sweep of shapes: the tile/wave
quantization examples of NVIDIA's Matrix Multiplication Background guide, square and skinny
GEMMs, ResNet-50 convolutions at batch 32 and 256. Each case is timed with CUDA events over
back-to-back launches (median of 5 rounds after warm-up), so a launch gap is included as in the
model. Prints measured vs predicted time and the error; finishes well under 5 minutes.

``--csv PATH`` appends every measured row to a CSV in the schema of
``benchmarks/data/gpu_kernels.csv`` (source ``gpu_measure``, the device, torch/CUDA/cuDNN
versions and the date as the citation), so that the day a GPU is at hand one command extends
the table ``gilt.experiments.gpu_validation`` reads.

Without torch or without a CUDA device it prints why and exits 0 (nothing to measure). The
preset is chosen from the device name (V100 -> v100-sxm2, A100 80GB -> a100-sxm4-80gb, A100 ->
a100-sxm4-40gb, H100/H200/GH200 -> h100-sxm5; others: the preset with the closest SM count)
unless ``--hw`` names one; on a part that differs from its preset (H200: 4.8 TB/s HBM3e) the
SM count and memory bandwidth are read from the device where torch exposes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from common.files import write_text_atomic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: (M, N, K) GEMM sweep: guide wave-quantization pair, guide 1792 square, square sizes,
#: skinny (small-batch linear layers), the A100 MAMF best shape
GEMMS = [(2304, 1536, 4096), (2304, 1664, 4096), (1792, 1792, 4096), (1024, 1024, 1024),
         (2048, 2048, 2048), (4096, 4096, 4096), (8192, 8192, 8192), (32, 4096, 4096),
         (128, 4096, 4096), (512, 4096, 4096), (6912, 16384, 2048)]
QUICK_GEMMS = GEMMS[:6]
#: ResNet-50 convolutions (C, H, K, kernel, stride, pad) at 56/28/14/7 resolution
CONVS = [(64, 56, 64, 3, 1, 1), (64, 56, 256, 1, 1, 0), (128, 28, 128, 3, 1, 1),
         (256, 14, 256, 3, 1, 1), (1024, 14, 256, 1, 1, 0), (512, 7, 512, 3, 1, 1),
         (3, 224, 64, 7, 2, 3)]
CONV_BATCHES = (32, 256)


def pick_preset(name: str, total_mem_gib: float, sms: int) -> tuple[str, str]:
    from simulator.gpu.spec import gpu_presets, load_gpu_spec

    upper = name.upper()
    if "V100" in upper:
        return "v100-sxm2", "by name"
    if "A100" in upper:
        return ("a100-sxm4-80gb" if total_mem_gib > 60 else "a100-sxm4-40gb"), "by name"
    if "H100" in upper or "H200" in upper or "GH200" in upper:
        return "h100-sxm5", "by name"
    if "XAVIER" in upper:
        return "jetson-agx-xavier", "by name"
    if "ORIN" in upper:
        return "jetson-agx-orin-64gb", "by name"
    discrete = [p for p in gpu_presets() if not p.startswith("jetson-")]
    best = min(discrete, key=lambda p: abs(load_gpu_spec(p).sm_count - sms))
    return best, f"closest SM count to {sms}"


def device_spec(preset: str, props, torch):
    """The preset with the device's SM count and HBM bandwidth where torch reports them."""
    import dataclasses

    from simulator.gpu.spec import load_gpu_spec

    spec = load_gpu_spec(preset)
    changes, notes = {}, []
    sms = getattr(props, "multi_processor_count", None)
    if sms and sms != spec.sm_count:
        changes["sm_count"] = int(sms)
        notes.append(f"sm_count {spec.sm_count} -> {sms}")
    # the clock stays the preset's: the datasheet-implied sustained Tensor Core clock, not the
    # device's maximum boost, which the part does not hold under full MMA load
    bus_bits = getattr(props, "memory_bus_width", None)
    mem_khz = getattr(props, "memory_clock_rate", None)
    if bus_bits and mem_khz:
        gbps = 2 * mem_khz * 1e3 * bus_bits / 8 / 1e9
        changes["hbm_bw_gb_per_s"] = gbps
        notes.append(f"hbm {spec.hbm_bw_gb_per_s:.0f} -> {gbps:.0f} GB/s")
    if changes:
        spec = dataclasses.replace(spec, **changes)
    return spec, notes


def time_cuda(fn, torch, min_ms=20.0, rounds=5) -> float:
    """Median seconds per call over ``rounds`` rounds of back-to-back launches."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    one = max(start.elapsed_time(end), 1e-3)
    reps = int(min(200, max(3, min_ms / one)))
    samples = []
    for _ in range(rounds):
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / reps)
    return statistics.median(samples)


def measure(torch, spec, quick: bool, deadline: float) -> list[dict]:
    import torch.nn.functional as F

    from common.workload import LayerWork
    from simulator.gpu.model import GemmProblem, simulate_gemm, simulate_layer

    rows = []
    dev = torch.device("cuda")
    gemms = QUICK_GEMMS if quick else GEMMS
    for m, n, k in gemms:
        for dtype in ("fp16", "int8"):
            if time.monotonic() > deadline:
                return rows
            row = {"case": f"matmul {m}x{n}x{k}", "dtype": dtype}
            try:
                if dtype == "fp16":
                    a = torch.randn(m, k, device=dev, dtype=torch.float16)
                    b = torch.randn(k, n, device=dev, dtype=torch.float16)
                    secs = time_cuda(lambda a=a, b=b: torch.matmul(a, b), torch)
                else:
                    if not hasattr(torch, "_int_mm") or m <= 16 or k % 8 or n % 8:
                        raise RuntimeError("torch._int_mm unavailable for this shape")
                    a = torch.randint(-128, 127, (m, k), device=dev, dtype=torch.int8)
                    b = torch.randint(-128, 127, (k, n), device=dev, dtype=torch.int8)
                    secs = time_cuda(lambda a=a, b=b: torch._int_mm(a, b), torch)
            except Exception as exc:   # a shape/dtype the stack lacks: report, continue
                rows.append({**row, "skipped": str(exc)[:80]})
                continue
            bits, mma = (16, "fp16") if dtype == "fp16" else (8, "int8")
            out_bits = 16 if dtype == "fp16" else 32
            if not spec.has_mma(mma):
                mma = "fp16"
            pred = simulate_gemm(GemmProblem(m=m, n=n, k=k, a_bits=bits, w_bits=bits,
                                             out_bits=out_bits, mma_dtype=mma), spec)
            model_s = pred["cycles"] / spec.clock_hz
            rows.append({**row, "measured_us": secs * 1e6, "model_us": model_s * 1e6,
                         "error": model_s / secs - 1, "measured_tflops": 2 * m * n * k / secs / 1e12,
                         "model_tile": "x".join(map(str, pred["tile"])),
                         "model_waves": pred["waves"]})
    convs = CONVS[:3] if quick else CONVS
    for batch in CONV_BATCHES[:1] if quick else CONV_BATCHES:
        for c, hw, kout, ks, stride, pad in convs:
            if time.monotonic() > deadline:
                return rows
            row = {"case": f"conv b{batch} {c}x{hw}x{hw} -> {kout} k{ks}s{stride}",
                   "dtype": "fp16"}
            try:
                x = torch.randn(batch, c, hw, hw, device=dev, dtype=torch.float16) \
                    .to(memory_format=torch.channels_last)
                w = torch.randn(kout, c, ks, ks, device=dev, dtype=torch.float16) \
                    .to(memory_format=torch.channels_last)
                secs = time_cuda(lambda x=x, w=w, s=stride, p=pad: F.conv2d(x, w, stride=s, padding=p),
                                 torch)
            except Exception as exc:
                rows.append({**row, "skipped": str(exc)[:80]})
                continue
            layer = LayerWork.conv("conv", batch=batch, in_channels=c, in_h=hw, in_w=hw,
                                   out_channels=kout, kernel=(ks, ks), stride=(stride, stride),
                                   pads=(pad,) * 4, weight_bits=16, act_bits=16, out_bits=16)
            res = simulate_layer(layer, spec, mma_dtype="fp16")
            row["conv"] = f"{batch},{c},{hw},{hw},{kout},{ks},{ks},{stride},{pad}"
            rows.append({**row, "measured_us": secs * 1e6, "model_us": res.time_s * 1e6,
                         "error": res.time_s / secs - 1,
                         "measured_tflops": 2 * layer.macs_dense / secs / 1e12,
                         "model_tile": res.details["tile"], "model_waves": res.details["waves"]})
    rows.append({"case": "conv int8", "dtype": "int8",
                 "skipped": "torch has no public INT8 cuDNN convolution; not measured"})
    return rows


CSV_FIELDS = ("id", "source", "hardware", "preset", "kind", "dtype", "batch", "m", "n", "k",
              "conv", "measured_tflops", "measured_us", "citation")


def validation_rows(rows: list[dict], device: str, preset: str, stack: str,
                    first_id: int) -> list[dict]:
    """Measured rows in the gpu_kernels.csv schema (skipped cases left out)."""
    out = []
    for r in rows:
        if "skipped" in r:
            continue
        row = {"id": f"m{first_id + len(out):04d}", "source": "gpu_measure", "hardware": device,
               "preset": preset, "dtype": r["dtype"], "measured_tflops": round(r["measured_tflops"], 3),
               "measured_us": round(r["measured_us"], 3), "conv": r.get("conv", ""),
               "citation": f"measured with benchmarks/gpu_measure.py on {device}; {stack}"}
        if r.get("conv"):
            row.update({"kind": "conv", "batch": 1, "m": 1, "n": 1, "k": 1})
        else:
            m, n, k = (int(v) for v in r["case"].split()[1].split("x"))
            row.update({"kind": "gemm", "batch": 1, "m": m, "n": n, "k": k})
        out.append(row)
    return out


def append_csv(path, rows: list[dict]) -> None:
    """Append ``rows`` to ``path`` (atomically rewritten; header kept or written)."""
    import csv
    import io

    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    buf = io.StringIO()
    buf.write(text if text.endswith("\n") or not text else text + "\n")
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    if not text:
        writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def format_rows(rows: list[dict]) -> str:
    lines = [f"{'case':<40}{'dtype':<6}{'measured us':>12}{'model us':>10}{'error':>8}"
             f"{'meas TFLOP/s':>13}  model tile/waves"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"{r['case']:<40}{r['dtype']:<6}  skipped: {r['skipped']}")
            continue
        lines.append(f"{r['case']:<40}{r['dtype']:<6}{r['measured_us']:>12.1f}"
                     f"{r['model_us']:>10.1f}{100 * r['error']:>7.1f}%"
                     f"{r['measured_tflops']:>13.1f}  {r['model_tile']} / {r['model_waves']}")
    errs = [abs(r["error"]) for r in rows if "error" in r]
    if errs:
        lines.append(f"{len(errs)} cases: mean |error| {100 * statistics.mean(errs):.1f}%, "
                     f"median {100 * statistics.median(errs):.1f}%, max {100 * max(errs):.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", help="GPU preset or spec YAML (default: from the device name)")
    parser.add_argument("--out", help="write the rows as JSON")
    parser.add_argument("--quick", action="store_true", help="fewer shapes (~30 s)")
    parser.add_argument("--csv", help="append measured rows to this validation CSV "
                                      "(e.g. benchmarks/data/gpu_kernels.csv)")
    parser.add_argument("--budget-s", type=float, default=240.0,
                        help="stop measuring after this many seconds (default 240)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu_measure: skipped: torch is not installed (pip install torch); nothing measured")
        return 0
    if not torch.cuda.is_available():
        print("gpu_measure: skipped: no CUDA device visible to torch; nothing measured")
        return 0
    from simulator.gpu.spec import load_gpu_spec

    props = torch.cuda.get_device_properties(0)
    name = torch.cuda.get_device_name(0)
    if args.hw:
        spec, notes, why = load_gpu_spec(args.hw), [], "--hw"
    else:
        preset, why = pick_preset(name, props.total_memory / 2**30, props.multi_processor_count)
        spec, notes = device_spec(preset, props, torch)
        why = f"preset {preset} ({why})"
    print(f"device: {name}, {props.multi_processor_count} SMs, "
          f"{props.total_memory / 2**30:.0f} GiB; model: {spec.name} via {why}"
          + (f"; adjusted: {', '.join(notes)}" if notes else ""))
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"cuDNN {torch.backends.cudnn.version()}")
    torch.backends.cudnn.benchmark = True
    t0 = time.monotonic()
    rows = measure(torch, spec, args.quick, t0 + args.budget_s)
    print(format_rows(rows))
    print(f"measured in {time.monotonic() - t0:.0f} s")
    if args.csv:
        stack = (f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
                 f"{torch.backends.cudnn.version()}, {time.strftime('%Y-%m-%d')}")
        existing = Path(args.csv).read_text(encoding="utf-8").count("\nm") \
            if Path(args.csv).exists() else 0
        preset = spec.name if args.hw else why.split()[1]
        append_csv(args.csv, validation_rows(rows, name, preset, stack, existing))
        print(f"appended to {args.csv}")
    if args.out:
        path = write_text_atomic(args.out, json.dumps(
            {"device": name, "spec": spec.name, "rows": rows}, indent=1))
        print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
