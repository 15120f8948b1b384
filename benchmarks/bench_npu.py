"""NPU model vs SCALE-Sim 3.0.0: exact agreement on ResNet-50, and speed.

``python -m benchmarks npu`` (quick, a few minutes at most):

1. compares gilt's ``scalesim`` mode with the stored SCALE-Sim results of all ResNet-50 layers
   x {ws, os, is} x {32x32, 128x128} (``benchmarks/data/npu_scalesim_resnet50.csv``), column by
   column, exact equality (floats included);
2. times gilt on ResNet-50, 32x32, all three dataflows (target: under 1 s in total);
3. runs SCALE-Sim itself on a few layers in the same run and prints the speed ratio.

``python -m benchmarks.bench_npu --record-oracle`` re-runs SCALE-Sim on every layer and stores
its numbers (about half an hour on one core); the file is then checked in.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from simulator.npu import scalesim_compat as sc
from simulator.npu.model import simulate_network
from simulator.npu.search import search_network
from simulator.npu.spec import load_npu_spec

DATA = Path(__file__).with_name("data")
ORACLE_CSV = DATA / "npu_scalesim_resnet50.csv"
COMPARE_CSV = DATA / "npu_scalesim_resnet50_compare.csv"
TOPOLOGY = sc.TOPOLOGIES / "Resnet50.csv"
ARRAYS = ((128, 128), (32, 32))  # 128x128 first: it is the quicker half
SRAM_KIB = {32: 64, 128: 1024}
#: Layers timed live against SCALE-Sim (small and medium ones, so the benchmark stays short).
SPEED_LAYERS = (1, 5, 16, 29, 48)


def oracle_config(rows: int, cols: int, dataflow: str) -> sc.ScaleSimConfig:
    kib = SRAM_KIB[rows]
    return sc.ScaleSimConfig(run_name=f"resnet50_{rows}x{cols}_{dataflow}", array_rows=rows,
                             array_cols=cols, ifmap_sram_kib=kib, filter_sram_kib=kib,
                             ofmap_sram_kib=kib, dataflow=dataflow)


def record_oracle() -> int:
    """Run SCALE-Sim on every layer x dataflow x array; store the CSV (atomically)."""
    partial = DATA / "npu_scalesim_resnet50.partial.jsonl"
    DATA.mkdir(parents=True, exist_ok=True)
    done = set()
    if partial.exists():
        for line in partial.read_text().splitlines():
            row = json.loads(line)
            done.add((row["array"], row["dataflow"]))
    rows_out = []
    for rows, cols in ARRAYS:
        for dataflow in sc.DATAFLOWS:
            tag = f"{rows}x{cols}"
            t0 = time.perf_counter()
            results = sc.run_oracle(oracle_config(rows, cols, dataflow), TOPOLOGY)
            for res in results:
                res.update(array=tag, dataflow=dataflow)
                rows_out.append(res)
            with open(partial, "a", encoding="utf-8") as fh:
                for res in results:
                    fh.write(json.dumps(res) + "\n")
            print(f"SCALE-Sim {tag} {dataflow}: {len(results)} layers in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    keys = ["array", "dataflow", "layer_id", "name"] + [
        k for k in rows_out[0] if k not in ("array", "dataflow", "layer_id", "name")]
    sc.write_rows_csv([{k: r[k] for k in keys} for r in rows_out], ORACLE_CSV)
    partial.unlink(missing_ok=True)
    print(f"stored {len(rows_out)} rows in {ORACLE_CSV}")
    return 0


def _load_oracle() -> list[dict]:
    with open(ORACLE_CSV, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key in sc.COMPARED:
            row[key] = float(row[key]) if "util" in key or "efficiency" in key else int(row[key])
    return rows


def compare_stored() -> tuple[int, int]:
    """(rows agreeing exactly, rows compared) between scalesim mode and the stored oracle."""
    topo = sc.read_topology(TOPOLOGY)
    good = total = 0
    table = []
    for ref in _load_oracle():
        rows, cols = (int(x) for x in ref["array"].split("x"))
        ours = sc.scalesim_layer(topo[int(ref["layer_id"])], rows, cols, ref["dataflow"])
        diff = sc.compare_rows(ours, ref)
        total += 1
        good += not diff
        line = {"array": ref["array"], "dataflow": ref["dataflow"], "layer": ref["name"],
                "exact": not diff}
        for key in sc.COMPARED:
            line[f"scalesim_{key}"] = ref[key]
            line[f"gilt_{key}"] = ours[key]
        table.append(line)
        if diff:
            print(f"  MISMATCH {ref['array']} {ref['dataflow']} {ref['name']}: "
                  + ", ".join(f"{k} gilt={ours[k]} scalesim={ref[k]}" for k in diff))
    sc.write_rows_csv(table, COMPARE_CSV)
    return good, total


def c12_table() -> list[str]:
    """Fixed vs searched mapping on ResNet-50 (the seed's C12 claim), compute-bound (DRAM
    unbounded) and with each preset's DRAM, with and without stationary double buffering."""
    workload = sc.topology_workload(TOPOLOGY)
    lines = ["hardware       dataflow  DRAM        stat.dbuf  fixed  -> best   limits of best"]
    for preset in ("npu-32x32", "npu-128x128", "eyeriss-like"):
        for unbounded in (True, False):
            for sdb in (False, True):
                spec = load_npu_spec(preset).replace(stationary_double_buffer=sdb)
                if unbounded:
                    spec = spec.replace(dram_bw_bytes_per_cycle=1e9)
                for dataflow in ("ws", "os"):
                    rep = search_network(workload, spec.with_dataflow(dataflow))
                    limits: dict[str, int] = {}
                    for item in rep.layers:
                        limits[item.limit] = limits.get(item.limit, 0) + 1
                    lines.append(
                        f"{preset:<15}{dataflow:<10}{'unbounded' if unbounded else 'preset':<12}"
                        f"{'yes' if sdb else 'no':<11}{rep.fixed.utilization:>5.1%} -> "
                        f"{rep.best.utilization:>5.1%}  "
                        + ", ".join(f"{k} {v}" for k, v in sorted(limits.items())))
    return lines


def time_gilt_resnet50(repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds for gilt's scalesim mode and default model on ResNet-50,
    32x32, all three dataflows (topology parsing included)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        topo = sc.read_topology(TOPOLOGY)
        workload = sc.topology_workload(TOPOLOGY)
        for dataflow in sc.DATAFLOWS:
            for row in topo:
                sc.scalesim_layer(row, 32, 32, dataflow)
            spec = load_npu_spec("npu-32x32").with_dataflow(dataflow)
            simulate_network(workload, spec)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record-oracle", action="store_true",
                        help="re-run SCALE-Sim on all layers and store the results")
    args = parser.parse_args(argv or [])
    if args.record_oracle:
        return record_oracle()
    status = 0
    if ORACLE_CSV.exists():
        good, total = compare_stored()
        print(f"scalesim mode vs stored SCALE-Sim 3.0.0 (ResNet-50 layers x ws/os/is x "
              f"32x32/128x128): {good}/{total} rows exact in all {len(sc.COMPARED)} columns")
        status |= good != total
    else:
        print(f"no stored oracle results ({ORACLE_CSV}); run with --record-oracle")
        status = 1
    print("\nC12 (PE utilization 68% -> 89%): fixed mapping vs best per-layer mapping, ResNet-50")
    for line in c12_table():
        print("  " + line)
    gilt_s = time_gilt_resnet50()
    print(f"gilt, ResNet-50 on 32x32, ws+os+is (scalesim mode + default model): {gilt_s:.3f} s "
          f"(target < 1 s)")
    if ORACLE_CSV.exists():
        with open(ORACLE_CSV, encoding="utf-8") as fh:
            stored = list(csv.DictReader(fh))
        wall = sum(float(r["wall_s"]) for r in stored if r["array"] == "32x32")
        if wall:
            print(f"  SCALE-Sim's own layer runs for the same (stored, recorded on this kind of "
                  f"machine): {wall:.0f} s -> gilt is {wall / gilt_s:,.0f}x faster")
    ok, why = sc.oracle_available()
    if not ok:
        print(f"speed ratio skipped: {why}")
        return status
    topo = sc.read_topology(TOPOLOGY)
    for dataflow in sc.DATAFLOWS:
        cfg = oracle_config(32, 32, dataflow)
        t0 = time.perf_counter()
        ref = sc.run_oracle(cfg, TOPOLOGY, layers=list(SPEED_LAYERS))
        oracle_s = time.perf_counter() - t0
        oracle_layer_s = sum(r["wall_s"] for r in ref)
        t0 = time.perf_counter()
        reps = 200
        for _ in range(reps):
            ours = [sc.scalesim_layer(topo[i], 32, 32, dataflow) for i in SPEED_LAYERS]
        gilt_layers_s = (time.perf_counter() - t0) / reps
        exact = sum(not sc.compare_rows(o, r) for o, r in zip(ours, ref))
        print(f"  {dataflow} layers {list(SPEED_LAYERS)}: SCALE-Sim {oracle_s:.2f} s "
              f"({oracle_layer_s:.2f} s in its layer runs), gilt {gilt_layers_s * 1e3:.3f} ms: "
              f"{oracle_layer_s / gilt_layers_s:,.0f}x faster; exact {exact}/{len(ref)}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
