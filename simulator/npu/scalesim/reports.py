"""SCALE-Sim's report files from gilt's layer reports, and the terminal table."""

from __future__ import annotations

import os
from pathlib import Path

from common.files import write_text_atomic
from simulator.npu.scalesim.io import REPORT_FILES, ScaleSimConfig, report_text
from simulator.npu.scalesim.model import LayerReport

#: gilt's side file in a report directory: how each row's memory side was obtained.
METHOD_FILE = "GILT_METHOD.csv"


def write_reports(reports: list[LayerReport], directory: str | os.PathLike,
                  config: ScaleSimConfig) -> list[Path]:
    """Write COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv, DETAILED_ACCESS_REPORT.csv (and
    SPARSE_REPORT.csv with sparsity) as SCALE-Sim 3.0.0 writes them, byte for byte, plus
    ``GILT_METHOD.csv`` (LayerID, name, method: ``replay`` or ``closed-form``). Atomic."""
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    kinds = ["compute", "bandwidth", "detail"] + (["sparse"] if config.sparsity_support else [])
    written = []
    for kind in kinds:
        text = report_text(kind, [r.strings(kind) for r in reports],
                           sparse=config.sparsity_support, sparse_rep=config.sparse_rep)
        written.append(write_text_atomic(out_dir / REPORT_FILES[kind], text))
    lines = ["LayerID,name,method"] + [f"{i},{r.name},{r.method}" for i, r in enumerate(reports)]
    written.append(write_text_atomic(out_dir / METHOD_FILE, "\n".join(lines) + "\n"))
    return written
