"""Read a VCD written by the array's Icarus run and draw a waveform excerpt with matplotlib.

``python -m validation.rtl.waves --out docs/figures/rtl_waves.png`` runs one small layer on a 4x4
WS array under Icarus with a VCD dump and draws the controller state, the array's edge signals
and the PE-busy count over the first cycles (the figure of docs/rtl.md).
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

#: signals drawn (top-level names of gilt_sa), in order
SIGNALS = ("start", "state", "wload_q", "wrow_q", "step_q", "gate_q", "fire_vec", "cnt_busy",
           "done")
STATE_NAMES = {0: "IDLE", 1: "SCAN", 2: "PRE", 3: "STREAM", 4: "WAIT", 5: "FLUSH", 6: "DONE"}


def parse_vcd(text: str, names: tuple[str, ...] = SIGNALS) -> dict[str, list[tuple[int, str]]]:
    """``{signal: [(time, binary value string), ...]}`` of the named top-level signals (the
    first scope that declares each name). Values with x/z are kept as written."""
    ids: dict[str, str] = {}
    for code, name in re.findall(r"\$var\s+\w+\s+\d+\s+(\S+)\s+(\w+)(?:\s+\[[^\]]*\])?\s+\$end",
                                 text):
        if name in names and name not in ids.values():
            ids.setdefault(code, name)
    changes: dict[str, list[tuple[int, str]]] = {n: [] for n in ids.values()}
    body = text[text.index("$enddefinitions"):]
    time, pending = 0, None
    for token in body.split():
        if pending is not None:           # the identifier after a vector value
            if token in ids:
                changes[ids[token]].append((time, pending))
            pending = None
        elif token[0] in "bB":
            pending = token[1:]
        elif token.startswith("#") and token[1:].isdigit():
            time = int(token[1:])
        elif token[0] in "01xzXZ" and token[1:] in ids:
            changes[ids[token[1:]]].append((time, token[0]))
    return changes


def _value(bits: str) -> int | None:
    return None if any(c in "xzXZ" for c in bits) else int(bits, 2)


def sample(changes: list[tuple[int, str]], times: list[int]) -> list[int | None]:
    """The signal's value at each of ``times`` (last change at or before)."""
    out, i, cur = [], 0, None
    for t in times:
        while i < len(changes) and changes[i][0] <= t:
            cur = _value(changes[i][1])
            i += 1
        out.append(cur)
    return out


def plot(vcd_path: str | Path, out: str | Path, *, cycles: int = 60, step: int = 2) -> Path:
    """Draw ``cycles`` clock cycles from the rising edge of ``start`` (2 time steps a cycle)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.files import save_figure

    waves = parse_vcd(Path(vcd_path).read_text())
    start = next((t for t, v in waves["start"] if v == "1"), 0)
    times = [start + step * i + 1 for i in range(cycles)]  # mid-cycle samples
    rows = [s for s in SIGNALS if s in waves]
    fig, axes = plt.subplots(len(rows), 1, figsize=(11, 0.55 * len(rows) + 0.8), sharex=True)
    for ax, name in zip(axes, rows):
        vals = sample(waves[name], times)
        if name == "fire_vec":
            vals = [None if v is None else bin(v).count("1") for v in vals]
            label = "PEs firing"
        else:
            label = name
        xs = list(range(cycles))
        ys = [0 if v is None else v for v in vals]
        if name == "cnt_busy":
            ax.plot(xs, ys, color="tab:green")
            ax.set_yticks([0, max(ys)])
            ax.tick_params(labelsize=6)
        elif name in ("start", "wload_q", "step_q", "gate_q", "done"):
            ax.step(xs, ys, where="post", color="tab:blue")
            ax.set_ylim(-0.2, 1.3)
            ax.set_yticks([])
        else:
            ax.step(xs, ys, where="post", color="tab:gray", alpha=0.4)
            prev = object()
            for x, v in zip(xs, vals):
                if v != prev:
                    text = STATE_NAMES.get(v, v) if name == "state" else v
                    ax.text(x + 0.1, (max(ys) or 1) * 0.35, str(text), fontsize=6)
                    prev = v
            ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[-1].set_xlabel("cycle after start")
    fig.suptitle("gilt_sa 4x4 WS: preload, stream, wait, preload ... (Icarus VCD)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, Path(out))


def main(argv: list[str] | None = None) -> int:
    from validation.cases import OperatorCase
    from validation.manifest import WriteOptions, golden_files, write_tree_atomic
    from validation.rtl.build import ArrayParams
    from validation.rtl.driver import load_layer, run_layer

    parser = argparse.ArgumentParser(prog="python -m validation.rtl.waves",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures/rtl_waves.png"))
    parser.add_argument("--vcd", type=Path, help="also keep the VCD here")
    args = parser.parse_args(argv)
    case = OperatorCase.parse("conv2d", {"c": 6, "h": 3, "w": 4, "k": 6, "r": 1, "s": 1,
                                         "p": 0}, seed=1)
    options = WriteOptions(formats=("npy", "hex"), word_bits=32)
    with tempfile.TemporaryDirectory() as tmp:
        _, files = golden_files(case.describe(), case.tensors(), options)
        layer = load_layer(write_tree_atomic(Path(tmp) / case.name, files))
        vcd = args.vcd or Path(tmp) / "waves.vcd"
        run = run_layer(layer, ArrayParams(4, 4, "ws"), "icarus", vcd=vcd)
        print(f"{case.name}: bit-exact {run.passed}, cycles {run.counters['cycles']} "
              f"(model {run.model['cycles']})")
        print(plot(vcd, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
