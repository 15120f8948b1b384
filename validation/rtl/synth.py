"""Yosys generic synthesis of the array: cell counts by type and a NAND2-equivalent area.

``python -m validation.rtl.synth [--out docs/figures/rtl_synth.json]`` synthesises one PE (WS with
int8 and int4 weight ports, OS) and the 4x4, 8x8 and 16x16 WS and OS arrays (PE grid with its
skew and deskew buffers; the controller and the behavioural buffers are not synthesised) with
``synth -top ...; stat`` (Yosys's generic gate library, hierarchy kept so each PE is mapped once)
and weighs each cell type by the area of the matching X1 cell of the Nangate 45 nm Open Cell
Library (FreePDK45, ``NangateOpenCellLibrary_typical.lib``) divided by NAND2_X1's 0.798 um^2.
Yosys cells without a one-cell Nangate match are costed as the cells they decompose into
(``$_ANDNOT_`` = INV + NOR2, ``$_ORNOT_`` = INV + NAND2, ``$_DFFE_*`` = DFF + MUX2).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from validation.rtl.build import RTL_DIR

#: Nangate 45 nm OCL X1 cell areas in um^2 (typical corner library)
NANGATE_AREA_UM2 = {"INV": 0.532, "NAND2": 0.798, "NOR2": 0.798, "AND2": 1.064, "OR2": 1.064,
                    "XOR2": 1.596, "XNOR2": 1.596, "MUX2": 1.862, "DFF": 4.522}
#: Yosys internal cell -> Nangate cells it stands for
CELL_MAP = {"$_NOT_": ("INV",), "$_NAND_": ("NAND2",), "$_NOR_": ("NOR2",),
            "$_AND_": ("AND2",), "$_OR_": ("OR2",), "$_XOR_": ("XOR2",),
            "$_XNOR_": ("XNOR2",), "$_MUX_": ("MUX2",), "$_ANDNOT_": ("INV", "NOR2"),
            "$_ORNOT_": ("INV", "NAND2"), "$_DFF_P_": ("DFF",), "$_DFFE_PP_": ("DFF", "MUX2"),
            "$_DFFE_PN_": ("DFF", "MUX2"), "$_SDFF_PP0_": ("DFF", "AND2"),
            "$_SDFFE_PP0P_": ("DFF", "AND2", "MUX2")}


def nand2_weight(cell: str) -> float:
    """NAND2 equivalents of one Yosys cell (KeyError names an unmapped cell)."""
    return sum(NANGATE_AREA_UM2[c] for c in CELL_MAP[cell]) / NANGATE_AREA_UM2["NAND2"]


CONFIGS = {  # name -> (top module, parameters)
    "PE ws int8 weights": ("gilt_sa_pe", {"DATAFLOW": 0, "WBITS": 8}),
    "PE ws int4 weights": ("gilt_sa_pe", {"DATAFLOW": 0, "WBITS": 4}),
    "PE os int8 weights": ("gilt_sa_pe", {"DATAFLOW": 1, "WBITS": 8}),
    **{f"array {n}x{n} {df}": ("gilt_sa_array", {"ROWS": n, "COLS": n,
                                                  "DATAFLOW": int(df == "os")})
       for n in (4, 8, 16) for df in ("ws", "os")},
}


def synthesize(top: str, params: dict[str, int], *, timeout_s: float = 900) -> dict[str, int]:
    """Cell counts by type of ``top`` with ``params`` (whole hierarchy)."""
    yosys = shutil.which("yosys")
    if yosys is None:
        raise RuntimeError("yosys is not installed")
    sources = " ".join(str(RTL_DIR / s) for s in
                       ("gilt_sa_delay.v", "gilt_sa_pe.v", "gilt_sa_array.v"))
    chparam = " ".join(f"-set {k} {v}" for k, v in params.items())
    script = (f"read_verilog {sources}; chparam {chparam} {top}; synth -top {top}; "
              "rename -top synth_top; tee -q -o /dev/stdout stat -top synth_top")
    proc = subprocess.run([yosys, "-q", "-p", script], capture_output=True, text=True,
                          timeout=timeout_s)
    if proc.returncode:
        raise RuntimeError(f"yosys failed on {top} {params}: {proc.stderr.strip()[-300:]}")
    return parse_stat(proc.stdout, "synth_top")


def parse_stat(text: str, top: str) -> dict[str, int]:
    """The cell counts of ``top`` from Yosys ``stat`` output: the hierarchy total when the
    design has submodules, else the module's own table."""
    block = text
    marker = "design hierarchy"
    if marker in text:
        block = text[text.rindex(marker):]
    else:
        block = text[text.rindex(f"=== {top}"):] if f"=== {top}" in text else text
    cells = {}
    for name, count in re.findall(r"^\s+(\$_\w+_)\s+(\d+)\s*$", block, re.M):
        cells[name] = cells.get(name, 0) + int(count)
    if not cells:
        raise RuntimeError(f"no cell counts in Yosys output for {top}")
    return cells


def summarize(cells: dict[str, int]) -> dict:
    return {"cells": dict(sorted(cells.items())), "total_cells": sum(cells.values()),
            "flip_flops": sum(n for c, n in cells.items() if "DFF" in c),
            "nand2_eq": round(sum(nand2_weight(c) * n for c, n in cells.items()), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation.rtl.synth",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the table as JSON here")
    parser.add_argument("--only", help="comma-separated config names (default: all)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(CONFIGS)
    table = {}
    for name in names:
        top, params = CONFIGS[name]
        table[name] = summarize(synthesize(top, params))
        row = table[name]
        print(f"{name:<22} cells {row['total_cells']:>8}  flip-flops {row['flip_flops']:>6}  "
              f"NAND2-eq {row['nand2_eq']:>10.1f}", flush=True)
    if args.out:
        from common.files import write_text_atomic
        write_text_atomic(args.out, json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
