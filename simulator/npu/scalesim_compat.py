"""SCALE-Sim 3.0.0 compatibility: its input files, its report numbers, and the oracle runner.

* :func:`read_cfg` / :func:`write_cfg` read and write SCALE-Sim ``.cfg`` files (INI) as they
  are; :func:`read_topology` reads its conv or GEMM topology CSVs (trailing comma on every row,
  stride copied to both axes, optional ``N:M`` sparsity field, rows whose name contains ``DP``
  expanded into one single-channel layer per channel, as SCALE-Sim does).
* :func:`scalesim_layer` reproduces, for one topology row, the numbers SCALE-Sim 3.0.0 reports in
  COMPUTE_REPORT.csv (Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute
  Util %) and the SRAM read/write counts of DETAILED_ACCESS_REPORT.csv, *exactly*, quirks
  included (see docs/sim-npu.md, "SCALE-Sim mode"):

  - the fold length of OS is ``T + R + C - 2`` (short by ``R``: scale-sim-v3 issue #4);
  - Total Cycles is ``folds * fold_length - 1`` (scale-sim issue #125);
  - the OS ofmap write count adds ``R + C`` per fold (a double count in its code);
  - the percentages are averages over folds summed left to right in float64, in SCALE-Sim's
    fold order (column folds outer, row folds inner), so they agree to the last bit;
  - output size ``ceil((H - R + s) / s)``: no padding, batch 1, one-byte words.

  In CALC bandwidth mode (the default of its configs) SCALE-Sim never stalls; USER mode stalls
  come from its cycle-by-cycle DRAM queue and are not reproduced (reported as ``None``).
* :func:`run_oracle` runs SCALE-Sim itself (``.venv-scalesim``) in a subprocess through
  ``_scalesim_runner.py`` and returns its per-layer numbers.
"""

from __future__ import annotations

import configparser
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

from common.files import write_text_atomic
from common.workload import LayerWork, Workload

DATAFLOWS = ("ws", "os", "is")
ROOT = Path(__file__).resolve().parents[2]
ORACLE_PYTHON = ROOT / ".venv-scalesim" / "bin" / "python"
RUNNER = Path(__file__).with_name("_scalesim_runner.py")
TOPOLOGIES = Path(__file__).with_name("topologies")

#: COMPUTE_REPORT.csv header of SCALE-Sim 3.0.0, as it writes it.
COMPUTE_REPORT_HEADER = ("LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, "
                         "Overall Util %, Mapping Efficiency %, Compute Util %,")


# ------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class ScaleSimConfig:
    """The parameters of a SCALE-Sim 3.0.0 ``.cfg`` file that change its reported numbers, plus
    the ones it requires to parse. Sizes in KiB, bandwidths in words per cycle."""

    run_name: str = "gilt"
    array_rows: int = 32
    array_cols: int = 32
    ifmap_sram_kib: int = 64
    filter_sram_kib: int = 64
    ofmap_sram_kib: int = 64
    ifmap_offset: int = 0
    filter_offset: int = 10000000
    ofmap_offset: int = 20000000
    dataflow: str = "ws"
    bandwidth_words_per_cycle: tuple[int, ...] = (10,)
    read_request_buffer: int = 32
    write_request_buffer: int = 32
    interface_bandwidth: str = "CALC"

    def __post_init__(self):
        for key in ("array_rows", "array_cols", "ifmap_sram_kib", "filter_sram_kib",
                    "ofmap_sram_kib", "read_request_buffer", "write_request_buffer"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ScaleSimConfig.{key} must be a positive int, got {value!r}")
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"ScaleSimConfig.dataflow must be one of {DATAFLOWS}, "
                             f"got {self.dataflow!r}")
        if self.interface_bandwidth not in ("CALC", "USER"):
            raise ValueError("ScaleSimConfig.interface_bandwidth must be 'CALC' or 'USER', "
                             f"got {self.interface_bandwidth!r}")


_CFG_KEYS = {  # (section, SCALE-Sim key) -> field
    ("general", "run_name"): "run_name",
    ("architecture_presets", "ArrayHeight"): "array_rows",
    ("architecture_presets", "ArrayWidth"): "array_cols",
    ("architecture_presets", "IfmapSramSzkB"): "ifmap_sram_kib",
    ("architecture_presets", "FilterSramSzkB"): "filter_sram_kib",
    ("architecture_presets", "OfmapSramSzkB"): "ofmap_sram_kib",
    ("architecture_presets", "IfmapOffset"): "ifmap_offset",
    ("architecture_presets", "FilterOffset"): "filter_offset",
    ("architecture_presets", "OfmapOffset"): "ofmap_offset",
    ("architecture_presets", "Dataflow"): "dataflow",
    ("architecture_presets", "ReadRequestBuffer"): "read_request_buffer",
    ("architecture_presets", "WriteRequestBuffer"): "write_request_buffer",
    ("run_presets", "InterfaceBandwidth"): "interface_bandwidth",
}


def read_cfg(path: str | os.PathLike) -> ScaleSimConfig:
    """Read a SCALE-Sim ``.cfg`` (INI; keys case-insensitive, ``:`` or ``=``). Keys SCALE-Sim
    requires are required here (ValueError naming section and key); keys it never reads
    (``MemoryBanks``, ``[layout]``, ``[sparsity]`` with sparsity off) are accepted and ignored.
    ``Bandwidth`` is required only in USER mode, as in SCALE-Sim."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"SCALE-Sim config {str(path)!r} does not exist")
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ValueError(f"SCALE-Sim config {str(path)!r} is not a valid INI file: {exc}") from exc
    values: dict = {}
    for (section, key), name in _CFG_KEYS.items():
        if not parser.has_option(section, key):
            raise ValueError(f"SCALE-Sim config {path.name}: missing [{section}] {key}")
        raw = parser.get(section, key).strip()
        values[name] = raw if name in ("run_name", "dataflow", "interface_bandwidth") else raw
    for name in list(values):
        if name not in ("run_name", "dataflow", "interface_bandwidth"):
            try:
                values[name] = int(values[name])
            except ValueError as exc:
                raise ValueError(f"SCALE-Sim config {path.name}: {name} must be an integer, "
                                 f"got {values[name]!r}") from exc
    if parser.has_option("architecture_presets", "Bandwidth"):
        raw = parser.get("architecture_presets", "Bandwidth")
        try:
            values["bandwidth_words_per_cycle"] = tuple(int(x) for x in raw.split(","))
        except ValueError as exc:
            raise ValueError(f"SCALE-Sim config {path.name}: Bandwidth must be integers, "
                             f"got {raw!r}") from exc
    elif values["interface_bandwidth"] == "USER":
        raise ValueError(f"SCALE-Sim config {path.name}: USER bandwidth mode needs "
                         "[architecture_presets] Bandwidth")
    if (parser.has_option("sparsity", "SparsitySupport")
            and parser.get("sparsity", "SparsitySupport").strip().lower() == "true"):
        raise ValueError(f"SCALE-Sim config {path.name}: SparsitySupport=true is not supported "
                         "(gilt costs sparsity from the golden run's real bitmaps instead)")
    return ScaleSimConfig(**values)


def write_cfg(config: ScaleSimConfig, path: str | os.PathLike) -> Path:
    """Write ``config`` as a SCALE-Sim 3.0.0 ``.cfg`` that SCALE-Sim itself parses (atomic)."""
    fieldvals = {f.name: getattr(config, f.name) for f in fields(config)}
    lines = ["[general]", f"run_name = {config.run_name}", "", "[architecture_presets]"]
    for (section, key), name in _CFG_KEYS.items():
        if section == "architecture_presets":
            lines.append(f"{key} : {fieldvals[name]}")
    lines.append("Bandwidth : " + ",".join(str(b) for b in config.bandwidth_words_per_cycle))
    lines += ["MemoryBanks : 1", "", "[layout]", "IfmapCustomLayout : False",
              "IfmapSRAMBankBandwidth : 10", "IfmapSRAMBankNum : 10", "IfmapSRAMBankPort : 2",
              "FilterCustomLayout : False", "FilterSRAMBankBandwidth : 10",
              "FilterSRAMBankNum : 10", "FilterSRAMBankPort : 2", "", "[sparsity]",
              "SparsitySupport : false", "SparseRep : ellpack_block", "OptimizedMapping : false",
              "BlockSize : 8", "RandomNumberGeneratorSeed : 40", "", "[run_presets]",
              f"InterfaceBandwidth : {config.interface_bandwidth}", "UseRamulatorTrace : False",
              ""]
    return write_text_atomic(Path(path), "\n".join(lines))


# ---------------------------------------------------------------------------------- topology
@dataclass(frozen=True)
class TopologyRow:
    """One SCALE-Sim layer: ifmap ``h x w`` (already padded), filter ``r x s``, ``channels``,
    ``filters``, strides. Output size is SCALE-Sim's ``ceil((h - r + stride) / stride)``."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride_h: int
    stride_w: int

    @property
    def ofmap_h(self) -> int:
        return math.ceil((self.ifmap_h - self.filter_h + self.stride_h) / self.stride_h)

    @property
    def ofmap_w(self) -> int:
        return math.ceil((self.ifmap_w - self.filter_w + self.stride_w) / self.stride_w)

    @property
    def macs(self) -> int:
        return (self.ofmap_h * self.ofmap_w * self.filter_h * self.filter_w * self.channels
                * self.filters)

    def to_layer(self, *, weight_bits: int = 8, act_bits: int = 8) -> LayerWork:
        """The same layer as a gilt :class:`LayerWork`. SCALE-Sim's ``ceil`` output size counts a
        last window that runs past the input when ``(h - r) % stride != 0`` (its address
        generator reads beyond the row); gilt says so explicitly with bottom/right padding of
        ``(out - 1) * stride + r - h``, so MACs and output size agree."""
        pad_h = (self.ofmap_h - 1) * self.stride_h + self.filter_h - self.ifmap_h
        pad_w = (self.ofmap_w - 1) * self.stride_w + self.filter_w - self.ifmap_w
        layer = LayerWork.conv(self.name, batch=1, in_channels=self.channels, in_h=self.ifmap_h,
                               in_w=self.ifmap_w, out_channels=self.filters,
                               kernel=(self.filter_h, self.filter_w),
                               stride=(self.stride_h, self.stride_w), pads=(0, 0, pad_h, pad_w),
                               weight_bits=weight_bits, act_bits=act_bits)
        assert (layer.out_h, layer.out_w) == (self.ofmap_h, self.ofmap_w)
        return layer


def read_topology(path: str | os.PathLike, *, gemm: bool = False) -> list[TopologyRow]:
    """Read a SCALE-Sim topology CSV exactly as SCALE-Sim 3.0.0 does.

    Conv format: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
    Num Filter, Strides,`` (first row is a header; blank rows skipped; the last field of every
    row is dropped, hence the trailing comma). GEMM format (``gemm=True``, SCALE-Sim ``-i gemm``):
    ``Layer, M, N, K,`` mapped as SCALE-Sim does to an ``M x K`` ifmap, ``1 x K`` filter, one
    channel and ``N`` filters. A row whose name contains ``DP`` is a depthwise layer, expanded
    into ``Channels`` layers ``<name>Channel_<i>`` of one channel each. Bad rows raise ValueError
    naming the file, the row and the field."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"topology {str(path)!r} does not exist")
    rows: list[TopologyRow] = []
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for lineno, line in enumerate(lines[1:], start=2):
        line = line.strip()
        if not line:
            continue
        elems = [e.strip() for e in line.split(",")[:-1]]
        where = f"topology {path.name} line {lineno}"
        if gemm:
            if len(elems) < 4:
                raise ValueError(f"{where}: expected 'Layer, M, N, K,', got {line!r}")
            name, m, n, k = elems[0], *(_int_field(where, f, v) for f, v in
                                        zip(("M", "N", "K"), elems[1:4]))
            rows.append(_checked_row(where, TopologyRow(name, m, k, 1, k, 1, n, 1, 1)))
            continue
        if len(elems) < 8:
            raise ValueError(f"{where}: expected 8 fields ending with a comma (Layer name, "
                             f"IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                             f"Num Filter, Strides,), got {line!r}")
        names = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                 "Num Filter", "Strides")
        h, w, r, s, c, m, stride = (_int_field(where, f, v) for f, v in zip(names, elems[1:8]))
        if len(elems) > 8 and elems[8] and not _is_sparsity_ratio(elems[8]):
            raise ValueError(f"{where}: 9th field must be an N:M sparsity ratio, "
                             f"got {elems[8]!r}")
        if len(elems) > 8 and elems[8] and elems[8].replace(" ", "") not in ("1:1",):
            raise ValueError(f"{where}: sparsity ratio {elems[8]!r} is not supported (dense 1:1 "
                             "only; gilt costs sparsity from real bitmaps)")
        name = elems[0]
        if "DP" in name:
            for ch in range(c):
                rows.append(_checked_row(where, TopologyRow(f"{name}Channel_{ch}", h, w, r, s, 1,
                                                            m, stride, stride)))
        else:
            rows.append(_checked_row(where, TopologyRow(name, h, w, r, s, c, m, stride, stride)))
    if not rows:
        raise ValueError(f"topology {path.name}: no layers")
    return rows


def _is_sparsity_ratio(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 2 and all(p.strip().isdigit() for p in parts)


def _int_field(where: str, field_name: str, value: str) -> int:
    try:
        out = int(value)
    except ValueError:
        raise ValueError(f"{where}: {field_name} must be a positive integer, got {value!r}"
                         ) from None
    if out < 1:
        raise ValueError(f"{where}: {field_name} must be a positive integer, got {value!r}")
    return out


def _checked_row(where: str, row: TopologyRow) -> TopologyRow:
    if row.filter_h > row.ifmap_h or row.filter_w > row.ifmap_w:
        raise ValueError(f"{where}: filter {row.filter_h}x{row.filter_w} larger than ifmap "
                         f"{row.ifmap_h}x{row.ifmap_w} (SCALE-Sim takes padded input sizes)")
    return row


def topology_workload(path: str | os.PathLike, *, gemm: bool = False,
                      name: str | None = None) -> Workload:
    """A topology CSV as a gilt :class:`Workload` (dense, 8-bit, batch 1)."""
    rows = read_topology(path, gemm=gemm)
    return Workload(name=name or Path(path).stem, layers=tuple(r.to_layer() for r in rows),
                    meta={"source": str(path), "format": "scalesim-gemm" if gemm else
                          "scalesim-conv"})


# ------------------------------------------------------------------------ SCALE-Sim numbers
def scalesim_dims(row: TopologyRow, dataflow: str) -> tuple[int, int, int]:
    """``(Sr, Sc, T)`` of SCALE-Sim's mapping: OS (Npx, M, W), WS (W, M, Npx), IS (W, Npx, M),
    with Npx output pixels, W = R*S*C window size and M filters."""
    npx = row.ofmap_h * row.ofmap_w
    window = row.filter_h * row.filter_w * row.channels
    if dataflow == "os":
        return npx, row.filters, window
    if dataflow == "ws":
        return window, row.filters, npx
    if dataflow == "is":
        return window, npx, row.filters
    raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")


def scalesim_layer(row: TopologyRow, rows_pe: int, cols_pe: int, dataflow: str) -> dict:
    """SCALE-Sim 3.0.0's report numbers for one layer in CALC bandwidth mode.

    With (Sr, Sc, T) from :func:`scalesim_dims` and an R x C array:
    ``F = ceil(Sr/R) * ceil(Sc/C)``; fold length ``L = T + R + C - 2`` (OS) or
    ``2R + C + T - 2`` (WS, IS); Total Cycles ``F*L - 1``; Overall Util
    ``100 * MACs / (Total * R * C)``; Mapping Efficiency = mean over folds of
    ``used_rows*used_cols / (R*C)``; Compute Util = mean over folds of
    ``used_rows*used_cols*T / (R*C*L')`` with ``L' = L`` (OS) or ``L + C - 1`` (WS, IS).
    SRAM counts, words: OS ifmap ``ceil(Sc/C)*W*Npx``, filter ``ceil(Sr/R)*W*M``, ofmap
    ``Npx*M + F*(R+C)``; WS ifmap ``ceil(M/C)*W*Npx``, filter ``W*M``, ofmap ``ceil(W/R)*Npx*M``;
    IS ifmap ``W*Npx``, filter ``ceil(Npx/C)*W*M``, ofmap ``ceil(W/R)*Npx*M``."""
    sr, sc, t = scalesim_dims(row, dataflow)
    r, c = rows_pe, cols_pe
    row_folds, col_folds = math.ceil(sr / r), math.ceil(sc / c)
    folds = row_folds * col_folds
    fold_len = t + r + c - 2 if dataflow == "os" else 2 * r + c + t - 2
    util_len = fold_len if dataflow == "os" else fold_len + c - 1
    total = folds * fold_len - 1
    # Per-fold averages in SCALE-Sim's order (fc outer, fr inner), summed left to right.
    map_sum = 0.0
    util_sum = 0.0
    pe = r * c
    for fc in range(col_folds):
        cols_used = min(c, sc - fc * c)
        for fr in range(row_folds):
            used = min(r, sr - fr * r) * cols_used
            map_sum += used / pe
            util_sum += used * t / (pe * util_len)
    npx = row.ofmap_h * row.ofmap_w
    window = row.filter_h * row.filter_w * row.channels
    m = row.filters
    if dataflow == "os":
        reads = (col_folds * window * npx, row_folds * window * m, npx * m + folds * (r + c))
    elif dataflow == "ws":
        reads = (col_folds * window * npx, window * m, row_folds * npx * m)
    else:
        reads = (window * npx, col_folds * window * m, row_folds * npx * m)
    return {
        "name": row.name,
        "total_cycles": total,
        "stall_cycles": 0,
        "overall_util": (row.macs * 100) / (total * pe),
        "mapping_efficiency": map_sum / folds * 100,
        "compute_util": util_sum / folds * 100,
        "sram_ifmap_reads": reads[0],
        "sram_filter_reads": reads[1],
        "sram_ofmap_writes": reads[2],
        "folds": folds,
        "fold_cycles": fold_len,
    }


def compute_report_csv(results: list[dict]) -> str:
    """COMPUTE_REPORT.csv text with SCALE-Sim's header and number formatting (``str`` of each
    value). The prefetch-inclusive column depends on SCALE-Sim's DRAM trace and is written as
    Total Cycles + the layer's ``prefetch_cycles`` when given, else left empty."""
    out = io.StringIO()
    out.write(COMPUTE_REPORT_HEADER + "\n")
    for lid, res in enumerate(results):
        incl = res.get("total_cycles_incl_prefetch", "")
        items = [incl, res["total_cycles"], res["stall_cycles"], res["overall_util"],
                 res["mapping_efficiency"], res["compute_util"]]
        out.write(f"{lid}, " + ", ".join(str(x) for x in items) + ",\n")
    return out.getvalue()


# --------------------------------------------------------------------------------- the oracle
def oracle_available() -> tuple[bool, str]:
    """Whether SCALE-Sim 3.0.0 can be run here, and why not."""
    if not ORACLE_PYTHON.exists():
        return False, (f"SCALE-Sim oracle env missing: {ORACLE_PYTHON} (build it with "
                       "`make .venv-scalesim/.installed`)")
    probe = subprocess.run([str(ORACLE_PYTHON), "-c",
                            "import importlib.metadata as m; print(m.version('scalesim'))"],
                           capture_output=True, text=True, timeout=120)
    version = probe.stdout.strip()
    if probe.returncode != 0 or version != "3.0.0":
        return False, f"SCALE-Sim 3.0.0 not importable in {ORACLE_PYTHON}: {probe.stderr[-300:]}"
    return True, ""


def run_oracle(config: ScaleSimConfig, topology: str | os.PathLike, *,
               layers: list[int] | None = None, timeout_s: float = 3600,
               stream_to: str | os.PathLike | None = None, gemm: bool = False) -> list[dict]:
    """Run SCALE-Sim 3.0.0 on ``topology`` with ``config`` in a subprocess (its own venv, trace
    files off, one layer's objects alive at a time). Returns one dict per layer with its report
    numbers (see ``_scalesim_runner.py``). ``stream_to`` appends each layer's JSON line to a file
    as it finishes; ``gemm`` reads the topology in SCALE-Sim's GEMM format."""
    ok, why = oracle_available()
    if not ok:
        raise RuntimeError(why)
    with tempfile.TemporaryDirectory(prefix="gilt-scalesim-") as tmp:
        cfg = write_cfg(config, Path(tmp) / "gilt.cfg")
        cmd = [str(ORACLE_PYTHON), str(RUNNER), str(cfg), str(topology)]
        if layers is not None:
            cmd += ["--layers", ",".join(str(i) for i in layers)]
        if gemm:
            cmd.append("--gemm")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=tmp)
        results = []
        sink = open(stream_to, "a", encoding="utf-8") if stream_to else None
        try:
            for line in proc.stdout:
                results.append(json.loads(line))
                if sink:
                    sink.write(line)
                    sink.flush()
            rc = proc.wait(timeout=timeout_s)
        finally:
            if sink:
                sink.close()
        if rc != 0:
            raise RuntimeError(f"SCALE-Sim oracle failed (exit {rc}): {proc.stderr.read()[-2000:]}")
    return results


#: Columns compared against the oracle (exact equality, floats included).
COMPARED = ("total_cycles", "stall_cycles", "overall_util", "mapping_efficiency", "compute_util",
            "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes")


def compare_rows(ours: dict, oracle: dict) -> list[str]:
    """Names of the compared columns where ``ours`` and ``oracle`` differ (exact)."""
    return [k for k in COMPARED if ours[k] != oracle[k]]


def write_rows_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    """Write dict rows as CSV (atomically), columns from the first row."""
    if not rows:
        raise ValueError("write_rows_csv: no rows to write")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(Path(path), out.getvalue())


if __name__ == "__main__":  # pragma: no cover - convenience
    print(json.dumps(scalesim_layer(read_topology(sys.argv[1])[0], 32, 32, "ws")))
