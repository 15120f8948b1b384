"""YOLOv5s backbone (ultralytics v6.0 yolov5s.yaml, depth 0.33, width 0.50): Conv(6x6/2), C3
stages, SPPF. Conv = Conv2d (no bias) + BN + SiLU. 4,171,456 parameters (BN gamma and beta
counted, as ultralytics' model summary does)."""

from __future__ import annotations

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
    x = b.input("images", (batch, 3, input_size, input_size))
    y = _conv(b, x, 32, 6, 2, "model.0", pad=2)
    y = _conv(b, y, 64, 3, 2, "model.1")
    y = _c3(b, y, 64, 1, "model.2")
    y = _conv(b, y, 128, 3, 2, "model.3")
    p3 = _c3(b, y, 128, 2, "model.4")
    y = _conv(b, p3, 256, 3, 2, "model.5")
    p4 = _c3(b, y, 256, 3, "model.6")
    y = _conv(b, p4, 512, 3, 2, "model.7")
    y = _c3(b, y, 512, 1, "model.8")
    p5 = _sppf(b, y, 512, "model.9")
    return b.finish([p3, p4, p5], family="cnn")
