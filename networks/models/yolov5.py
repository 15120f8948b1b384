"""YOLOv5s (ultralytics v6.0 yolov5s.yaml, depth 0.33, width 0.50). Conv = Conv2d (no bias) +
BN + SiLU.

* ``yolov5s_backbone``: Conv(6x6/2), C3 stages, SPPF; 4,171,456 parameters (BN gamma and beta
  counted, as ultralytics' model summary does).
* ``yolov5s``: the whole detector, backbone + PANet neck + Detect head with its box decode;
  7,235,389 parameters at 80 classes (ultralytics v6.0 README and model summary: 7.2 M).
"""

from __future__ import annotations

import numpy as np

from networks.models._builder import Builder


def _conv(b: Builder, x: str, c: int, k: int, s: int, name: str, pad: int | None = None) -> str:
    return b.conv_bn_act(x, c, k, stride=s, pad=pad, name=f"{name}.conv", bn_name=f"{name}.bn",
                         act="silu")


def _c3(b: Builder, x: str, c_out: int, n: int, name: str, shortcut: bool = True) -> str:
    c_ = c_out // 2
    y1 = _conv(b, x, c_, 1, 1, f"{name}.cv1")
    for i in range(n):
        h = _conv(b, y1, c_, 1, 1, f"{name}.m.{i}.cv1")
        h = _conv(b, h, c_, 3, 1, f"{name}.m.{i}.cv2")
        y1 = b.node("add", [y1, h], f"{name}.m.{i}.add") if shortcut else h
    y2 = _conv(b, x, c_, 1, 1, f"{name}.cv2")
    y = b.node("concat", [y1, y2], f"{name}.concat", {"axis": 1})
    return _conv(b, y, c_out, 1, 1, f"{name}.cv3")


def _sppf(b: Builder, x: str, c_out: int, name: str, k: int = 5) -> str:
    c_ = b.shape(x)[1] // 2
    y = _conv(b, x, c_, 1, 1, f"{name}.cv1")
    pools = [y]
    for i in range(3):
        pools.append(b.node("max_pool", [pools[-1]], f"{name}.m{i}",
                            {"kernel_shape": (k, k), "strides": (1, 1),
                             "pads": (k // 2,) * 4}))
    y = b.node("concat", pools, f"{name}.concat", {"axis": 1})
    return _conv(b, y, c_out, 1, 1, f"{name}.cv2")


def yolov5s_backbone(*, batch: int = 1, input_size: int = 640, seed: int = 0,
                     materialize: bool = True):
    b = Builder("yolov5s_backbone", seed=seed, materialize=materialize)
    p3, p4, p5 = _backbone(b, b.input("images", (batch, 3, input_size, input_size)))
    return b.finish([p3, p4, p5], family="cnn")


def _backbone(b: Builder, x: str) -> tuple[str, str, str]:
    """CSP-Darknet53 with SPPF (model.0 - model.9): the stride 8, 16 and 32 features."""
    y = _conv(b, x, 32, 6, 2, "model.0", pad=2)
    y = _conv(b, y, 64, 3, 2, "model.1")
    y = _c3(b, y, 64, 1, "model.2")
    y = _conv(b, y, 128, 3, 2, "model.3")
    p3 = _c3(b, y, 128, 2, "model.4")
    y = _conv(b, p3, 256, 3, 2, "model.5")
    p4 = _c3(b, y, 256, 3, "model.6")
    y = _conv(b, p4, 512, 3, 2, "model.7")
    y = _c3(b, y, 512, 1, "model.8")
    return p3, p4, _sppf(b, y, 512, "model.9")


#: YOLOv5 v6.0 default anchors (pixels), per detection scale P3/8, P4/16, P5/32
ANCHORS = (((10, 13), (16, 30), (33, 23)), ((30, 61), (62, 45), (59, 119)),
           ((116, 90), (156, 198), (373, 326)))
STRIDES = (8, 16, 32)


def _decode_tables(ny: int, nx: int, stride: int, anchors, no: int):
    """Constants of the Detect decode ``y = t * (t * c3 + c4) + c5`` with ``t = 2 sigmoid(x)``:
    xy = (t - 0.5 + grid) * stride, wh = t**2 * anchor, objectness/classes = t / 2 (ultralytics
    v6.0 ``Detect.forward``, rewritten with one polynomial so every channel is elementwise)."""
    na = len(anchors)
    c3 = np.zeros((1, na, ny, nx, no), np.float32)
    c4 = np.full((no,), 0.5, np.float32)
    c4[:4] = (stride, stride, 0.0, 0.0)
    c5 = np.zeros((1, na, ny, nx, no), np.float32)
    for a, (aw, ah) in enumerate(anchors):
        c3[0, a, :, :, 2], c3[0, a, :, :, 3] = aw, ah
    gy, gx = np.meshgrid(np.arange(ny, dtype=np.float32), np.arange(nx, dtype=np.float32),
                         indexing="ij")
    c5[..., 0] = (gx - 0.5) * stride
    c5[..., 1] = (gy - 0.5) * stride
    return c3, c4, c5


def _detect(b: Builder, x: str, i: int, nc: int) -> str:
    """One Detect scale: 1x1 conv (with bias) to na*(nc+5) channels, reshape to
    (N, na, no, ny, nx), transpose to (N, na, ny, nx, no), sigmoid, decode, flatten to
    (N, na*ny*nx, no)."""
    anchors, stride = ANCHORS[i], STRIDES[i]
    na, no = len(anchors), nc + 5
    y = b.conv(x, na * no, 1, name=f"model.24.m.{i}", bias=True)
    n, _, ny, nx = b.shape(y)
    y = b.node("reshape", [y], f"model.24.reshape{i}", {"shape": (n, na, no, ny, nx)})
    y = b.node("transpose", [y], f"model.24.permute{i}", {"perm": (0, 1, 3, 4, 2)})
    t = b.node("sigmoid", [y], f"model.24.sigmoid{i}")
    t = b.node("mul", [t, b.const(f"model.24.two{i}", (1,), lambda s: np.full(s, 2.0))],
               f"model.24.t{i}")
    c3, c4, c5 = _decode_tables(ny, nx, stride, anchors, no)
    u = b.node("mul", [t, b.const(f"model.24.c3_{i}", c3.shape, lambda s: c3)],
               f"model.24.tc3_{i}")
    u = b.node("add", [u, b.const(f"model.24.c4_{i}", c4.shape, lambda s: c4)],
               f"model.24.tc34_{i}")
    u = b.node("mul", [t, u], f"model.24.poly{i}")
    u = b.node("add", [u, b.const(f"model.24.c5_{i}", c5.shape, lambda s: c5)],
               f"model.24.decode{i}")
    return b.node("reshape", [u], f"model.24.view{i}", {"shape": (n, na * ny * nx, no)})


def _upsample(b: Builder, x: str, name: str) -> str:
    return b.node("resize_nearest", [x], name, {"scales": (1.0, 1.0, 2.0, 2.0)})


def yolov5s(*, batch: int = 1, input_size: int = 640, seed: int = 0, materialize: bool = True,
            num_classes: int = 80):
    """The whole YOLOv5s v6.0 detector (ultralytics yolov5s.yaml, depth 0.33, width 0.50):
    the backbone above, the PANet neck (1x1 convs, 2x nearest upsampling, concats, C3 blocks
    without shortcut, stride-2 convs) and the Detect head with its box decode (v6.0 export
    graph: sigmoid, grid and anchor terms). 7,235,389 parameters for 80 classes (ultralytics'
    model summary count, BN included); output (N, 25200, 85) at 640x640."""
    if input_size % 32:
        raise ValueError(f"yolov5s needs input_size divisible by 32 (its stride), got "
                         f"{input_size}")
    b = Builder("yolov5s", seed=seed, materialize=materialize)
    p3, p4, y = _backbone(b, b.input("images", (batch, 3, input_size, input_size)))
    h10 = _conv(b, y, 256, 1, 1, "model.10")
    y = b.node("concat", [_upsample(b, h10, "model.11"), p4], "model.12", {"axis": 1})
    y = _c3(b, y, 256, 1, "model.13", shortcut=False)
    h14 = _conv(b, y, 128, 1, 1, "model.14")
    y = b.node("concat", [_upsample(b, h14, "model.15"), p3], "model.16", {"axis": 1})
    out3 = _c3(b, y, 128, 1, "model.17", shortcut=False)
    y = _conv(b, out3, 128, 3, 2, "model.18")
    y = b.node("concat", [y, h14], "model.19", {"axis": 1})
    out4 = _c3(b, y, 256, 1, "model.20", shortcut=False)
    y = _conv(b, out4, 256, 3, 2, "model.21")
    y = b.node("concat", [y, h10], "model.22", {"axis": 1})
    out5 = _c3(b, y, 512, 1, "model.23", shortcut=False)
    heads = [_detect(b, o, i, num_classes) for i, o in enumerate((out3, out4, out5))]
    out = b.node("concat", heads, "model.24.cat", {"axis": 1})
    return b.finish([out], family="cnn")
