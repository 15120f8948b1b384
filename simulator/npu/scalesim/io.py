"""SCALE-Sim 3.0.0's files: the ``.cfg``, topology and layout CSVs in, its report CSVs out.

Everything SCALE-Sim 3.0.0 reads is read here the way it reads it, and what it would crash on or
silently misread is refused with one error naming the file, section or row and field:

* ``.cfg`` (INI, keys case-insensitive): the sections and keys it requires are required
  (``[layout]`` and ``[sparsity] SparsitySupport`` included: SCALE-Sim fails without them);
  ``Bandwidth`` is read in USER mode only (``auto`` or anything else is fine in CALC mode, where
  SCALE-Sim never reads it); ``UseRamulatorTrace`` is on only for the exact text ``True``, as in
  SCALE-Sim; ``MemoryBanks`` is never read. In USER mode the ifmap and filter SRAM bandwidths are
  the ``[layout]`` bank bandwidths (SCALE-Sim wires them so), which must be divisible by the bank
  counts (SCALE-Sim asserts it).
* topology CSVs, conv or GEMM, with the optional ``N:M`` sparsity field; ``DP`` rows expanded into
  one single-channel layer per channel.
* layout CSVs (its ``-l`` file): parsed and checked as SCALE-Sim parses them.
"""

from __future__ import annotations

import configparser
import csv
import io
import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

from common.files import write_text_atomic
from common.workload import LayerWork, Workload

DATAFLOWS = ("ws", "os", "is")
SPARSE_REPS = ("csr", "csc", "ellpack_block")


# ------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class ScaleSimConfig:
    """A SCALE-Sim 3.0.0 ``.cfg``: every key it reads. Sizes in KiB, bandwidths in words per
    cycle; ``bandwidth_words_per_cycle`` is ``None`` when not given (CALC mode only)."""

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
    bandwidth_words_per_cycle: tuple[int, ...] | None = (10,)
    read_request_buffer: int = 32
    write_request_buffer: int = 32
    interface_bandwidth: str = "CALC"
    use_ramulator_trace: bool = False
    ifmap_custom_layout: bool = False
    ifmap_bank_bandwidth: int = 10
    ifmap_bank_num: int = 10
    ifmap_bank_port: int = 2
    filter_custom_layout: bool = False
    filter_bank_bandwidth: int = 10
    filter_bank_num: int = 10
    filter_bank_port: int = 2
    sparsity_support: bool = False
    sparse_rep: str = "ellpack_block"
    sparsity_optimized_mapping: bool = False
    sparsity_block_size: int = 8
    sparsity_seed: int = 40

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"ScaleSimConfig.{f.name} must be an int, got {value!r}")
        for key in ("array_rows", "array_cols", "ifmap_sram_kib", "filter_sram_kib",
                    "ofmap_sram_kib", "read_request_buffer", "write_request_buffer",
                    "ifmap_bank_bandwidth", "ifmap_bank_num", "ifmap_bank_port",
                    "filter_bank_bandwidth", "filter_bank_num", "filter_bank_port"):
            if getattr(self, key) < 1:
                raise ValueError(f"ScaleSimConfig.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("ifmap_offset", "filter_offset", "ofmap_offset"):
            if getattr(self, key) < 0:
                raise ValueError(f"ScaleSimConfig.{key} must be >= 0 (SCALE-Sim marks empty "
                                 f"slots with address -1), got {getattr(self, key)}")
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"ScaleSimConfig.dataflow must be one of {DATAFLOWS}, got "
                             f"{self.dataflow!r} (SCALE-Sim would warn and silently run 'os')")
        if self.interface_bandwidth not in ("CALC", "USER"):
            raise ValueError("ScaleSimConfig.interface_bandwidth must be 'CALC' or 'USER', "
                             f"got {self.interface_bandwidth!r}")
        self._check_user_mode()
        if self.sparsity_support and self.sparse_rep not in SPARSE_REPS:
            raise ValueError(f"ScaleSimConfig.sparse_rep must be one of {SPARSE_REPS}, got "
                             f"{self.sparse_rep!r}")

    def _check_user_mode(self):
        if self.interface_bandwidth != "USER":
            return
        bws = self.bandwidth_words_per_cycle
        if not bws or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in bws):
            raise ValueError("USER bandwidth mode needs Bandwidth: positive integers, got "
                             f"{bws!r}")
        for name in ("ifmap", "filter"):
            bw = getattr(self, f"{name}_bank_bandwidth")
            banks = getattr(self, f"{name}_bank_num")
            if bw % banks:
                raise ValueError(f"[layout] {name.capitalize()}SRAMBankBandwidth {bw} is not "
                                 f"divisible by {name.capitalize()}SRAMBankNum {banks} (SCALE-Sim "
                                 "asserts it in USER mode)")

    @property
    def user_bandwidth(self) -> bool:
        return self.interface_bandwidth == "USER"

    def replace(self, **changes) -> ScaleSimConfig:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return ScaleSimConfig(**values)


_INT_KEYS = {  # (section, key) -> field; all required
    ("architecture_presets", "ArrayHeight"): "array_rows",
    ("architecture_presets", "ArrayWidth"): "array_cols",
    ("architecture_presets", "IfmapSramSzkB"): "ifmap_sram_kib",
    ("architecture_presets", "FilterSramSzkB"): "filter_sram_kib",
    ("architecture_presets", "OfmapSramSzkB"): "ofmap_sram_kib",
    ("architecture_presets", "IfmapOffset"): "ifmap_offset",
    ("architecture_presets", "FilterOffset"): "filter_offset",
    ("architecture_presets", "OfmapOffset"): "ofmap_offset",
    ("architecture_presets", "ReadRequestBuffer"): "read_request_buffer",
    ("architecture_presets", "WriteRequestBuffer"): "write_request_buffer",
    ("layout", "IfmapSRAMBankBandwidth"): "ifmap_bank_bandwidth",
    ("layout", "IfmapSRAMBankNum"): "ifmap_bank_num",
    ("layout", "IfmapSRAMBankPort"): "ifmap_bank_port",
    ("layout", "FilterSRAMBankBandwidth"): "filter_bank_bandwidth",
    ("layout", "FilterSRAMBankNum"): "filter_bank_num",
    ("layout", "FilterSRAMBankPort"): "filter_bank_port",
}
_TEXT_KEYS = {
    ("general", "run_name"): "run_name",
    ("architecture_presets", "Dataflow"): "dataflow",
    ("run_presets", "InterfaceBandwidth"): "interface_bandwidth",
    ("run_presets", "UseRamulatorTrace"): "use_ramulator_trace",
    ("layout", "IfmapCustomLayout"): "ifmap_custom_layout",
    ("layout", "FilterCustomLayout"): "filter_custom_layout",
    ("sparsity", "SparsitySupport"): "sparsity_support",
}


def read_cfg(path: str | os.PathLike) -> ScaleSimConfig:
    """Read a SCALE-Sim 3.0.0 ``.cfg`` as SCALE-Sim does (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"SCALE-Sim config {str(path)!r} does not exist")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ValueError(f"SCALE-Sim config {str(path)!r} is not a valid INI file: {exc}") from exc

    def get(section: str, key: str) -> str:
        if not parser.has_option(section, key):
            raise ValueError(f"SCALE-Sim config {path.name}: missing [{section}] {key} "
                             "(SCALE-Sim 3.0.0 fails without it)")
        return parser.get(section, key).strip()

    values: dict = {}
    for (section, key), name in _INT_KEYS.items():
        values[name] = _cfg_int(path, f"[{section}] {key}", get(section, key))
    text = {name: get(section, key) for (section, key), name in _TEXT_KEYS.items()}
    values.update(run_name=text["run_name"], dataflow=text["dataflow"],
                  interface_bandwidth=text["interface_bandwidth"],
                  use_ramulator_trace=text["use_ramulator_trace"] == "True",
                  sparsity_support=text["sparsity_support"].lower() == "true")
    for name in ("ifmap_custom_layout", "filter_custom_layout"):
        values[name] = _cfg_bool(path, name, text[name])
    if values["interface_bandwidth"] == "USER":
        raw = get("architecture_presets", "Bandwidth")
        values["bandwidth_words_per_cycle"] = tuple(
            _cfg_int(path, "[architecture_presets] Bandwidth", x) for x in raw.split(","))
    elif values["interface_bandwidth"] != "CALC":
        raise ValueError(f"SCALE-Sim config {path.name}: [run_presets] InterfaceBandwidth must be "
                         f"USER or CALC (case-sensitive), got {text['interface_bandwidth']!r}")
    else:
        values["bandwidth_words_per_cycle"] = None
    if values["sparsity_support"]:
        values.update(_read_sparsity(path, get))
    try:
        return ScaleSimConfig(**values)
    except ValueError as exc:
        raise ValueError(f"SCALE-Sim config {path.name}: {exc}") from None


def _read_sparsity(path: Path, get) -> dict:
    out = {"sparse_rep": get("sparsity", "SparseRep"),
           "sparsity_optimized_mapping": get("sparsity", "OptimizedMapping").lower() == "true",
           "sparsity_seed": _cfg_int(path, "[sparsity] RandomNumberGeneratorSeed",
                                     get("sparsity", "RandomNumberGeneratorSeed"))}
    if out["sparsity_optimized_mapping"]:
        out["sparsity_block_size"] = _cfg_int(path, "[sparsity] BlockSize",
                                              get("sparsity", "BlockSize"))
    return out


def _cfg_int(path: Path, where: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"SCALE-Sim config {path.name}: {where} must be an integer, "
                         f"got {raw!r}") from None


def _cfg_bool(path: Path, where: str, raw: str) -> bool:
    states = configparser.ConfigParser.BOOLEAN_STATES
    if raw.lower() not in states:
        raise ValueError(f"SCALE-Sim config {path.name}: [layout] {where} must be a boolean, "
                         f"got {raw!r}")
    return states[raw.lower()]


def write_cfg(config: ScaleSimConfig, path: str | os.PathLike) -> Path:
    """Write ``config`` as a SCALE-Sim 3.0.0 ``.cfg`` that SCALE-Sim itself parses (atomic)."""
    c = config
    bws = c.bandwidth_words_per_cycle
    lines = ["[general]", f"run_name = {c.run_name}", "", "[architecture_presets]"]
    for (section, key), name in _INT_KEYS.items():
        if section == "architecture_presets":
            lines.append(f"{key} : {getattr(c, name)}")
    lines += [f"Dataflow : {c.dataflow}",
              "Bandwidth : " + (",".join(str(b) for b in bws) if bws else "auto"),
              "MemoryBanks : 1", "", "[layout]",
              f"IfmapCustomLayout : {c.ifmap_custom_layout}",
              f"FilterCustomLayout : {c.filter_custom_layout}"]
    for (section, key), name in _INT_KEYS.items():
        if section == "layout":
            lines.append(f"{key} : {getattr(c, name)}")
    lines += ["", "[sparsity]", f"SparsitySupport : {str(c.sparsity_support).lower()}",
              f"SparseRep : {c.sparse_rep}",
              f"OptimizedMapping : {str(c.sparsity_optimized_mapping).lower()}",
              f"BlockSize : {c.sparsity_block_size}",
              f"RandomNumberGeneratorSeed : {c.sparsity_seed}", "", "[run_presets]",
              f"InterfaceBandwidth : {c.interface_bandwidth}",
              f"UseRamulatorTrace : {'True' if c.use_ramulator_trace else 'False'}", ""]
    return write_text_atomic(Path(path), "\n".join(lines))


# ---------------------------------------------------------------------------------- topology
@dataclass(frozen=True)
class TopologyRow:
    """One SCALE-Sim layer: ifmap ``h x w`` (already padded), filter ``r x s``, ``channels``,
    ``filters``, strides, and the ``N:M`` structured-sparsity ratio of its weights (used only
    with ``SparsitySupport``). Output size is SCALE-Sim's ``ceil((h - r + stride) / stride)``."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride_h: int
    stride_w: int
    sparsity_n: int = 1
    sparsity_m: int = 1

    @property
    def ofmap_h(self) -> int:
        return math.ceil((self.ifmap_h - self.filter_h + self.stride_h) / self.stride_h)

    @property
    def ofmap_w(self) -> int:
        return math.ceil((self.ifmap_w - self.filter_w + self.stride_w) / self.stride_w)

    @property
    def window(self) -> int:
        return self.filter_h * self.filter_w * self.channels

    @property
    def macs(self) -> int:
        return self.ofmap_h * self.ofmap_w * self.window * self.filters

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


_CONV_FIELDS = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")


#: Sanity limits of a topology or layout: layers after depthwise expansion, and any one field
#: (a depthwise row of 10^9 channels would otherwise expand for hours).
MAX_TOPOLOGY_LAYERS = 100_000
MAX_TOPOLOGY_FIELD = 2**24


def read_topology(path: str | os.PathLike, *, gemm: bool = False) -> list[TopologyRow]:
    """Read a SCALE-Sim topology CSV exactly as SCALE-Sim 3.0.0 does.

    Conv format: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
    Num Filter, Strides[, N:M],`` (first row is a header; blank rows skipped; the last field of
    every row is dropped, hence the trailing comma). GEMM format (``gemm=True``, SCALE-Sim
    ``-i gemm``): ``Layer, M, N, K[, N:M],`` mapped as SCALE-Sim does to an ``M x K`` ifmap,
    ``1 x K`` filter, one channel and ``N`` filters. A conv row whose name contains ``DP`` is a
    depthwise layer, expanded into ``Channels`` layers ``<name>Channel_<i>`` of one channel each.
    Bad rows raise ValueError naming the file, the row and the field."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"topology {str(path)!r} does not exist")
    rows: list[TopologyRow] = []
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for lineno, line in enumerate(lines[1:], start=2):
        line = line.strip()
        if line:
            rows += _topology_line(path.name, lineno, line, gemm)
            _check_layer_count(f"topology {path.name} line {lineno}", len(rows))
    if not rows:
        raise ValueError(f"topology {path.name}: no layers")
    return rows


def _topology_line(fname: str, lineno: int, line: str, gemm: bool) -> list[TopologyRow]:
    elems = [e.strip() for e in line.split(",")[:-1]]
    where = f"topology {fname} line {lineno}"
    n_fields = 4 if gemm else 8
    if len(elems) < n_fields or len(elems) > n_fields + 1:
        layout = ("Layer, M, N, K[, N:M]," if gemm else "Layer name, IFMAP Height, IFMAP Width, "
                  "Filter Height, Filter Width, Channels, Num Filter, Strides[, N:M],")
        raise ValueError(f"{where}: expected {n_fields} fields (or {n_fields + 1} with an N:M "
                         f"sparsity ratio) each followed by a comma ({layout}), got {line!r}")
    n, m = _sparsity_field(where, elems[n_fields] if len(elems) > n_fields else "1:1")
    name = elems[0]
    if gemm:
        mm, nn, kk = (_int_field(where, f, v) for f, v in zip(("M", "N", "K"), elems[1:4]))
        return [_checked_row(where, TopologyRow(name, mm, kk, 1, kk, 1, nn, 1, 1, n, m))]
    h, w, r, s, c, filt, stride = (_int_field(where, f, v) for f, v in
                                   zip(_CONV_FIELDS, elems[1:8]))
    if "DP" in name:
        _check_layer_count(where, c)
        return [_checked_row(where, TopologyRow(f"{name}Channel_{ch}", h, w, r, s, 1, filt,
                                                stride, stride, n, m)) for ch in range(c)]
    return [_checked_row(where, TopologyRow(name, h, w, r, s, c, filt, stride, stride, n, m))]


def _sparsity_field(where: str, text: str) -> tuple[int, int]:
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"{where}: the sparsity field must be an N:M ratio such as 2:4, "
                         f"got {text!r}")
    n, m = int(parts[0]), int(parts[1])
    if not 1 <= n <= m:
        raise ValueError(f"{where}: sparsity ratio {text!r} needs 1 <= N <= M")
    return n, m


def _int_field(where: str, field_name: str, value: str) -> int:
    try:
        out = int(value)
    except ValueError:
        raise ValueError(f"{where}: {field_name} must be a positive integer, got {value!r}"
                         ) from None
    if not 1 <= out <= MAX_TOPOLOGY_FIELD:
        raise ValueError(f"{where}: {field_name} must be an integer in 1..{MAX_TOPOLOGY_FIELD}, "
                         f"got {value!r}")
    return out


def _check_layer_count(where: str, layers: int) -> None:
    if layers > MAX_TOPOLOGY_LAYERS:
        raise ValueError(f"{where}: the topology expands into {layers:,} layers (a depthwise "
                         f"'DP' row makes one per channel); at most {MAX_TOPOLOGY_LAYERS:,}")


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


def read_layout(path: str | os.PathLike) -> list[list[int]]:
    """Read a SCALE-Sim layout CSV (its ``-l`` file) as SCALE-Sim parses it: header skipped,
    blank rows skipped, the last field of each row dropped, ``DP`` rows expanded, every field
    after the name an integer. SCALE-Sim reads only the first row's factors and orders (for
    every layer) and only when a ``[layout]`` custom layout is on."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"layout {str(path)!r} does not exist")
    rows: list[list[int]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines[1:], start=2):
        line = line.strip()
        if not line:
            continue
        elems = [e.strip() for e in line.split(",")[:-1]]
        where = f"layout {path.name} line {lineno}"
        values = [_int_field(where, f"field {i + 1}", v) if i else 0 for i, v in enumerate(elems)]
        copies = values[5] if "DP" in elems[0] and len(values) > 5 else 1
        _check_layer_count(where, len(rows) + copies)
        rows += [values[1:]] * copies
    return rows


# ------------------------------------------------------------------------------ report files
#: SCALE-Sim 3.0.0's report headers, as it writes them (each line ends with ",\n").
COMPUTE_REPORT_HEADER = ("LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, "
                         "Overall Util %, Mapping Efficiency %, Compute Util %,")
BANDWIDTH_REPORT_HEADER = ("LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, "
                           "Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,")
BANDWIDTH_REPORT_HEADER_SPARSE = (
    "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg FILTER Metadata SRAM BW, "
    "Avg OFMAP SRAM BW, Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,")
DETAIL_REPORT_HEADER = (
    "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, "
    "SRAM Filter Start Cycle, SRAM Filter Stop Cycle, SRAM Filter Reads, "
    "SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, "
    "DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, "
    "DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, "
    "DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,")
SPARSE_REPORT_HEADER = ("LayerID, Sparsity Representation, Original Filter Storage, "
                        "New Storage (Filter+Metadata), Filter Metadata Storage, "
                        "Avg FILTER Metadata SRAM BW, ")
REPORT_FILES = {"compute": "COMPUTE_REPORT.csv", "bandwidth": "BANDWIDTH_REPORT.csv",
                "detail": "DETAILED_ACCESS_REPORT.csv", "sparse": "SPARSE_REPORT.csv"}


def report_text(kind: str, items_per_layer: list[list[str]], *, sparse: bool = False,
                sparse_rep: str = "") -> str:
    """One SCALE-Sim report file's text from each layer's items (already ``str()``-ed, as
    SCALE-Sim writes them)."""
    header = {"compute": COMPUTE_REPORT_HEADER, "detail": DETAIL_REPORT_HEADER,
              "bandwidth": BANDWIDTH_REPORT_HEADER_SPARSE if sparse else BANDWIDTH_REPORT_HEADER,
              "sparse": SPARSE_REPORT_HEADER}[kind]
    out = [header + "\n"]
    for lid, items in enumerate(items_per_layer):
        prefix = f"{lid}, " + (f"{sparse_rep}, " if kind == "sparse" else "")
        out.append(prefix + ", ".join(items) + ",\n")
    return "".join(out)


def write_rows_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    """Write dict rows as CSV (atomically), columns from the first row."""
    if not rows:
        raise ValueError("write_rows_csv: no rows to write")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(Path(path), out.getvalue())
