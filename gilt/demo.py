"""``gilt demo`` (``make demo``): the main job on built-in defaults.

ResNet-50 (224x224) and the seed's gated network (C5), quantized to W4A8 with top-k channel
gating and zero-block skipping, golden-run on a seeded input, then costed on a GPU (A100), a
CPU (Zen 5 EPYC) and an NPU (32x32 systolic array). The report folder (``gilt-report/`` by
default) holds Markdown and HTML pages with per-layer utilization per target, the GPU roofline,
the NPU utilization timeline, and what gating, zero-skip, 4x4 tiling and fusion saved per layer.

The options and their defaults are those of ``gilt report``; ``gilt demo`` is
``gilt report --net resnet50 --net gated_net`` with a title.
"""

from __future__ import annotations

from gilt.report import add_arguments as _report_arguments
from gilt.report import run_report

DEFAULT_NETWORKS = ["resnet50", "gated_net"]


def add_arguments(parser) -> None:
    """The options of ``gilt report``, with the same defaults (only the networks differ)."""
    _report_arguments(parser, networks_default=tuple(DEFAULT_NETWORKS))


def run(args) -> int:
    return run_report(args, DEFAULT_NETWORKS, "gilt demo: W4A8 + gating + zero-skip + tiling")
