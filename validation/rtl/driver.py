"""Golden-vector directory -> RTL job -> run -> bit-exact comparison and model prediction.

:func:`load_layer` reads one case written by ``gilt golden`` (an operator case ``conv2d`` /
``matmul`` or a network layer ``qconv`` / ``qmatmul``) and checks that the array can run it
(batch 1, groups 1, symmetric weights, 32-bit little-endian hex words); anything else is refused
with a :class:`RtlUnsupported` naming it. :func:`run_layer` runs it on an array and returns a
:class:`LayerRun`: the measured counters, the comparison of the int32 accumulators (RTL dump vs
the golden ``accumulator``, or vs ``reference`` when a network layer has none) and of the
requantized outputs (requantization is in this bench, not in the RTL: the array produces int32
sums with the bias added), the NPU model's ``rtl`` prediction and the SCALE-Sim-mode cycles.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from validation.check import Comparison, compare, failed_comparison
from validation.formats import read_hex
from validation.manifest import load_manifest, load_tensor, tensor_entry
from validation.rtl.build import ArrayParams, run_test

CONV_OPS = ("conv2d", "qconv")
MATMUL_OPS = ("matmul", "qmatmul")


class RtlUnsupported(ValueError):
    """The case is one the RTL array does not run (the message says what and why)."""


@dataclass(frozen=True)
class RtlLayer:
    """One layer as the array sees it: the im2col GEMM geometry, buffer layouts and data."""

    name: str
    directory: Path
    kind: str                       # "conv" or "matmul"
    c: int
    h: int
    w: int
    n: int                          # filters (GEMM N)
    kh: int = 1
    kw: int = 1
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    x: np.ndarray = field(default=None, repr=False)
    weight: np.ndarray = field(default=None, repr=False)
    x_zero_point: int = 0
    x_unsigned: bool = False
    w4: bool = False
    has_bias: bool = False
    gate_mask: np.ndarray | None = field(default=None, repr=False)
    expected_acc: np.ndarray = field(default=None, repr=False)
    requant: dict | None = field(default=None, repr=False)

    @property
    def out_hw(self) -> tuple[int, int]:
        (t, l, b, r), (sh, sw), (dh, dw) = self.pads, self.stride, self.dilation
        return ((self.h + t + b - dh * (self.kh - 1) - 1) // sh + 1,
                (self.w + l + r - dw * (self.kw - 1) - 1) // sw + 1)

    @property
    def m(self) -> int:
        oh, ow = self.out_hw
        return oh * ow

    def config(self) -> dict[str, int]:
        """The array's configuration ports (``cfg_*``)."""
        oh, ow = self.out_hw
        if self.kind == "conv":
            strides = {"in_cstride": self.h * self.w, "in_hstride": self.w,
                       "w_nstride": self.c * self.kh * self.kw, "w_kstride": 1,
                       "out_mstride": 1, "out_nstride": self.m}
        else:  # matmul: A is M x K (a 1x1 conv over an M x 1 image), B is K x N, Y is M x N
            strides = {"in_cstride": 1, "in_hstride": self.c, "w_nstride": 1,
                       "w_kstride": self.n, "out_mstride": self.n, "out_nstride": 1}
        return {"c": self.c, "h": self.h, "w": self.w, "n": self.n, "kh": self.kh,
                "kw": self.kw, "sh": self.stride[0], "sw": self.stride[1], "pt": self.pads[0],
                "pl": self.pads[1], "dh": self.dilation[0], "dw": self.dilation[1], "oh": oh,
                "ow": ow, **strides, "out_count": self.m * self.n,
                "x_zp": self.x_zero_point & 0xFFFFFFFF, "x_unsigned": int(self.x_unsigned),
                "w4": int(self.w4), "has_bias": int(self.has_bias),
                "gating": int(self.gate_mask is not None)}

    def workload(self):
        """The layer as a :class:`common.workload.LayerWork` with element-level zero
        bitmaps and the gate mask, what :mod:`simulator.npu.rtl_array` predicts from."""
        from common.workload import LayerWork

        act_zero = self.x == self.x_zero_point
        if self.kind == "conv":
            wz = self.weight == 0
            return LayerWork.conv(self.name, batch=1, in_channels=self.c, in_h=self.h,
                                  in_w=self.w, out_channels=self.n, kernel=(self.kh, self.kw),
                                  stride=self.stride, pads=self.pads, dilation=self.dilation,
                                  weight_bits=4 if self.w4 else 8, gate_mask=self.gate_mask,
                                  act_zero_bitmap=act_zero, weight_zero_bitmap=wz,
                                  zero_block=(1, 1, 1, 1))
        wz = (self.weight == 0).T.reshape(self.n, self.c, 1, 1)
        return LayerWork.matmul(self.name, m=self.h, n=self.n, k=self.c,
                                weight_bits=4 if self.w4 else 8, act_zero_bitmap=act_zero,
                                weight_zero_bitmap=wz, zero_block=(1, 1))


def _check(condition: bool, directory: Path, message: str) -> None:
    if not condition:
        raise RtlUnsupported(f"{directory}: {message}")


def _hex_layout(directory: Path, manifest: dict, names: list[str]) -> None:
    for name in names:
        rec = tensor_entry(manifest, name)["files"].get("hex")
        _check(rec is not None, directory, f"tensor {name!r} has no hex file; write the vectors "
               "with `gilt golden --formats ...,hex`")
        _check(rec["word_bits"] == 32 and rec["endianness"] == "little", directory,
               f"tensor {name!r} is in {rec['word_bits']}-bit {rec['endianness']}-endian hex "
               "words; the RTL buffers read 32-bit little-endian words (gilt golden "
               "--word-bits 32 --endianness little)")


def load_layer(directory: str | Path) -> RtlLayer:
    """Read a golden-vector case directory as an :class:`RtlLayer` (see module docstring)."""
    directory = Path(directory)
    manifest = load_manifest(directory)
    op = manifest.get("op")
    _check(op in CONV_OPS + MATMUL_OPS, directory, f"op {op!r} is not a conv or matmul; the "
           f"RTL array runs {list(CONV_OPS + MATMUL_OPS)}")
    names = {t["name"] for t in manifest["tensors"]}
    for need in ("input", "weight", "output"):
        _check(need in names, directory, f"no {need!r} tensor (write every role)")
    x = load_tensor(directory, "input", manifest=manifest)
    w = load_tensor(directory, "weight", manifest=manifest)
    xe, we = tensor_entry(manifest, "input"), tensor_entry(manifest, "weight")
    _check(xe["dtype"] in ("int8", "uint8"), directory,
           f"input dtype {xe['dtype']}; the array reads int8/uint8 activations")
    _check(we["dtype"] in ("int4", "int8"), directory,
           f"weight dtype {we['dtype']}; the array reads int8 or packed int4 weights")
    wq = we.get("quant") or {}
    _check(not np.any(np.asarray(wq.get("zero_point", 0))), directory,
           "weights have a nonzero zero point; the array takes symmetric weights")
    _check(not wq.get("block_size"), directory, "blocked weight scales are not supported")
    zp = np.asarray((xe.get("quant") or {}).get("zero_point", 0))
    _check(zp.size == 1, directory, "a per-channel input zero point is not supported")
    has_bias = "bias" in names
    files = ["input", "weight"] + (["bias"] if has_bias else [])
    gate = None
    if "gate_mask" in names:
        gate = load_tensor(directory, "gate_mask", manifest=manifest).astype(bool)
        files.append("gate_mask")
    _hex_layout(directory, manifest, files)
    common = dict(name=manifest["name"], directory=directory, x=x, weight=w,
                  x_zero_point=int(zp.reshape(-1)[0]), x_unsigned=xe["dtype"] == "uint8",
                  w4=we["dtype"] == "int4", has_bias=has_bias, gate_mask=gate)
    if op in CONV_OPS:
        layer = _conv_layer(directory, manifest, x, w, common)
    else:
        layer = _matmul_layer(directory, manifest, x, w, common)
    acc = (load_tensor(directory, "accumulator", manifest=manifest)
           if "accumulator" in names else _reference_acc(directory, layer))
    return _replace(layer, expected_acc=acc, requant=_requant_spec(manifest))


def _replace(layer: RtlLayer, **changes) -> RtlLayer:
    import dataclasses
    return dataclasses.replace(layer, **changes)


def _conv_layer(directory, manifest, x, w, common) -> RtlLayer:
    _check(x.ndim == 4 and x.shape[0] == 1, directory,
           f"input shape {list(x.shape)}; the array runs batch 1 NCHW")
    if manifest["op"] == "conv2d":
        p = manifest["params"]
        stride, pads, dil, groups = (p["st"],) * 2, (p["p"],) * 4, (p["d"],) * 2, p["g"]
    else:
        a = manifest.get("attrs", {})
        stride, dil = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1)))
        pads, groups = tuple(a.get("pads", (0, 0, 0, 0))), a.get("group", 1)
        _check(not a.get("auto_pad") or a.get("auto_pad") == "NOTSET", directory,
               f"auto_pad={a.get('auto_pad')!r} is not supported (explicit pads only)")
    _check(groups == 1, directory, f"groups={groups}; the array runs groups=1 convolutions "
           "(grouped and depthwise convolutions are not mapped)")
    _check(w.shape[1] == x.shape[1], directory, "weight/input channel mismatch")
    return RtlLayer(kind="conv", c=x.shape[1], h=x.shape[2], w=x.shape[3], n=w.shape[0],
                    kh=w.shape[2], kw=w.shape[3], stride=tuple(stride), pads=tuple(pads),
                    dilation=tuple(dil), **common)


def _matmul_layer(directory, manifest, x, w, common) -> RtlLayer:
    if x.ndim == 3:
        _check(x.shape[0] == 1, directory, f"input shape {list(x.shape)}; batch 1 only")
        x = x[0]
    _check(x.ndim == 2 and w.ndim == 2 and x.shape[1] == w.shape[0], directory,
           f"matmul shapes {list(x.shape)} x {list(w.shape)}; expected (M, K) x (K, N)")
    _check(common["gate_mask"] is None, directory, "gated matmuls are not supported")
    common = {**common, "x": np.ascontiguousarray(x)}
    return RtlLayer(kind="matmul", c=x.shape[1], h=x.shape[0], w=1, n=w.shape[1], **common)


def _reference_acc(directory: Path, layer: RtlLayer) -> np.ndarray:
    """int32 accumulators from ``reference/`` when the vectors hold none (network matmuls)."""
    from reference.matmul_int import matmul_int

    _check(layer.kind == "matmul", directory, "no 'accumulator' tensor in the vectors")
    acc = matmul_int(layer.x, layer.weight, a_zero_point=layer.x_zero_point, b_zero_point=0)
    if layer.has_bias:
        bias = load_tensor(directory, "bias")
        acc = (acc.astype(np.int64) + bias).astype(np.int32)
    return acc


def _requant_spec(manifest: dict) -> dict:
    out = tensor_entry(manifest, "output")
    return {"manifest": manifest, "output": out}


# ------------------------------------------------------------------------------ requantize
def requantize_outputs(layer: RtlLayer, acc: np.ndarray) -> np.ndarray:
    """The case's int8/uint8 outputs from int32 accumulators, as ``gilt golden`` made them
    (operator cases: ``validation.cases``; network layers: ``networks.execute``)."""
    from reference.requantize import requantize

    manifest, out = layer.requant["manifest"], layer.requant["output"]
    xq = tensor_entry(manifest, "input")["quant"]
    wq = tensor_entry(manifest, "weight")["quant"]
    yq = out["quant"]
    x_scale = np.float32(xq["scale"])
    w_scale = np.asarray(wq["scale"], np.float32)
    y_scale, y_zp = np.float32(yq["scale"]), int(np.asarray(yq["zero_point"]))
    if manifest.get("kind") == "operator":
        p = manifest["params"]
        from reference.dtypes import qrange
        clamp = (y_zp, qrange(p["odtype"])[1]) if p["relu"] else None
        return requantize(acc, x_scale, w_scale, y_scale, y_zp, mode=p["mode"],
                          dtype=p["odtype"], axis=1, clamp=clamp)
    from networks.execute import fused_activation_range
    from networks.graph import QuantParams

    ty = QuantParams(yq["scale"], yq["zero_point"], bits=yq.get("bits", 8),
                     signed=yq.get("signed", True))
    dtype = out["dtype"]
    mode = manifest.get("requantize_mode", "onnxruntime")
    if manifest["op"] == "qconv":
        return requantize(acc, x_scale, w_scale, y_scale, y_zp, mode=mode, dtype=dtype, axis=1,
                          clamp=fused_activation_range(ty, manifest.get("attrs", {})))
    return requantize(acc, x_scale, w_scale, y_scale, y_zp, mode=mode, dtype=dtype, axis=-1)


# ------------------------------------------------------------------------------ running
@dataclass
class LayerRun:
    """One layer on one array: measured counters, comparisons, predictions."""

    layer: RtlLayer
    params: ArrayParams
    simulator: str
    counters: dict
    sim_seconds: float
    wall_seconds: float
    acc: Comparison
    output: Comparison
    model: dict
    scalesim_cycles: int | None

    @property
    def passed(self) -> bool:
        return self.acc.passed and self.output.passed

    @property
    def model_matches(self) -> bool:
        keys = ("cycles", "busy", "stall", "steps", "gated", "skipped")
        return all(int(self.model[k]) == int(self.counters[k]) for k in keys)

    @property
    def utilization(self) -> float:
        macs = self.layer.m * self.layer.n * self.counters["kactive"]
        return macs / (self.params.rows * self.params.cols * self.counters["cycles"])


def buffer_needs(layer: RtlLayer) -> dict[str, int]:
    """32-bit words (accumulator: int32 entries) each buffer must hold for ``layer``."""
    per_word = 8 if layer.w4 else 4
    return {"if_words": math.ceil(layer.x.size / 4),
            "w_words": math.ceil(layer.weight.size / per_word),
            "acc_depth": layer.m * layer.n, "bias_depth": layer.n, "max_ch": layer.c}


def _fit_buffers(layer: RtlLayer, params: ArrayParams, simulator: str) -> ArrayParams:
    """Icarus: buffers sized to the layer (cheap rebuild). Verilator: the cached model's
    buffers, and a layer that does not fit is refused (never truncated by $readmemh)."""
    needs = buffer_needs(layer)
    if simulator == "icarus":
        return params.fitted(**needs)
    have = {"if_words": params.if_words, "w_words": params.w_words,
            "acc_depth": params.acc_depth, "bias_depth": params.bias_depth,
            "max_ch": params.max_ch}
    over = [f"{k} {needs[k]} > {have[k]}" for k in needs if needs[k] > have[k]]
    if over:
        raise RtlUnsupported(f"{layer.directory}: the layer does not fit the array's buffers "
                             f"({', '.join(over)})")
    return params


def _acc_layout(layer: RtlLayer, dump: np.ndarray) -> np.ndarray:
    oh, ow = layer.out_hw
    if layer.kind == "conv":
        return dump.reshape(1, layer.n, oh, ow)
    return dump.reshape(layer.h, layer.n)


def run_layer(layer: RtlLayer, params: ArrayParams, simulator: str, *, zero_skip: bool = True,
              workdir: str | Path | None = None, vcd: str | Path | None = None) -> LayerRun:
    """Run ``layer`` on the array ``params`` under ``simulator`` (see module docstring);
    ``vcd``: write the top level's signals there (Icarus only)."""
    if vcd is not None and simulator != "icarus":
        raise ValueError("VCD dumps are written by the Icarus build (simulator='icarus')")
    from simulator.npu import rtl_array

    if layer.gate_mask is not None and not params.gating:
        raise RtlUnsupported(f"{layer.directory}: the case is channel-gated (gate_mask) but the "
                             "array was built without GATING")
    if zero_skip and not params.zero_skip:
        raise RtlUnsupported("zero-skip requested from an array built without ZERO_SKIP")
    params = _fit_buffers(layer, params, simulator)
    with tempfile.TemporaryDirectory(prefix="gilt-rtl-", dir=workdir) as tmp:
        tmp = Path(tmp)
        plusargs = {"ifmap": layer.directory / "input.hex",
                    "weight": layer.directory / "weight.hex", "accout": tmp / "acc.hex"}
        if layer.has_bias:
            plusargs["bias"] = layer.directory / "bias.hex"
        if layer.gate_mask is not None:
            plusargs["gate"] = layer.directory / "gate_mask.hex"
        if vcd is not None:
            plusargs["vcd"] = Path(vcd).resolve()
        config = {**layer.config(), "zero_skip": int(zero_skip)}
        job = {"config": config, "results": str(tmp / "results.json"),
               "native_clock": simulator == "verilator",
               "plusargs": {k: str(v) for k, v in plusargs.items()}}
        job_path = tmp / "job.json"
        job_path.write_text(json.dumps(job))
        t0 = time.perf_counter()
        results = json.loads(run_test(params, simulator, job_path,
                                      waves=vcd is not None).read_text())
        wall = time.perf_counter() - t0
        dump_path = tmp / "acc.hex"
        if dump_path.exists():
            dump = read_hex(dump_path.read_text("ascii"), "int32", layer.m * layer.n,
                            word_bits=32, name=str(dump_path))
            got = _acc_layout(layer, dump)
            acc_cmp = compare(got, layer.expected_acc, name=f"{layer.name}/accumulator")
            expected_out = load_tensor(layer.directory, "output")
            out_cmp = compare(requantize_outputs(layer, got).reshape(expected_out.shape),
                              expected_out, name=f"{layer.name}/output")
        else:
            acc_cmp = failed_comparison(f"{layer.name}/accumulator", "the RTL wrote no dump")
            out_cmp = failed_comparison(f"{layer.name}/output", "the RTL wrote no dump")
    spec = rtl_array.array_spec(params.rows, params.cols, params.dataflow)
    work = layer.workload()
    model = rtl_array.predict(work, spec, zero_skip=zero_skip,
                              gating=layer.gate_mask is not None)
    return LayerRun(layer=layer, params=params, simulator=simulator,
                    counters=results["counters"], sim_seconds=results["sim_seconds"],
                    wall_seconds=wall, acc=acc_cmp, output=out_cmp, model=model.as_dict(),
                    scalesim_cycles=_scalesim_cycles(work, spec))


def _scalesim_cycles(work, spec) -> int | None:
    from simulator.npu.model import scalesim_layer_result

    try:
        return int(scalesim_layer_result(work, spec).cycles)
    except ValueError:
        return None

