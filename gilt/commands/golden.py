"""``gilt golden``: write golden vectors for an operator, a YAML case file, or network layers.

Examples::

    gilt golden --op conv2d --param c=16,h=14,w=14,k=32,wbits=4 --out vectors
    gilt golden --case-file cases.yaml --out vectors
    gilt golden --network resnet50 --precision w4a8 --input-size 64 --layers conv1 --out vectors
    gilt golden --list-ops

Each case is written atomically to ``OUT/<case name>/`` (a network to ``OUT/<network>_<precision>/``
with one folder per layer); the command prints one line per directory written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common.files import check_output_dir
from gilt import options as cli_options
from validation import cases as cases_mod
from validation import formats
from validation.manifest import MAX_WORD_BITS, WriteOptions, golden_files, write_tree_atomic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("what to generate (choose one)")
    src.add_argument("--op", help=f"operator case: one of the {len(cases_mod.OPERATORS)} "
                                  f"that --list-ops lists (conv2d, matmul, quantize, "
                                  f"requantize, and one per reference/ operator; default: none, one of --op, "
                                  f"--case-file, --network is required)")
    src.add_argument("--param", action="append", metavar="KEY=VALUE",
                     help="operator parameter (repeatable, or comma-separated: c=16,k=32; "
                          "see --list-ops for names and defaults)")
    src.add_argument("--case-file", type=Path,
                     help="YAML file with a 'cases:' list (default: none)")
    src.add_argument("--network", help="built-in network name (networks.build); its own gate "
                                       "nodes are kept, none are added (default: none)")
    src.add_argument("--list-ops", action="store_true",
                     help="list operators and their parameters with defaults, then exit")
    net = parser.add_argument_group("network options")
    net.add_argument("--precision", default=cli_options.DEFAULT_PRECISION,
                     choices=cli_options.PRECISIONS, help="quantization of the network")
    net.add_argument("--input-size", type=cli_options.input_size, default=None,
                     help="input height/width for image networks, sequence length for "
                          "bert_base (default: the network's)")
    net.add_argument("--layers", default=None,
                     help="comma-separated node names (default: every conv/matmul layer)")
    net.add_argument("--all-nodes", action="store_true",
                     help="with --network: every node, not only conv/matmul layers")
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, default=Path("golden"),
                     help="output folder; each case goes to OUT/<case name> (default: golden)")
    out.add_argument("--seed", type=cli_options.seed, default=None,
                     help="random seed (default: 0, or the case file's)")
    out.add_argument("--formats", default="npy,hex,bin,h",
                     help=f"comma-separated from {list(formats.FORMATS)} or 'all' "
                          "(default: npy,hex,bin,h)")
    out.add_argument("--word-bits", type=cli_options.int_in(4, MAX_WORD_BITS,
                                                            what="a word width in bits"),
                     default=32, help="hex ($readmemh) memory word width in bits: 4 or a "
                                      f"multiple of 8 up to {MAX_WORD_BITS} (default: 32)")
    out.add_argument("--endianness", choices=formats.ENDIANNESS, default="little",
                     help="element order inside a hex word (default: little = element 0 in "
                          "the least significant bits)")
    out.add_argument("--roles", default="all",
                     help="which tensors to write: comma-separated from "
                          "input,weight,bias,intermediate,output or 'all' (default: all)")


def _options(args: argparse.Namespace) -> WriteOptions:
    fmts = formats.FORMATS if args.formats == "all" else tuple(
        f.strip() for f in args.formats.split(",") if f.strip())
    roles = WriteOptions().roles if args.roles == "all" else tuple(
        r.strip() for r in args.roles.split(",") if r.strip())
    bad_roles = sorted(set(roles) - set(WriteOptions().roles))
    if bad_roles:
        raise ValueError(f"--roles {args.roles!r}: unknown role(s) {bad_roles}")
    return WriteOptions(formats=fmts, word_bits=args.word_bits, endianness=args.endianness,
                        roles=roles)


def list_ops() -> str:
    lines = []
    for op, spec in sorted(cases_mod.OPERATORS.items()):
        lines.append(f"{op}: {spec.doc}")
        params = ", ".join(f"{k}={'x'.join(map(str, d)) if isinstance(d, tuple) else d}"
                           for k, (_, d) in spec.params.items())
        lines.append(f"    {params}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.list_ops:
        print(list_ops())
        return 0
    chosen = [n for n, v in (("--op", args.op), ("--case-file", args.case_file),
                             ("--network", args.network)) if v]
    if len(chosen) != 1:
        raise ValueError(f"choose exactly one of --op, --case-file, --network (got "
                         f"{', '.join(chosen) or 'none'})")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a file; gilt writes a folder there")
    options = _options(args)
    if args.network:
        return _network(args, options)
    if args.op:
        raw = cases_mod.parse_param_list(args.param)
        case_list = [cases_mod.OperatorCase.parse(args.op, raw, args.seed or 0)]
    else:
        if args.param:
            raise ValueError("--param applies to --op, not to --case-file")
        case_list = cases_mod.load_case_file(args.case_file, seed=args.seed)
    for case in case_list:  # before generating anything: no folder we must not replace
        check_output_dir(args.out / case.name, what="golden-vector folder")
    # generate everything first: an error in case 3 must not leave cases 1-2 half-updated
    outputs = [(case, golden_files(case.describe(), case.tensors(), options))
               for case in case_list]
    for case, (manifest, files) in outputs:
        target = args.out / case.name
        write_tree_atomic(target, files)
        n = sum(len(t["files"]) for t in manifest["tensors"]) + len(manifest["files"])
        print(f"wrote {target} ({len(manifest['tensors'])} tensors, {n} data files)")
    return 0


def _network(args: argparse.Namespace, options: WriteOptions) -> int:
    from networks.models import MODELS
    from validation.network import network_golden_files

    if args.network not in MODELS:
        raise ValueError(f"--network {args.network!r}: expected one of {sorted(MODELS)}")
    cli_options.check_run_memory(args.network, input_size=args.input_size)
    name, files = network_golden_files(
        args.network, precision=args.precision, input_size=args.input_size,
        layers=args.layers.split(",") if args.layers else None,
        all_nodes=args.all_nodes, seed=args.seed or 0, options=options)
    target = args.out / name
    check_output_dir(target, what="golden-vector folder")
    written: list[str] = []
    write_tree_atomic(target, ((written.append(path) or path, data) for path, data in files))
    print(f"wrote {target} ({sum(1 for f in written if f.endswith('manifest.json'))} "
          f"layers, {len(written)} files)")
    return 0
