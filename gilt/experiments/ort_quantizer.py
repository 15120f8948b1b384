"""Models quantized by ONNX Runtime's own quantizer, imported into gilt and compared with ONNX
Runtime: ``python -m gilt.experiments.ort_quantizer [--out docs/ort-quantizer.md]``.

For every built-in network with an ONNX export (the float graph with BatchNorm folded, as ORT's
quantization pre-processing does) and every configuration of ``quantize_static`` -- QOperator
and QDQ formats, QUInt8 and QInt8 activations (QInt8 weights), per-channel on and off,
reduce_range on and off -- the quantized model runs in ONNX Runtime at ``ORT_DISABLE_ALL`` and
at its default optimization level, and in gilt imported for that level
(``import_onnx(..., ort_level=...)``). A cell is ``identical`` (every output equal,
``np.array_equal``), ``refused`` (gilt's import names the pattern it does not reproduce) or
``mismatch`` (a silent difference: a bug).

Host dependence: ONNX Runtime's uint8 x int8 kernels on x86-64 without VNNI saturate pair sums
to int16 (``vpmaddubsw``; at its default level ORT also rewrites int8 QDQ activations to
uint8); a probe asks this host's onnxruntime which accumulation it uses, and gilt runs every
model in that accumulation (``graph.meta["accumulation"]``: it changes only uint8 x int8
layers). reduce_range keeps weights in 7 bits, which never saturates.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

#: network -> build keywords (small inputs: the comparison is about numerics, not size)
NETWORKS = {"resnet50": {"input_size": 32}, "mobilenetv3_large": {"input_size": 32},
            "yolov5s_backbone": {"input_size": 32}, "bert_base": {"seq_len": 8}}
FORMATS = ("QOperator", "QDQ")
ACTIVATIONS = ("QUInt8", "QInt8")
LEVELS = ("disable_all", "default")


@dataclass(frozen=True)
class Config:
    fmt: str
    activation: str
    per_channel: bool
    reduce_range: bool

    @property
    def label(self) -> str:
        return (f"{self.fmt} {self.activation[1:]} {'pc' if self.per_channel else 'pt'}"
                f"{' rr' if self.reduce_range else ''}")


CONFIGS = tuple(Config(*c) for c in itertools.product(FORMATS, ACTIVATIONS, (False, True),
                                                      (False, True)))


def ort_saturates_u8s8() -> bool:
    """Whether this host's onnxruntime saturates uint8 x int8 pair sums to int16."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    a = np.array([[255, 255]], np.uint8)
    b = np.array([[127], [127]], np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "probe",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 1])],
        [onnx.numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return int(sess.run(None, {"a": a})[0][0, 0]) != 255 * 127 * 2


def _ort_session(path: str, level: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    if level == "disable_all":
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def quantize_static_model(graph, src: str, dst: str, cfg: Config) -> None:
    """ORT's ``quantize_static`` of the exported ``graph`` (file ``src``) into ``dst`` in
    configuration ``cfg``, calibrated on two seeded sample inputs."""
    import logging

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from networks.models import sample_inputs

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([sample_inputs(graph, seed=i) for i in range(2)])

        def get_next(self):
            return next(self.it, None)

    logging.disable(logging.WARNING)
    try:
        quantize_static(src, dst, Reader(), quant_format=getattr(QuantFormat, cfg.fmt),
                        activation_type=getattr(QuantType, cfg.activation),
                        weight_type=QuantType.QInt8, per_channel=cfg.per_channel,
                        reduce_range=cfg.reduce_range)
    finally:
        logging.disable(logging.NOTSET)


def compare(path: str, inputs: dict, level: str, accumulation: str) -> tuple[str, str]:
    """(outcome, detail) of one quantized model at one ORT level."""
    import networks
    from networks.onnx_import import import_onnx

    theirs = _ort_session(path, level).run(None, inputs)
    try:
        graph = import_onnx(path, ort_level=level)
    except ValueError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        return "refused", lines[1] if len(lines) > 1 else lines[0]
    graph.meta["accumulation"] = accumulation
    ours = networks.golden_run(graph, inputs, keep=()).outputs
    bad = []
    for name, ref in zip(graph.outputs, theirs):
        mine = ours[name]
        if mine.shape != ref.shape or not np.array_equal(mine, ref):
            diff = int(np.count_nonzero(mine != ref)) if mine.shape == ref.shape else -1
            bad.append(f"{name}: {diff} of {ref.size} differ")
    return ("mismatch", "; ".join(bad)) if bad else ("identical", "")


def run_network(name: str, configs=CONFIGS, *, saturates: bool | None = None) -> list[dict]:
    """Every configuration of one network at both levels: rows of the matrix."""
    import networks
    from networks.models import sample_inputs
    from networks.onnx_export import export_onnx

    if saturates is None:
        saturates = ort_saturates_u8s8()
    graph = networks.fuse(networks.build(name, **NETWORKS[name]))
    inputs = sample_inputs(graph, seed=9)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "float.onnx")
        export_onnx(graph, src)
        for cfg in configs:
            dst = os.path.join(tmp, "q.onnx")
            quantize_static_model(graph, src, dst, cfg)
            accumulation = "vpmaddubsw" if saturates else "exact"
            for level in LEVELS:
                outcome, detail = compare(dst, inputs, level, accumulation)
                rows.append({"network": name, "config": cfg, "level": level,
                             "outcome": outcome, "detail": detail})
    return rows


def matrix(rows: list[dict]) -> str:
    """Markdown: identical / compared per network and configuration, at both levels."""
    head = "| network | " + " | ".join(c.label for c in CONFIGS) + " |"
    lines = [head, "|---|" + "---|" * len(CONFIGS)]
    for level in LEVELS:
        lines.append(f"| *{level}* |" + " |" * len(CONFIGS))
        for name in sorted({r["network"] for r in rows}):
            cells = []
            for cfg in CONFIGS:
                mine = [r for r in rows if r["network"] == name and r["config"] == cfg
                        and r["level"] == level]
                cells.append(_cell(mine[0]) if mine else "")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(row: dict) -> str:
    return {"identical": "=", "refused": "R", "mismatch": "**X**"}[row["outcome"]]


def details(rows: list[dict]) -> str:
    out = []
    for r in rows:
        if r["outcome"] in ("refused", "mismatch"):
            out.append(f"- {r['network']} / {r['config'].label} / {r['level']}: "
                       f"{r['outcome']}: {r['detail']}")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gilt.experiments.ort_quantizer",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--out", help="write the Markdown page here (default: stdout)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    saturates = ort_saturates_u8s8()
    rows = []
    for name in args.networks.split(","):
        rows += run_network(name, saturates=saturates)
        print(f"{name}: done", file=sys.stderr, flush=True)
    import onnxruntime

    counts = {k: sum(r["outcome"] == k for r in rows) for k in
              ("identical", "refused", "mismatch")}
    page = (f"# Models quantized by ONNX Runtime, run by gilt\n\n"
            f"Generated by `python -m gilt.experiments.ort_quantizer` (onnxruntime "
            f"{onnxruntime.__version__}, {time.perf_counter() - start:.0f} s; this host's ORT "
            f"{'saturates' if saturates else 'does not saturate'} uint8 x int8 pair sums, "
            f"and gilt runs in the same accumulation). "
            f"Cells: `=` identical to ONNX Runtime (np.array_equal on every output), `R` "
            f"refused by gilt's import naming the pattern, **X** a silent mismatch. Columns: format, activation type (weights "
            f"int8), `pc`/`pt` per-channel / per-tensor weights, `rr` reduce_range.\n\n"
            f"{counts}\n\n{matrix(rows)}\n\n{details(rows)}\n")
    if args.out:
        from common.files import write_text_atomic

        write_text_atomic(args.out, page)
    else:
        sys.stdout.write(page)
    return 1 if counts["mismatch"] else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
