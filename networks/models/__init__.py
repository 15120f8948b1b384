"""Built-in models: seeded random weights, published architectures, no downloads.

``build_model(name, ...)`` returns a float32 :class:`networks.graph.Graph`. With
``materialize=True`` (default) the BatchNorm running statistics are then set from a seeded
calibration batch (``calibrate_batchnorm``), so activations have the scale and ReLU sparsity of
a trained network instead of exploding or vanishing through 50 random layers."""

from __future__ import annotations

import numpy as np

from networks.graph import Graph
from networks.models.bert import bert_base
from networks.models.gated import gated_net
from networks.models.mobilenetv3 import mobilenetv3_large
from networks.models.resnet import resnet50
from networks.models.yolov5 import yolov5s, yolov5s_backbone

#: name -> (builder, default input size or sequence length, kind)
MODELS = {
    "resnet50": (resnet50, 224, "image"),
    "mobilenetv3_large": (mobilenetv3_large, 224, "image"),
    "bert_base": (bert_base, 128, "sequence"),
    "yolov5s_backbone": (yolov5s_backbone, 640, "image"),
    "yolov5s": (yolov5s, 640, "image"),
    "gated_net": (gated_net, 32, "image"),
}


def sample_inputs(graph: Graph, *, seed: int = 0, batch: int | None = None) -> dict:
    """Seeded standard-normal inputs with the graph's input shapes (batch optionally
    overridden)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.inputs:
        shape = graph.tensors[name].shape
        if batch is not None:
            shape = (batch, *shape[1:])
        out[name] = rng.standard_normal(shape, dtype=np.float32)
    return out


def calibrate_batchnorm(graph: Graph, inputs: dict) -> None:
    """Set each BatchNorm's running mean/var to the batch statistics it sees on ``inputs``
    (in execution order, so every BN sees already-normalized inputs). Mutates the graph's
    BN constants (replaced by new arrays)."""
    from networks.execute import run_float

    def hook(node, values):
        if node.op != "batchnorm":
            return
        x = values[node.inputs[0]].astype(np.float64)
        axes = (0, *range(2, x.ndim))
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        var = np.maximum(var, 1e-2 * max(float(var.mean()), 1e-6))
        graph.constants[node.inputs[3]] = mean.astype(np.float32)
        graph.constants[node.inputs[4]] = var.astype(np.float32)

    run_float(graph, inputs, before_node=hook, keep=())


def build_model(name: str, *, batch: int = 1, input_size: int | None = None,
                seq_len: int | None = None, seed: int = 0, materialize: bool = True,
                **kw) -> Graph:
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"name must be one of {sorted(MODELS)}, got {name!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    fn, default, kind = MODELS[name]
    if kind == "sequence":
        if input_size is not None:
            raise ValueError(f"input_size does not apply to {name!r}; use seq_len")
        size = default if seq_len is None else seq_len
        graph = fn(batch=batch, seq_len=_check_size("seq_len", size, 1), seed=seed,
                   materialize=materialize, **kw)
    else:
        if seq_len is not None:
            raise ValueError(f"seq_len does not apply to {name!r}; use input_size")
        size = default if input_size is None else input_size
        graph = fn(batch=batch, input_size=_check_size("input_size", size, 8), seed=seed,
                   materialize=materialize, **kw)
    graph.meta.update(model=name, input_size=size, seed=seed)
    if materialize and any(n.op == "batchnorm" for n in graph.nodes):
        # Statistics from a seeded batch of at least 2 images (a 1x1 feature map of a single
        # image has no variance); same seed, so the twin has the same weights.
        calib_batch = max(2, min(16, 16384 // (size * size)))
        twin = graph if calib_batch == batch else fn(
            batch=calib_batch, input_size=size, seed=seed, materialize=True, **kw)
        calibrate_batchnorm(twin, sample_inputs(twin, seed=seed + 1))
        for node in graph.nodes:
            if node.op == "batchnorm":
                for t in node.inputs[3:5]:
                    graph.constants[t] = twin.constants[t]
    return graph


def _check_size(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


__all__ = ["MODELS", "build_model", "calibrate_batchnorm", "sample_inputs"]
