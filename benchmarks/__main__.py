import importlib
import pkgutil
import sys
import time

import benchmarks


def main(argv: list[str]) -> int:
    found = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(benchmarks.__path__)
                   if m.name.startswith("bench_"))
    chosen = argv or found
    unknown = [name for name in chosen if name not in found]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {found}", file=sys.stderr)
        return 2
    status = 0
    for name in chosen:
        print(f"\n=== benchmark {name} ===", flush=True)
        t0 = time.perf_counter()
        rc = importlib.import_module(f"benchmarks.bench_{name}").main() or 0
        print(f"=== {name}: {'ok' if rc == 0 else f'exit {rc}'} in {time.perf_counter() - t0:.1f} s")
        status = status or rc
    return status


raise SystemExit(main(sys.argv[1:]))
