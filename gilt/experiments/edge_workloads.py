"""Shape-level workloads of the edge benchmarks the edge models are checked against, built from
the published architectures (like :func:`gilt.experiments.published.resnet50_workload`, and
independent of ``networks/`` so the validation does not move with the network builders).

* :func:`ssd_mobilenet_v1_workload`: MLPerf Inference's SSD-MobileNet-v1 (TF Object Detection
  API ``ssd_mobilenet_v1_coco``: MobileNet-v1 at 300x300, ReLU6, four extra feature layers,
  1x1 box and class predictors, 3 anchors on the 19x19 map and 6 on the others, 91 classes).
  Non-maximum suppression, which MLPerf runs after the network, is not in it.
* :func:`yolov5s_workload`: gilt's whole YOLOv5s detector (``networks`` model ``yolov5s``)
  deployed as TensorRT runs it, optionally trimmed before the Detect decode as NVIDIA's
  cuDLA-samples export it (``--noanchor``: the decode runs in the application).
"""

from __future__ import annotations

from common.workload import LayerWork, Workload

NUM_CLASSES_COCO_TF = 91          # 90 COCO classes + background, as the TF detection API


def _bits(precision: str) -> tuple[int, int]:
    if precision not in ("w8a8", "fp16"):
        raise ValueError(f"precision must be 'w8a8' or 'fp16', got {precision!r}")
    return (8, 8) if precision == "w8a8" else (16, 16)


def ssd_mobilenet_v1_workload(batch: int = 1, precision: str = "w8a8") -> Workload:
    """SSD-MobileNet-v1, 300x300 (module docstring); convs carry ``fused=("bn", "relu6")``,
    heads ``("bias",)``."""
    wb, ab = _bits(precision)
    layers: list[LayerWork] = []

    def conv(name, c, hw, k, ksize, stride, groups=1, ops=("bn", "relu6")):
        pad = ksize // 2
        layers.append(LayerWork.conv(name, batch=batch, in_channels=c, in_h=hw, in_w=hw,
                                     out_channels=k, kernel=(ksize, ksize),
                                     stride=(stride, stride), pads=(pad,) * 4, groups=groups,
                                     weight_bits=wb, act_bits=ab, out_bits=ab, fused=ops))
        return layers[-1].out_h

    hw = conv("conv0", 3, 300, 32, 3, 2)
    c = 32
    # (output channels, stride) of MobileNet-v1's 13 depthwise-separable blocks
    blocks = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
              (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
    maps = []
    for i, (k, stride) in enumerate(blocks, start=1):
        hw = conv(f"conv{i}_dw", c, hw, c, 3, stride, groups=c)
        hw = conv(f"conv{i}_pw", c, hw, k, 1, 1)
        c = k
        if i in (11, 13):
            maps.append((f"conv{i}", c, hw))
    for j, (mid, out) in enumerate(((256, 512), (128, 256), (128, 256), (64, 128)), start=14):
        conv(f"extra{j}_1x1", c, hw, mid, 1, 1)
        hw = conv(f"extra{j}_3x3", mid, hw, out, 3, 2)
        c = out
        maps.append((f"extra{j}", c, hw))
    for i, (name, ch, size) in enumerate(maps):
        anchors = 3 if i == 0 else 6
        conv(f"{name}.box", ch, size, 4 * anchors, 1, 1, ops=("bias",))
        conv(f"{name}.cls", ch, size, NUM_CLASSES_COCO_TF * anchors, 1, 1, ops=("bias",))
    return Workload(name="ssd_mobilenet_v1", layers=tuple(layers), precision=precision,
                    meta={"batch": batch, "source": "gilt.experiments.edge_workloads"})


def yolov5s_workload(batch: int = 1, precision: str = "w8a8", *, input_size: int = 640,
                     trimmed: bool = False) -> Workload:
    """YOLOv5s (``networks.workload_for("yolov5s")``) at ``w8a8`` or ``fp16`` (the BN-folded
    graph at 16 bits); ``trimmed`` drops the Detect decode (reshape, sigmoid, grid and anchor
    terms), keeping the three 1x1 head convolutions."""
    import dataclasses

    import networks

    wb, ab = _bits(precision)
    wl = networks.workload_for("yolov5s", batch=batch, precision="w8a8", input_size=input_size)
    layers = wl.layers
    if trimmed:
        layers = tuple(la for la in layers if not la.name.startswith("model.24.")
                       or la.name.startswith("model.24.m."))
    if precision == "fp16":
        layers = tuple(dataclasses.replace(la, weight_bits=wb, act_bits=ab, out_bits=ab)
                       for la in layers)
    kept = {la.name for la in layers}
    meta = dict(wl.meta)
    meta["layer_ops"] = {k: v for k, v in meta["layer_ops"].items() if k in kept}
    meta["layer_inputs"] = {k: [s for s in v if s in kept]
                            for k, v in meta["layer_inputs"].items() if k in kept}
    return dataclasses.replace(wl, layers=layers, precision=precision, meta=meta)
