"""SCALE-Sim 3.0.0 compatibility mode: its files in, its reports out, its numbers exactly.

* :mod:`.io`: ``.cfg``, topology and layout files read as SCALE-Sim reads them; report CSVs.
* :mod:`.model`: one layer's report items (compute side in closed form, :mod:`.memory` replay).
* :mod:`.memory`: the double-buffered SRAMs, DRAM traffic and stalls (CALC and USER modes).
* :mod:`.operands`, :mod:`.sparsity`: SCALE-Sim's operand address matrices, N:M sparsity.
* :mod:`.multicore`: a layer split over cores (SCALE-Sim v3's multi-core front end).
* :mod:`.oracle`: SCALE-Sim itself in a subprocess, for tests and benchmarks.
"""
