"""MobileNetV3-Large (Howard et al. 2019, torchvision layout): 5,483,032 parameters, about
0.22 G multiply-accumulates at 224x224."""

from __future__ import annotations

from networks.models._builder import Builder

# (kernel, expanded, out, squeeze-excite, activation, stride) per inverted-residual block;
# the input channels are the previous block's output (16 after the stem).
MOBILENETV3_LARGE = (
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2),
    (3, 72, 24, False, "relu", 1), (5, 72, 40, True, "relu", 2),
    (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hardswish", 2), (3, 200, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1), (3, 184, 80, False, "hardswish", 1),
    (3, 480, 112, True, "hardswish", 1), (3, 672, 112, True, "hardswish", 1),
    (5, 672, 160, True, "hardswish", 2), (5, 960, 160, True, "hardswish", 1),
    (5, 960, 160, True, "hardswish", 1),
)


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's _make_divisible: round to a multiple of ``divisor``, never below 90%."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _squeeze_excite(b: Builder, x: str, name: str) -> str:
    c = b.shape(x)[1]
    s = b.node("global_avg_pool", [x], f"{name}.avgpool")
    s = b.conv(s, make_divisible(c // 4), 1, name=f"{name}.fc1", bias=True)
    s = b.node("relu", [s], f"{name}.relu")
    s = b.conv(s, c, 1, name=f"{name}.fc2", bias=True)
    s = b.node("hardsigmoid", [s], f"{name}.hardsigmoid", {"alpha": 1.0 / 6.0, "beta": 0.5})
    return b.node("mul", [x, s], f"{name}.scale")


def mobilenetv3_large(*, batch: int = 1, input_size: int = 224, num_classes: int = 1000,
                      seed: int = 0, materialize: bool = True):
    b = Builder("mobilenetv3_large", seed=seed, materialize=materialize)
    x = b.input("input", (batch, 3, input_size, input_size))
    y = b.conv_bn_act(x, 16, 3, stride=2, name="features.0", act="hardswish")
    for i, (k, exp, out, se, act, stride) in enumerate(MOBILENETV3_LARGE, start=1):
        name = f"features.{i}"
        cin = b.shape(y)[1]
        h = y
        if exp != cin:
            h = b.conv_bn_act(h, exp, 1, name=f"{name}.expand", act=act)
        h = b.conv_bn_act(h, exp, k, stride=stride, groups=exp, name=f"{name}.depthwise",
                          act=act)
        if se:
            h = _squeeze_excite(b, h, f"{name}.se")
        h = b.conv_bn_act(h, out, 1, name=f"{name}.project", act=None)
        if stride == 1 and cin == out:
            h = b.node("add", [h, y], f"{name}.add")
        y = h
    y = b.conv_bn_act(y, 960, 1, name="features.16", act="hardswish")
    y = b.node("global_avg_pool", [y], "avgpool")
    y = b.node("flatten", [y], "flatten", {"axis": 1})
    y = b.linear(y, 1280, name="classifier.0", std=0.05)
    y = b.node("hardswish", [y], "classifier.1")
    y = b.linear(y, num_classes, name="classifier.3", std=0.05)
    return b.finish([y], family="cnn")
