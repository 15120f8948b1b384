"""Test-bench parameters from a manifest: what a Verilog bench must know to read a hex image.

``python -m validation.testbench DIR TENSOR [--module NAME]`` prints the ``iverilog -P`` flags
for ``tests/validation/tb_read_vectors.v`` (or any bench with the same parameter names)::

    iverilog -g2005 $(python -m validation.testbench DIR weight) -o tb tb_read_vectors.v
    vvp -n tb +vectors=DIR/weight.hex
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from validation.formats import DTYPES
from validation.manifest import GoldenVectorError, ManifestError, load_manifest, tensor_entry


def iverilog_params(entry: Mapping) -> dict[str, int]:
    """WORD_BITS, ELEM_BITS, WORDS, COUNT, SIGNED, BIG_ENDIAN of one tensor's hex file."""
    if "hex" not in entry["files"]:
        raise ManifestError(f"tensor {entry['name']!r} has no hex file; write it with "
                            "`gilt golden --formats ...,hex`")
    hex_rec = entry["files"]["hex"]
    return {"WORD_BITS": int(hex_rec["word_bits"]), "ELEM_BITS": DTYPES[entry["dtype"]][1],
            "WORDS": int(hex_rec["words"]), "COUNT": int(entry["count"]),
            "SIGNED": int(not entry["dtype"].startswith(("u", "float"))),
            "BIG_ENDIAN": int(hex_rec["endianness"] == "big")}


def iverilog_flags(directory: str | os.PathLike, tensor: str, *,
                   module: str = "tb_read_vectors") -> list[str]:
    entry = tensor_entry(load_manifest(directory), tensor)
    return [f"-P{module}.{key}={value}" for key, value in iverilog_params(entry).items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation.testbench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="golden-vector directory (with manifest.json)")
    parser.add_argument("tensor", help="tensor name in the manifest (input, weight, output ...)")
    parser.add_argument("--module", default="tb_read_vectors", help="top module name")
    args = parser.parse_args(argv)
    try:
        print(" ".join(iverilog_flags(args.directory, args.tensor, module=args.module)))
    except GoldenVectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
