"""Per-action energy of a SCALE-Sim-mode run, in Accelergy's way: action counts x an energy
reference table (ERT).

SCALE-Sim v3 hands its action counts to Accelergy (Wu, Emer, Sze, ICCAD 2019), which prices each
action of each component from an ERT. gilt does the same with its own table
(``simulator/npu/presets/energy/*.yaml``: pJ per MAC, per idle PE-cycle, per SRAM byte read or
written, by SRAM capacity, per DRAM byte, with citations) and the counts of SCALE-Sim's own
reports: MACs, idle PE-cycles (Total Cycles x PEs - MACs), SRAM ifmap/filter reads and ofmap
writes, DRAM ifmap/filter reads and ofmap writes (one-byte words)."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from simulator.npu.scalesim.io import ScaleSimConfig
from simulator.npu.scalesim.model import LayerReport

ERT_DIR = Path(__file__).resolve().parents[1] / "presets" / "energy"


def load_ert(name_or_path: str = "scalesim-45nm") -> dict:
    """An ERT by preset name or YAML path (ValueError naming what is wrong)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = ERT_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise ValueError(f"energy table {str(path)!r} does not exist; presets: "
                         f"{sorted(p.stem for p in ERT_DIR.glob('*.yaml'))}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        comp = data["components"]
        for key in ("mac_random", "mac_idle"):
            float(comp["pe_array"][key])
        for key in ("read_per_byte_by_kib", "write_per_byte_by_kib"):
            if not all(len(p) == 2 and p[0] > 0 for p in comp["sram"][key]):
                raise ValueError(f"sram.{key} must be [KiB, pJ] pairs")
        float(comp["dram"]["read_per_byte"])
        float(comp["dram"]["write_per_byte"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"energy table {path.name}: missing or bad entry {exc}") from None
    return data


def sram_pj_per_byte(points: list, kib: float) -> float:
    """Energy per byte of an SRAM of ``kib`` KiB: linear in log2(KiB) between the table's
    points, clamped at its ends."""
    pts = sorted((math.log2(k), e) for k, e in points)
    x = math.log2(kib)
    if x <= pts[0][0]:
        return pts[0][1]
    for (x0, e0), (x1, e1) in zip(pts, pts[1:]):
        if x <= x1:
            return e0 + (e1 - e0) * (x - x0) / (x1 - x0)
    return pts[-1][1]


def layer_energy(report: LayerReport, config: ScaleSimConfig, macs: int, ert: dict) -> dict:
    """Energy (pJ) of one layer by component and action, and its total."""
    comp = ert["components"]
    word = ert.get("word_bytes", 1)
    detail = report.detail
    pes = config.array_rows * config.array_cols
    sram = comp["sram"]
    out = {
        "pe_array.mac_random": macs * comp["pe_array"]["mac_random"],
        "pe_array.mac_idle": (report.total_cycles * pes - macs) * comp["pe_array"]["mac_idle"],
        "ifmap_sram.read": detail[2] * word * sram_pj_per_byte(sram["read_per_byte_by_kib"],
                                                              config.ifmap_sram_kib),
        "filter_sram.read": detail[5] * word * sram_pj_per_byte(sram["read_per_byte_by_kib"],
                                                               config.filter_sram_kib),
        "ofmap_sram.write": detail[8] * word * sram_pj_per_byte(sram["write_per_byte_by_kib"],
                                                               config.ofmap_sram_kib),
        "dram.read": (detail[11] + detail[14]) * word * comp["dram"]["read_per_byte"],
        "dram.write": detail[17] * word * comp["dram"]["write_per_byte"],
    }
    out["total"] = sum(out.values())
    return out
