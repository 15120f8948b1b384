"""``gilt net [NAME_OR_ONNX]``: print a network's layer table (quantized, optionally run).

Examples::

    gilt net                                   # resnet50, W4A8, top-k gating (0.5)
    gilt net bert_base --precision float32 --input-size 128
    gilt net gated_net --run                   # golden run: MACs done, skipped by gate/zero
    gilt net model.onnx --precision w8a8 --gating none
"""

from __future__ import annotations

import argparse

from gilt import options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_network_arguments(parser, positional=True)
    options.add_gating_arguments(parser)
    parser.add_argument("--seed", type=options.seed, default=0,
                        help="seed of the built-in weights and of the --run sample")
    parser.add_argument("--run", action="store_true",
                        help="golden run on a seeded sample and print MACs done / skipped")


def load_graph(network: str, *, batch: int, input_size: int | None, seed: int):
    """A built-in model or an ONNX file, with the size checks the command line needs."""
    import networks

    if network in networks.MODELS:
        kind = networks.MODELS[network][2]
        size = {"seq_len" if kind == "sequence" else "input_size": input_size}
        return networks.build(network, batch=batch, seed=seed, **size)
    options.check_network(network)
    kwargs = {"batch": batch} if input_size is None else {"batch": batch,
                                                           "input_size": input_size}
    with options.model_errors(network):
        return networks.load(network, **kwargs)


def run(args) -> int:
    import networks

    if args.precision != "float32" or args.run:
        options.check_network(args.network)
        options.check_run_memory(args.network, batch=args.batch, input_size=args.input_size)
    graph = load_graph(args.network, batch=args.batch, input_size=args.input_size,
                       seed=args.seed)
    if args.precision != "float32":
        graph = networks.quantize(graph, precision=args.precision, gating=args.gating,
                                  zero_skip=args.zero_skip, seed=args.seed)
    if args.run:
        print(networks.golden_run(graph, keep=(), seed=args.seed).table())
    else:
        print(graph.table())
    return 0
