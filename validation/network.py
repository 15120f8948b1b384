"""Golden vectors of network layers, taken from a golden run (``networks.golden_run``).

For each chosen node the vectors hold what a layer-level test bench needs: the activation
input(s) exactly as the golden run produced them, the constants (quantized weights, int32 bias),
for integer convolutions the int32 accumulator before requantization (``reference.conv2d_int``
on the same operands; for a gated conv the ``gate_mask`` (N, C) is written too, as 0/1 bytes, and
masked channels enter the accumulator as the zero point), and the output. Files use role names (``input``, ``weight``, ``bias``,
``accumulator``, ``output``); the manifest keeps the network's tensor name in ``source`` and the
node's attributes and activity record (MACs dense/done/skipped) in the case fields.

The tree: ``<network>_<precision>[_<size>]/index.json`` plus one case folder per layer,
``<node name>/`` (dots and other non-identifier characters as ``_``), each with its own
manifest; ``index.json`` lists them in execution order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from validation import formats
from validation.manifest import GoldenTensor, WriteOptions, golden_files

_LAYOUTS = {"conv": ("NCHW", "OIHW", "O"), "qconv": ("NCHW", "OIHW", "O"),
            "matmul": (None, "KN", "N"), "qmatmul": (None, "KN", "N")}


def _quant(info) -> dict | None:
    qp = getattr(info, "quant", None)
    if qp is None:
        return None
    out: dict[str, Any] = {"scale": np.asarray(qp.scale, np.float32),
                           "zero_point": np.asarray(qp.zero_point), "bits": qp.bits,
                           "signed": qp.signed}
    if qp.axis is not None:
        out["axis"] = qp.axis
    if qp.block_size:
        out["block_size"] = qp.block_size
    return out


def _logical_dtype(array: np.ndarray, info) -> tuple[np.ndarray, str]:
    if array.dtype == np.bool_:  # gate masks: one byte per flag, 0 or 1
        return array.astype(np.uint8), "uint8"
    qp = getattr(info, "quant", None)
    if qp is not None and qp.bits == 4 and array.dtype in (np.int8, np.uint8):
        return array, "int4" if array.dtype == np.int8 else "uint4"
    return array, formats.logical_dtype(array)


def _plain_attrs(attrs: Mapping) -> dict:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, str | int | float | bool | list) or value is None:
            out[key] = value
    return out


def gate_input(x: np.ndarray, mask: np.ndarray, zero_point) -> np.ndarray:
    """A gated conv's input as the golden run feeds it: channels whose ``mask`` (N, C) is off
    hold the zero point (real 0)."""
    return np.where(np.asarray(mask, bool)[:, :, None, None], x,
                    np.asarray(zero_point, x.dtype))


def _accumulator(graph, node, arrays: dict[str, np.ndarray]) -> np.ndarray | None:
    """int32 accumulator of an integer conv (bias added, before requantize), or None when the
    node is not a plain per-channel qconv (gated or blocked-scale convolutions)."""
    if node.op != "qconv":
        return None
    tw = graph.tensors.get(node.inputs[1])
    if tw is None or tw.quant is None or tw.quant.block_size:
        return None
    from reference.conv_int import conv2d_int

    a = node.attrs
    x = arrays[node.inputs[0]]
    x_zero_point = graph.tensors[node.inputs[0]].quant.zero_point
    if len(node.inputs) > 3 and node.inputs[3]:  # gated: masked channels read as real zero
        x = gate_input(x, arrays[node.inputs[3]], x_zero_point)
    bias = arrays.get(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    return conv2d_int(x, arrays[node.inputs[1]], x_zero_point=x_zero_point, bias=bias,
                      strides=tuple(a["strides"]), pads=tuple(a["pads"]),
                      dilations=tuple(a["dilations"]), groups=a.get("group", 1))


def layer_tensors(graph, node, arrays: Mapping[str, np.ndarray]) -> list[GoldenTensor]:
    """The golden tensors of one node from the golden run's arrays (and graph constants)."""
    layouts = _LAYOUTS.get(node.op, (None, None, None))
    acts = [t for t in node.inputs if t and t not in graph.constants]
    out: list[GoldenTensor] = []
    for i, name in enumerate(node.inputs):
        if not name:
            continue
        info = graph.tensors.get(name)
        if name in graph.constants:
            role = "bias" if i == 2 and node.op in _LAYOUTS else "weight"
            label = {1: "weight", 2: "bias"}.get(i, f"const{i}") if node.op in _LAYOUTS \
                else f"const{i}"
            layout = layouts[i] if i < 3 else None
            array = np.asarray(graph.constants[name])
        else:
            role, layout = "input", layouts[0] if i == 0 else None
            if node.op in _LAYOUTS:
                label = "input" if i == 0 else ("gate_mask" if i == 3 else f"input{i}")
            else:
                label = "input" if len(acts) == 1 else f"input{acts.index(name)}"
            array = np.asarray(arrays[name])
        array, dtype = _logical_dtype(array, info)
        out.append(GoldenTensor(label, np.ascontiguousarray(array), dtype, role, layout,
                                _quant(info), source=name))
    acc = _accumulator(graph, node, {**graph.constants, **arrays})
    if acc is not None:
        out.append(GoldenTensor("accumulator", acc, "int32", "intermediate", "NCHW"))
    for i, name in enumerate(node.outputs):
        info = graph.tensors.get(name)
        array, dtype = _logical_dtype(np.asarray(arrays[name]), info)
        out.append(GoldenTensor("output" if len(node.outputs) == 1 else f"output{i}",
                                np.ascontiguousarray(array), dtype, "output", layouts[0],
                                _quant(info), source=name))
    return out


def choose_nodes(graph, layers: Sequence[str] | None, *, all_nodes: bool = False) -> list:
    if layers:
        names = [n.name for n in graph.nodes]
        missing = [name for name in layers if name not in names]
        if missing:
            compute = [n.name for n in graph.compute_nodes]
            raise ValueError(f"--layers: no node named {missing} in {graph.name!r}; its conv/"
                             f"matmul layers are {compute[:12]}{' ...' if len(compute) > 12 else ''}")
        return [n for n in graph.nodes if n.name in set(layers)]
    return list(graph.nodes) if all_nodes else list(graph.compute_nodes)


def network_golden_files(network: str, *, precision: str = "w4a8", input_size: int | None = None,
                         layers: Sequence[str] | None = None, all_nodes: bool = False,
                         seed: int = 0, options: WriteOptions | None = None
                         ) -> tuple[str, Iterator[tuple[str, bytes]]]:
    """Build, quantize and golden-run ``network``; return the folder name and an iterator of
    ``(path, bytes)`` over the golden vectors of the chosen layers (default: every conv/matmul
    node), produced layer by layer so only one layer's files are in memory at a time. Bad
    arguments raise here, before the iterator is returned."""
    import networks
    from networks.models import MODELS

    if network not in MODELS:
        raise ValueError(f"--network {network!r}: expected one of {sorted(MODELS)}")
    size_kw = ({"seq_len": input_size} if MODELS[network][2] == "sequence"
               else {"input_size": input_size}) if input_size else {}
    graph = networks.build(network, seed=seed, **size_kw)
    if precision != "float32":
        graph = networks.quantize(graph, precision=precision, seed=seed)
    nodes = choose_nodes(graph, layers, all_nodes=all_nodes)
    wanted = sorted({t for n in nodes for t in (*n.inputs, *n.outputs)
                     if t and t not in graph.constants})
    run = networks.golden_run(graph, keep=wanted, seed=seed)
    arrays = {**run.inputs, **run.tensors, **run.outputs}
    records = {r.name: r for r in run.records}
    folder = f"{network}_{precision}" + (f"_{input_size}" if input_size else "")
    return folder, _layer_files(graph, nodes, arrays, records, folder, network=network,
                                precision=precision, input_size=input_size, seed=seed,
                                options=options)


def _layer_files(graph, nodes, arrays, records, folder, *, network, precision, input_size, seed,
                 options) -> Iterator[tuple[str, bytes]]:
    index = []
    used: set[str] = set()
    for node in nodes:
        sub = formats.c_identifier(node.name)
        if sub in used:  # "a.b" and "a_b" would share a folder: keep both, distinctly
            sub = f"{sub}_{len(used)}"
        used.add(sub)
        case: dict[str, Any] = {
            "name": f"{folder}_{formats.c_identifier(node.name)}", "kind": "network_layer",
            "network": network, "precision": precision, "input_size": input_size,
            "layer": node.name, "op": node.op, "attrs": _plain_attrs(node.attrs), "seed": seed,
            "requantize_mode": graph.meta.get("requantize_mode", "onnxruntime"),
        }
        record = records.get(node.name)
        if record is not None:
            case["activity"] = {"macs_dense": record.macs_dense, "macs_done": record.macs_done,
                                "macs_skipped_gate": record.macs_skipped_gate,
                                "macs_skipped_zero": record.macs_skipped_zero}
        manifest, layer_files = golden_files(case, layer_tensors(graph, node, arrays), options)
        for name, data in layer_files.items():
            yield f"{sub}/{name}", data
        index.append({"layer": node.name, "op": node.op, "path": sub,
                      "tensors": [t["name"] for t in manifest["tensors"]]})
    summary = {"schema": "gilt-golden-network", "network": network, "precision": precision,
               "input_size": input_size, "seed": seed, "layers": index}
    yield "index.json", (json.dumps(summary, indent=2) + "\n").encode("utf-8")
