"""ResNet-50 (He et al. 2016, torchvision "v1.5": stride 2 in the 3x3 conv of a bottleneck).

25,557,032 parameters; 4.09 G multiply-accumulates (conv + fc) at 224x224."""

from __future__ import annotations

from networks.models._builder import Builder

#: (blocks, width) per stage; output channels are 4 x width.
RESNET50_STAGES = ((3, 64), (4, 128), (6, 256), (3, 512))


def _bottleneck(b: Builder, x: str, width: int, stride: int, name: str) -> str:
    cin = b.shape(x)[1]
    y = b.conv_bn_act(x, width, 1, name=f"{name}.conv1", bn_name=f"{name}.bn1", act="relu")
    y = b.conv_bn_act(y, width, 3, stride=stride, name=f"{name}.conv2", bn_name=f"{name}.bn2",
                      act="relu")
    y = b.conv_bn_act(y, 4 * width, 1, name=f"{name}.conv3", bn_name=f"{name}.bn3", act=None)
    if stride != 1 or cin != 4 * width:
        x = b.conv_bn_act(x, 4 * width, 1, stride=stride, name=f"{name}.downsample.0",
                          bn_name=f"{name}.downsample.1", act=None)
    y = b.node("add", [y, x], f"{name}.add")
    return b.node("relu", [y], f"{name}.relu")


def resnet50(*, batch: int = 1, input_size: int = 224, num_classes: int = 1000, seed: int = 0,
             materialize: bool = True):
    b = Builder("resnet50", seed=seed, materialize=materialize)
    x = b.input("input", (batch, 3, input_size, input_size))
    y = b.conv_bn_act(x, 64, 7, stride=2, pad=3, name="conv1", bn_name="bn1", act="relu")
    y = b.node("max_pool", [y], "maxpool",
               {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)})
    for stage, (blocks, width) in enumerate(RESNET50_STAGES, start=1):
        for i in range(blocks):
            stride = 2 if (i == 0 and stage > 1) else 1
            y = _bottleneck(b, y, width, stride, f"layer{stage}.{i}")
    y = b.node("global_avg_pool", [y], "avgpool")
    y = b.node("flatten", [y], "flatten", {"axis": 1})
    y = b.linear(y, num_classes, name="fc", std=0.05)
    return b.finish([y], family="cnn")
