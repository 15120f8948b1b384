"""ResNet-50 W4A8 golden run, batch 1, 224x224, every tensor kept: time and memory, next to
ONNX Runtime running the same int8 model (QOperator export of the same quantized graph).

Targets (issue 4): golden run < 5 s on a 2-core machine, all tensors kept in < 2 GB."""

from __future__ import annotations

import resource
import time
import tracemalloc

import numpy as np

TARGET_S = 5.0
TARGET_BYTES = 2 * 2**30


def _median_time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main() -> int:
    import networks
    from networks.models import sample_inputs

    t0 = time.perf_counter()
    graph = networks.build("resnet50")
    q = networks.quantize(graph, precision="w4a8")
    print(f"build + PTQ (not timed below): {time.perf_counter() - t0:.1f} s; "
          f"model {q.model_bytes() / 2**20:.1f} MiB = {q.meta['size_ratio']:.3f} of float32")
    x = sample_inputs(graph, seed=1)

    networks.golden_run(q, x, keep=())  # warm-up (imports, first BLAS calls)
    tracemalloc.start()
    t_gold, run = _median_time(lambda: networks.golden_run(q, x, keep="all"), 3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    kept = run.nbytes
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"golden run W4A8 (keep all): {t_gold:.2f} s median of 3; {len(run.tensors)} tensors "
          f"kept = {kept / 2**20:.0f} MiB; peak traced {peak / 2**20:.0f} MiB; "
          f"process max RSS {rss / 2**20:.0f} MiB")
    print(f"  MACs {sum(r.macs_dense for r in run.records):,}")

    for label, g in (("W8A8", networks.quantize(graph, precision="w8a8")), ("float32", graph)):
        t_other, _ = _median_time(lambda g=g: networks.golden_run(g, x, keep=()), 3)
        print(f"  for scale: {label} golden run {t_other:.2f} s (median of 3, outputs only)")

    status = 0
    try:
        import onnxruntime as ort

        from networks.onnx_export import export_onnx

        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        sess = ort.InferenceSession(export_onnx(q).SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
        sess.run(None, x)
        t_ort, theirs = _median_time(lambda: sess.run(None, x), 5)
        same = np.array_equal(theirs[0], run.outputs[q.outputs[0]])
        print(f"onnxruntime same int8 model: {t_ort * 1e3:.1f} ms median of 5 "
              f"(outputs bit-identical: {same}); golden/ort = {t_gold / t_ort:.1f}x")
    except ImportError:
        print("onnxruntime not installed: no peer timing")
    ok_t, ok_m = t_gold < TARGET_S, max(peak, kept) < TARGET_BYTES
    print(f"target time < {TARGET_S} s: {'met' if ok_t else 'MISSED'}; "
          f"target memory < 2 GB: {'met' if ok_m else 'MISSED'}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
