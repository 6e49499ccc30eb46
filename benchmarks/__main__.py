"""`python -m benchmarks`: every performance figure the project promises, as one table.

Runs each `benchmarks/bench_*.py` module's `run(repeats)`; `--only model,extract` picks some,
`--json FILE` also writes the rows with the machine they were measured on. After each benchmark
a "peak RSS" row gives the process's peak resident memory while it ran (sampled; see common.PeakRSS).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import resource
import sys
import time
import traceback
from pathlib import Path

import benchmarks
from benchmarks.common import PeakRSS, format_table, machine


def available() -> list[str]:
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(available())}")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per figure (the median is reported)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON to this file")
    args = ap.parse_args(argv)

    names = [n for n in args.only.split(",") if n] or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        ap.error(f"unknown benchmarks {unknown}; choose from {available()}")
    rows, failed = [], []
    for name in names:
        t0 = time.perf_counter()
        try:
            with PeakRSS() as mem:
                mod = importlib.import_module(f"benchmarks.bench_{name}")
                rows.extend(mod.run(repeats=args.repeats))
            rows.append({"benchmark": f"{name}: benchmark process", "metric": "peak RSS", "value": mem.peak,
                         "unit": "MB", "note": f"{mem.start:.0f} MB before it (child processes not included)"})
        except Exception as e:  # one broken benchmark must not hide the others' figures
            failed.append(name)
            rows.append({"benchmark": name, "metric": "error", "value": "", "unit": "", "note": f"{type(e).__name__}: {e}"})
            traceback.print_exc(file=sys.stderr)
        print(f"[{name}] {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append({"benchmark": "whole benchmark process", "metric": "peak RSS", "value": peak_mb, "unit": "MB"})
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"Machine: {machine()}; measured {date}, medians of {args.repeats} runs")
    print(format_table(rows))
    if args.json:
        doc = {"machine": machine(), "date": date, "repeats": args.repeats, "rows": rows}
        args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
