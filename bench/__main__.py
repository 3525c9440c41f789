"""`make bench`: the bare Flask baseline, then every bench/bench_*.py module, in one
run and under the same gunicorn settings; prints one table of ratios.

Each module exposes `run(env: BenchEnv, baseline: Stats) -> list[dict]` (rows made
with `harness.row`)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from bench.harness import Request, bench_env, load, row

BASELINE_REQUESTS = 6000


def measure_baseline(env):
    url = env.serve("bench.hello:app")
    load(url, [Request("GET", "/hello")], 500)  # warm-up
    return load(url, [Request("GET", "/hello")], BASELINE_REQUESTS)


def bench_modules(selected: list[str]) -> list[str]:
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    return [n for n in names if not selected or any(s in n for s in selected)]


def print_table(rows: list[dict]) -> None:
    columns = ["name", "rps", "ratio", "p50_ms", "p99_ms", "errors", "target", "met"]
    columns += [k for k in dict.fromkeys(k for r in rows for k in r) if k not in columns]
    print(" | ".join(columns))
    for r in rows:
        print(" | ".join(str(r.get(c, "")) for c in columns))


def main(selected: list[str]) -> None:
    rows = []
    with bench_env() as env:
        baseline = measure_baseline(env)
        rows.append(row("bare Flask /hello (baseline)", baseline, baseline))
        for name in bench_modules(selected):
            module = importlib.import_module(f"bench.{name}")
            rows += module.run(env, baseline)
    print_table(rows)
    Path(".spa").mkdir(exist_ok=True)
    Path(".spa/bench.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
