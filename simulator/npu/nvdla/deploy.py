"""From a workload to NVDLA hardware layers: what runs where, and what fuses.

NVDLA runs a network as a sequence of *hardware layers*. A convolution (or fully connected)
layer streams its output through the SDP (bias, BN, ReLU, a LUT activation, one element-wise
operand read from memory) and optionally the PDP (pooling) without a round trip to memory
("fused mode" of the NVDLA primer); anything else is a memory-to-memory pass of one engine.
:func:`plan` maps a :class:`~common.workload.Workload` onto that:

==================================  ==========================================================
workload layer (graph op)           hardware layer
==================================  ==========================================================
conv / depthwise / matmul (FC)      ``conv``: convolution pipeline + SDP (+ PDP)
relu, clip, leaky_relu, prelu, bn   fused into the producing conv's SDP when that conv has no
                                    other consumer, else a standalone ``sdp`` pass
sigmoid, tanh                       the SDP's LUT stage, fused or standalone (``sdp`` with LUT)
add, mul (two tensors)              the SDP's element-wise operand (a second tensor read from
                                    memory), fused into one producing conv or standalone
silu (``x * sigmoid(x)``)           two standalone passes: a LUT pass (``sigmoid``) and an
                                    element-wise multiply (``x`` is needed after the LUT, which
                                    comes last in the SDP pipeline)
max_pool, avg_pool                  fused into the producing conv's PDP, else a ``pdp`` pass
global_avg_pool                     a ``pdp`` pass
concat                              ``concat``: producers write into one buffer (no pass)
resize_nearest                      ``copy``: a memory-to-memory pass (read, write)
reshape, flatten, identity          no layer (a view)
anything else (softmax, layernorm,  ``gpu``: unsupported on the DLA; needs a GPU fallback
gelu, transpose, activation x       (:func:`simulator.npu.nvdla.model.simulate_network`'s
activation matmul, ...)             ``fallback_gpu``) or is refused by name
a layer fed only by GPU layers      ``gpu`` too (the tail of a network stays on the GPU rather
                                    than handing back and forth)
==================================  ==========================================================

The graph edges come from ``Workload.meta["layer_ops"]`` / ``["layer_inputs"]`` (recorded by
``networks.golden``). A hand-built workload without them is planned from ``LayerWork.fused``
(ops already folded into a conv) and layer order: a ``pool`` layer right after a conv fuses into
its PDP, any other element-wise layer is a standalone SDP pass (its ``op`` is unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.workload import LayerWork, Workload

#: graph ops the SDP applies per element as a conv's epilogue
SDP_OPS = frozenset({"relu", "relu6", "clip", "leaky_relu", "prelu", "bn", "batchnorm",
                     "bias_add", "scale"})
LUT_OPS = frozenset({"sigmoid", "tanh"})
EW_OPS = frozenset({"add", "mul", "sum", "max"})
POOL_OPS = frozenset({"max_pool", "avg_pool", "pool"})
VIEW_OPS = frozenset({"reshape", "flatten", "identity", "squeeze", "unsqueeze"})
ENGINES = ("conv", "sdp", "pdp", "concat", "copy", "gpu")


@dataclass(frozen=True)
class HwLayer:
    """One NVDLA hardware layer (or one GPU fallback layer).

    ``layer`` is the workload layer it is built on (the conv for ``conv``); ``sources`` every
    workload layer merged into it; ``sdp_ops`` what its SDP applies; ``lut``: it uses the
    SDP's LUT stage; ``ew_reads``: full tensors the SDP reads as element-wise operands;
    ``pool``: a PDP pooling fused after the conv; ``reads``: full input tensors a standalone
    pass reads."""

    name: str
    engine: str
    layer: LayerWork
    sources: tuple[str, ...]
    sdp_ops: tuple[str, ...] = ()
    lut: bool = False
    ew_reads: int = 0
    pool: LayerWork | None = None
    reads: int = 1
    note: str = ""

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")


def _consumers(inputs: dict) -> dict[str, int]:
    count: dict[str, int] = {}
    for srcs in inputs.values():
        for s in srcs:
            count[s] = count.get(s, 0) + 1
    return count


def plan(workload: Workload) -> tuple[HwLayer, ...]:
    """The hardware layers of ``workload`` in execution order (module docstring)."""
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    ops, inputs = workload.meta.get("layer_ops"), workload.meta.get("layer_inputs")
    if not ops or not inputs:
        return _plan_without_edges(workload)
    return _Planner(workload, ops, inputs).run()


def _plan_without_edges(workload: Workload) -> tuple[HwLayer, ...]:
    out: list[HwLayer] = []
    for layer in workload.layers:
        if layer.is_compute:
            ops = tuple(layer.fused)
            out.append(HwLayer(layer.name, "conv", layer, (layer.name,), sdp_ops=ops,
                               lut=bool(LUT_OPS & set(ops)),
                               ew_reads=sum(op in EW_OPS for op in ops)))
        elif layer.op == "pool" and out and out[-1].engine == "conv" and out[-1].pool is None \
                and _pool_follows(out[-1].layer, layer):
            last = out.pop()
            out.append(HwLayer(last.name, "conv", last.layer, last.sources + (layer.name,),
                               sdp_ops=last.sdp_ops, lut=last.lut, ew_reads=last.ew_reads,
                               pool=layer))
        elif layer.op == "pool":
            out.append(HwLayer(layer.name, "pdp", layer, (layer.name,)))
        else:
            reads = max(1, layer.in_channels // max(1, layer.out_channels))
            out.append(HwLayer(layer.name, "sdp", layer, (layer.name,), reads=reads,
                               note="op unknown (no graph edges): a standalone SDP pass"))
    return tuple(out)


def _pool_follows(conv: LayerWork, pool: LayerWork) -> bool:
    """A pool whose channels equal the conv's output channels and whose output is no larger."""
    return (pool.out_channels == conv.out_channels and pool.out_h <= conv.out_h
            and pool.out_w <= conv.out_w)


class _Planner:
    """Walks the workload once, fusing element-wise layers into their producing conv."""

    def __init__(self, workload: Workload, ops: dict, inputs: dict):
        self.layers = {la.name: la for la in workload.layers}
        self.order = [la.name for la in workload.layers]
        self.ops, self.inputs = ops, inputs
        self.consumers = _consumers(inputs)
        self.hw: dict[str, dict] = {}          # conv name -> mutable fusion state
        self.owner: dict[str, str] = {}        # workload layer -> conv hardware layer holding it
        self.out: list = []                    # HwLayer or conv name (finalised at the end)
        self.gpu: set[str] = set()             # workload layers placed on the GPU

    def run(self) -> tuple[HwLayer, ...]:
        for name in self.order:
            layer = self.layers[name]
            op = self.ops.get(name, layer.op)
            srcs = [s for s in self.inputs.get(name, []) if s in self.layers]
            if srcs and all(s in self.gpu for s in srcs) and op not in VIEW_OPS:
                self._to_gpu(name, layer, "downstream of a GPU layer: stays on the GPU")
            elif layer.is_compute:
                self._compute(name, layer, op)
            else:
                self._pass(name, layer, op)
        return tuple(self._finish(item) for item in self.out)

    def _to_gpu(self, name: str, layer: LayerWork, note: str) -> None:
        self.gpu.add(name)
        self.out.append(HwLayer(name, "gpu", layer, (name,), note=note))

    def _compute(self, name: str, layer: LayerWork, op: str) -> None:
        srcs = self.inputs.get(name, [])
        if op in ("matmul", "qmatmul") and len(srcs) >= 2:
            self._to_gpu(name, layer, "matmul of two activations: not on the DLA")
            return
        fused = tuple(layer.fused)
        self.hw[name] = {"layer": layer, "sources": [name], "sdp": list(fused),
                         "lut": bool(LUT_OPS & set(fused)),
                         "ew": sum(o in EW_OPS for o in fused), "pool": None, "tail": name}
        self.out.append(name)

    def _fusable_conv(self, src: str) -> str | None:
        """The conv hardware layer whose current output is ``src`` and which has no other
        consumer of that output (so its epilogue may change it)."""
        conv = self.owner.get(src, src)
        state = self.hw.get(conv)
        if state is None or state["tail"] != src or self.consumers.get(src, 0) != 1:
            return None
        return conv

    def _pass(self, name: str, layer: LayerWork, op: str) -> None:
        srcs = [s for s in self.inputs.get(name, []) if s in self.layers or s in self.owner]
        handler = {"concat": self._concat, "silu": self._silu}.get(op)
        if op in VIEW_OPS:
            return
        if handler:
            handler(name, layer, srcs)
        elif op in SDP_OPS or op in LUT_OPS or op in EW_OPS:
            self._sdp(name, layer, op, srcs)
        elif op in POOL_OPS:
            self._pool(name, layer, srcs)
        elif op == "global_avg_pool":
            self.out.append(HwLayer(name, "pdp", layer, (name,)))
        elif op == "resize_nearest":
            self.out.append(HwLayer(name, "copy", layer, (name,),
                                    note="nearest upsampling as a memory-to-memory copy"))
        else:
            self._to_gpu(name, layer, f"{op!r} is not supported on the DLA")

    def _attach(self, name: str, conv: str, **change) -> None:
        state = self.hw[conv]
        state["sources"].append(name)
        state["tail"] = name
        self.owner[name] = conv
        for key, value in change.items():
            if key == "sdp":
                state["sdp"].append(value)
            elif key in ("lut",):
                state["lut"] = state["lut"] or value
            elif key == "ew":
                state["ew"] += value
            else:
                state[key] = value

    def _sdp(self, name: str, layer: LayerWork, op: str, srcs: list[str]) -> None:
        lut = op in LUT_OPS
        binary = op in EW_OPS and len(srcs) >= 2
        for src in srcs:
            conv = self._fusable_conv(src)
            if conv is None or self.hw[conv]["pool"] is not None:
                continue
            state = self.hw[conv]
            if (lut and state["lut"]) or (binary and state["ew"]):
                continue                 # one LUT and one operand stage per SDP
            self._attach(name, conv, sdp=op, lut=lut, ew=1 if binary else 0)
            return
        reads = max(1, len(srcs))
        self.out.append(HwLayer(name, "sdp", layer, (name,), sdp_ops=(op,), lut=lut,
                                ew_reads=reads - 1, reads=reads))

    def _silu(self, name: str, layer: LayerWork, srcs: list[str]) -> None:
        self.out.append(HwLayer(f"{name}/sigmoid", "sdp", layer, (name,), sdp_ops=("sigmoid",),
                                lut=True, note="silu: LUT pass"))
        self.out.append(HwLayer(name, "sdp", layer, (name,), sdp_ops=("mul",), ew_reads=1,
                                reads=2, note="silu: x * sigmoid(x)"))

    def _pool(self, name: str, layer: LayerWork, srcs: list[str]) -> None:
        conv = self._fusable_conv(srcs[0]) if srcs else None
        if conv is not None and self.hw[conv]["pool"] is None:
            self._attach(name, conv, pool=layer)
            return
        self.out.append(HwLayer(name, "pdp", layer, (name,)))

    def _concat(self, name: str, layer: LayerWork, srcs: list[str]) -> None:
        self.out.append(HwLayer(name, "concat", layer, (name,),
                                note="producers write into the concatenated buffer"))

    def _finish(self, item) -> HwLayer:
        if isinstance(item, HwLayer):
            return item
        s = self.hw[item]
        return HwLayer(item, "conv", s["layer"], tuple(s["sources"]), sdp_ops=tuple(s["sdp"]),
                       lut=s["lut"], ew_reads=s["ew"], pool=s["pool"])
