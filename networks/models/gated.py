"""The seed's gated network, built from its base module (seed C5).

Base module ``GatedBlock(in, out)``: ``conv1`` = Conv(in, out/2, 3x3, pad 1) (+ReLU);
``gate`` = GatingUnit(out/2) turns conv1's output into a per-sample channel mask; ``conv2`` =
Conv(out/2, out, 1x1) applied to ``conv1(x) * mask`` (+ReLU). The gate is a graph node whose
strategy is an attribute (``topk`` keeps the ``keep`` fraction of channels with the largest mean
activation; ``threshold`` keeps channels whose mean activation exceeds ``threshold``), so
swapping the GatingUnit swaps the sparsity strategy without touching the graph's shape.

The network: stem Conv(3, 32, 3x3) + ReLU, GatedBlocks (32->64), (64->128, stride 2),
(128->256, stride 2), (256->256), global average pool, Linear(256, classes). CIFAR-sized input
(32x32) by default."""

from __future__ import annotations

from networks.models._builder import Builder

GATED_BLOCKS = ((64, 1), (128, 2), (256, 2), (256, 1))


def gated_block(b: Builder, x: str, out_channels: int, *, name: str, stride: int = 1,
                strategy: str = "topk", keep: float = 0.5, threshold: float = 0.0) -> str:
    h = b.conv(x, out_channels // 2, 3, stride=stride, name=f"{name}.conv1", bias=True)
    h = b.node("relu", [h], f"{name}.relu1")
    mask = b.node("gate", [h], f"{name}.gate",
                  {"strategy": strategy, "keep": keep, "threshold": threshold},
                  out_dtype="bool")
    y = b.conv(h, out_channels, 1, name=f"{name}.conv2", bias=True, mask=mask)
    return b.node("relu", [y], f"{name}.relu2")


def gated_net(*, batch: int = 1, input_size: int = 32, num_classes: int = 10, seed: int = 0,
              strategy: str = "topk", keep: float = 0.5, materialize: bool = True):
    b = Builder("gated_net", seed=seed, materialize=materialize)
    x = b.input("input", (batch, 3, input_size, input_size))
    y = b.conv(x, 32, 3, name="stem", bias=True)
    y = b.node("relu", [y], "stem.relu")
    for i, (c, s) in enumerate(GATED_BLOCKS):
        y = gated_block(b, y, c, name=f"block{i}", stride=s, strategy=strategy, keep=keep)
    y = b.node("global_avg_pool", [y], "avgpool")
    y = b.node("flatten", [y], "flatten", {"axis": 1})
    y = b.linear(y, num_classes, name="fc", std=0.05)
    return b.finish([y], family="cnn")
