"""Run SCALE-Sim 3.0.0 (the oracle) layer by layer and print its report numbers as JSON lines.

This file is executed by the *oracle* interpreter (``.venv-scalesim/bin/python``), never imported
by gilt: it uses only the standard library and ``scalesim``. It goes through SCALE-Sim's Python
API (``scalesim.scale_sim.scalesim``) to parse the .cfg, topology and (header-only) layout files
exactly as SCALE-Sim does, then runs each layer with ``single_layer_sim`` and drops the layer's
objects once its report items are taken: SCALE-Sim keeps every layer's per-cycle demand matrices
until the end of a run (several GB for ResNet-50), and trace saving is off.

Usage::

    .venv-scalesim/bin/python simulator/npu/_scalesim_runner.py CFG TOPOLOGY.csv [--layers 0,3]
        [--gemm]

One JSON object per layer on stdout (flushed as each layer finishes), with the COMPUTE_REPORT,
DETAILED_ACCESS_REPORT items and the layer's wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import sys
import tempfile
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("topology")
    parser.add_argument("--layers", default="", help="comma-separated layer indices (default all)")
    parser.add_argument("--gemm", action="store_true", help="GEMM topology (Layer, M, N, K)")
    args = parser.parse_args(argv)

    from scalesim.scale_sim import scalesim
    from scalesim.single_layer_sim import single_layer_sim

    with tempfile.TemporaryDirectory() as tmp:
        layout = os.path.join(tmp, "layout.csv")
        with open(layout, "w", encoding="utf-8") as fh:
            fh.write("Layer name,\n")
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=args.config,
                           topology=args.topology, layout=layout, input_type_gemm=args.gemm)
    topo = sim.topo
    n_layers = topo.get_num_layers()
    chosen = ([int(x) for x in args.layers.split(",") if x.strip()] if args.layers
              else list(range(n_layers)))
    for lid in chosen:
        t0 = time.perf_counter()
        layer = single_layer_sim()
        with contextlib.redirect_stdout(io.StringIO()):
            layer.set_params(layer_id=lid, config_obj=sim.config, topology_obj=topo,
                             layout_obj=sim.layout, verbose=False)
            layer.run()
            compute = layer.get_compute_report_items()
            detail = layer.get_detail_report_items()
        wall = time.perf_counter() - t0
        row = {
            "layer_id": lid,
            "name": topo.topo_arrays[lid][0],
            "total_cycles_incl_prefetch": int(compute[0]),
            "total_cycles": int(compute[1]),
            "stall_cycles": int(compute[2]),
            "overall_util": float(compute[3]),
            "mapping_efficiency": float(compute[4]),
            "compute_util": float(compute[5]),
            "sram_ifmap_reads": int(detail[2]),
            "sram_filter_reads": int(detail[5]),
            "sram_ofmap_writes": int(detail[8]),
            "dram_ifmap_reads": int(detail[11]),
            "dram_filter_reads": int(detail[14]),
            "dram_ofmap_writes": int(detail[17]),
            "wall_s": wall,
        }
        print(json.dumps(row), flush=True)
        del layer
        gc.collect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
