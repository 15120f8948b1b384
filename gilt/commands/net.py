"""``gilt net NAME_OR_ONNX``: print a network's layer table (optionally quantized and run)."""

from __future__ import annotations

import argparse
import sys

PRECISION_CHOICES = ("float32", "w8a8", "w4a8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", help="built-in model name (resnet50, mobilenetv3_large, "
                        "bert_base, yolov5s_backbone, gated_net) or an .onnx file")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="float32",
                        help="quantize with PTQ before printing (default: float32)")
    parser.add_argument("--input-size", type=int, default=None,
                        help="image size (or sequence length for bert_base)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gating", default=None,
                        help="gating strategy for PTQ: topk[:keep], threshold[:t], none")
    parser.add_argument("--zero-skip", action="store_true", help="measure zero-block skipping")
    parser.add_argument("--run", action="store_true",
                        help="golden run on a seeded sample and print MACs done / skipped")


def run(args) -> int:
    import networks

    try:
        if args.network in networks.MODELS:
            kind = networks.MODELS[args.network][2]
            size = {"seq_len" if kind == "sequence" else "input_size": args.input_size}
            graph = networks.build(args.network, batch=args.batch, seed=args.seed, **size)
        else:
            graph = networks.load(args.network, batch=args.batch)
        if args.precision != "float32":
            graph = networks.quantize(graph, precision=args.precision, gating=args.gating,
                                      zero_skip=args.zero_skip, seed=args.seed)
        if args.run:
            print(networks.golden_run(graph, keep=(), seed=args.seed).table())
        else:
            print(graph.table())
    except (ValueError, TypeError) as e:
        print(f"gilt net: error: {e}", file=sys.stderr)
        return 2
    return 0
