"""`make bench` / `python -m bench [name ...]`: run benchmarks, print ratios, save JSON."""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

BENCHES = ["bench_configuration_versions", "bench_runs", "bench_cli", "bench_tasks", "bench_jobs",
           "bench_isolation", "bench_boundary", "bench_reliability",
           "bench_archives", "bench_variables", "bench_organizations", "bench_package",
           "bench_opentofu", "bench_consul", "bench_agents", "bench_console"]


def main(argv: list[str]) -> int:
    names = argv or BENCHES
    out = {}
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        results = module.run()
        out[name] = results
        print(module.report(results), flush=True)
    Path(".terraless").mkdir(exist_ok=True)
    Path(".terraless/bench-results.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
