"""Run SCALE-Sim 3.0.0 (the oracle) layer by layer and print its report rows as JSON lines.

This file is executed by the *oracle* interpreter (``.venv-scalesim/bin/python``), never imported
by gilt: it uses only the standard library, numpy and ``scalesim``. It goes through SCALE-Sim's
Python API (``scalesim.scale_sim.scalesim``) so that the .cfg, topology and layout files are parsed
exactly as SCALE-Sim parses them, then runs each layer with ``single_layer_sim`` and drops the
layer's objects once its report items are taken: SCALE-Sim keeps every layer's per-cycle demand
matrices until the end of a run (several GB for ResNet-50), and trace saving is off.

Usage::

    .venv-scalesim/bin/python simulator/npu/_scalesim_runner.py CFG TOPOLOGY.csv [LAYOUT.csv]
        [--layers 0,3] [--gemm] [--cores IxF]

One JSON object per layer on stdout (flushed as each layer finishes). ``compute``,
``bandwidth``, ``detail`` and ``sparse`` hold each report's items as the strings SCALE-Sim writes
into COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv, DETAILED_ACCESS_REPORT.csv and SPARSE_REPORT.csv
(``str()`` of each item); ``wall_s`` and ``cpu_s`` are the layer's wall and CPU
time.

``--cores IxF`` runs each layer split over ``I * F`` cores the way SCALE-Sim v3's multi-core
front end (Krittika) splits a matmul layer: the ifmap operand's rows (output pixels) into ``I``
equal parts (ceil), the filter operand's columns into ``F`` parts; each part runs through
SCALE-Sim's own compute and double-buffered memory classes with the config's per-core SRAMs.
One JSON object per core then, with ``core`` set.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import math
import os
import sys
import tempfile
import time

# gilt has a package named ``scalesim`` beside this file (simulator/npu/scalesim/): never let the
# script's own directory shadow SCALE-Sim's package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]


def _items(values) -> list[str]:
    return [str(v) for v in values]


def _layer_row(layer, lid: int, name: str, sparse: bool, wall: float) -> dict:
    row = {"layer_id": lid, "name": name, "wall_s": wall,
           "compute": _items(layer.get_compute_report_items()),
           "bandwidth": _items(layer.get_bandwidth_report_items()),
           "detail": _items(layer.get_detail_report_items())}
    if sparse:
        row["sparse"] = _items(layer.get_sparse_report_items())
    return row


def run_layers(sim, chosen, sparse: bool) -> None:
    from scalesim.single_layer_sim import single_layer_sim

    topo = sim.topo
    for lid in chosen:
        t0, c0 = time.perf_counter(), time.process_time()
        layer = single_layer_sim()
        with contextlib.redirect_stdout(io.StringIO()):
            layer.set_params(layer_id=lid, config_obj=sim.config, topology_obj=topo,
                             layout_obj=sim.layout, verbose=False)
            layer.run()
            row = _layer_row(layer, lid, topo.topo_arrays[lid][0], sparse, 0.0)
        row["wall_s"] = time.perf_counter() - t0
        row["cpu_s"] = time.process_time() - c0
        print(json.dumps(row), flush=True)
        del layer
        gc.collect()


def _core_items(compute, memory, num_compute: int, pes: int) -> dict:
    total = memory.get_total_compute_cycles()
    stall = memory.get_stall_cycles()
    ifmap_reads = compute.get_ifmap_requests()
    filter_reads = compute.get_filter_requests()
    ofmap_writes = compute.get_ofmap_requests()
    sram = [*memory.get_ifmap_sram_start_stop_cycles(), ifmap_reads,
            *memory.get_filter_sram_start_stop_cycles(), filter_reads,
            *memory.get_ofmap_sram_start_stop_cycles(), ofmap_writes]
    dram = [*memory.get_ifmap_dram_details(), *memory.get_filter_dram_details(),
            *memory.get_ofmap_dram_details()]
    incl = int(dram[7] - min(dram[0], dram[3]))
    bw = [ifmap_reads / total, filter_reads / total, ofmap_writes / total,
          dram[2] / (dram[1] - dram[0] + 1), dram[5] / (dram[4] - dram[3] + 1),
          dram[8] / (dram[7] - dram[6] + 1)]
    return {"compute": _items([incl, total, stall, num_compute * 100 / (total * pes),
                               compute.get_avg_mapping_efficiency() * 100,
                               compute.get_avg_compute_utilization() * 100]),
            "bandwidth": _items(bw), "detail": _items(sram + dram)}


def run_multicore(sim, chosen, parts: tuple[int, int]) -> None:
    """Krittika's matmul split of each layer over ``parts[0] * parts[1]`` cores."""
    from scalesim.compute.operand_matrix import operand_matrix
    from scalesim.compute.systolic_compute_is import systolic_compute_is
    from scalesim.compute.systolic_compute_os import systolic_compute_os
    from scalesim.compute.systolic_compute_ws import systolic_compute_ws
    from scalesim.memory.double_buffered_scratchpad_mem import double_buffered_scratchpad

    cfg = sim.config
    computes = {"os": systolic_compute_os, "ws": systolic_compute_ws, "is": systolic_compute_is}
    rows, cols = cfg.get_array_dims()
    user = cfg.use_user_dram_bandwidth()
    for lid in chosen:
        t0 = time.perf_counter()
        opmat = operand_matrix()
        opmat.set_params(config_obj=cfg, topoutil_obj=sim.topo, layoututil_obj=sim.layout,
                         layer_id=lid)
        _, ifmap = opmat.get_ifmap_matrix()
        _, filt = opmat.get_filter_matrix()
        _, ofmap = opmat.get_ofmap_matrix()
        in_per = math.ceil(ifmap.shape[0] / parts[0])
        f_per = math.ceil(filt.shape[1] / parts[1])
        core = 0
        for ip in range(parts[0]):
            r0, r1 = ip * in_per, min((ip + 1) * in_per, ifmap.shape[0])
            for fp in range(parts[1]):
                c0, c1 = fp * f_per, min((fp + 1) * f_per, filt.shape[1])
                with contextlib.redirect_stdout(io.StringIO()):
                    comp = computes[cfg.get_dataflow()]()
                    comp.set_params(config_obj=cfg, ifmap_op_mat=ifmap[r0:r1, :],
                                    filter_op_mat=filt[:, c0:c1], ofmap_op_mat=ofmap[r0:r1, c0:c1])
                    pre_i, pre_f = comp.get_prefetch_matrices()
                    dem = comp.get_demand_matrices()
                    mem, kib = double_buffered_scratchpad(), cfg.get_mem_sizes()
                    bws = cfg.get_bandwidths_as_list() if user else None
                    mem.set_params(
                        layer_id=lid, verbose=False, estimate_bandwidth_mode=not user,
                        ifmap_buf_size_bytes=1024 * kib[0], filter_buf_size_bytes=1024 * kib[1],
                        ofmap_buf_size_bytes=1024 * kib[2],
                        rd_buf_active_frac=0.5, wr_buf_active_frac=0.5,
                        ifmap_backing_buf_bw=cfg.ifmap_sram_bank_bandwidth if user else 10,
                        filter_backing_buf_bw=cfg.filter_sram_bank_bandwidth if user else 10,
                        ofmap_backing_buf_bw=bws[0] if user else cols,
                        ifmap_sram_bank_num=cfg.ifmap_sram_bank_num,
                        ifmap_sram_bank_port=cfg.ifmap_sram_bank_port,
                        filter_sram_bank_num=cfg.filter_sram_bank_num,
                        filter_sram_bank_port=cfg.filter_sram_bank_port,
                        config=cfg, topo=sim.topo)
                    if user:
                        mem.set_read_buf_prefetch_matrices(ifmap_prefetch_mat=pre_i,
                                                           filter_prefetch_mat=pre_f)
                    mem.service_memory_requests(*dem)
                    macs = (r1 - r0) * (c1 - c0) * ifmap.shape[1]
                    row = {"layer_id": lid, "core": core, "name": sim.topo.topo_arrays[lid][0],
                           **_core_items(comp, mem, macs, rows * cols)}
                row["wall_s"] = time.perf_counter() - t0
                print(json.dumps(row), flush=True)
                core += 1
                del comp, mem, dem
                gc.collect()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("topology")
    parser.add_argument("layout", nargs="?", default="",
                        help="SCALE-Sim layout CSV (default: a header-only file)")
    parser.add_argument("--layers", default="", help="comma-separated layer indices (default all)")
    parser.add_argument("--gemm", action="store_true", help="GEMM topology (Layer, M, N, K)")
    parser.add_argument("--cores", default="", help="IxF: multi-core split (Krittika's)")
    args = parser.parse_args(argv)

    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory() as tmp:
        layout = args.layout
        if not layout:
            layout = os.path.join(tmp, "layout.csv")
            with open(layout, "w", encoding="utf-8") as fh:
                fh.write("Layer name,\n")
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=args.config,
                           topology=args.topology, layout=layout, input_type_gemm=args.gemm)
    n_layers = sim.topo.get_num_layers()
    chosen = ([int(x) for x in args.layers.split(",") if x.strip()] if args.layers
              else list(range(n_layers)))
    if args.cores:
        parts = tuple(int(x) for x in args.cores.lower().split("x"))
        run_multicore(sim, chosen, parts)
    else:
        run_layers(sim, chosen, bool(sim.config.sparsity_support))
    return 0


if __name__ == "__main__":
    sys.exit(main())
