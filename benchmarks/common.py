"""Shared benchmark plumbing: timing with medians, and the printed table."""

from __future__ import annotations

import platform
import statistics
import time
from typing import Callable, Iterable


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median(xs: Iterable[float]) -> float:
    return float(statistics.median(list(xs)))


def p95(xs: Iterable[float]) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(0.95 * (len(xs) - 1)))))
    return float(xs[k])


def machine() -> str:
    import os

    import torch

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def format_table(rows: list[dict]) -> str:
    cols = ["benchmark", "metric", "value", "unit", "target", "note"]
    cols = [c for c in cols if any(c in r for r in rows)]
    cells = [[_fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join([line, sep, *body])


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def rss_mb(pid: int | str = "self", key: str = "VmRSS") -> float:
    """Resident memory of a process in MB from /proc (VmHWM: its peak); NaN where /proc is absent."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class PeakRSS:
    """Peak resident memory of this process while the block runs, sampled every `interval` s.

    ru_maxrss only ever grows over a process's life, so it cannot tell one benchmark's peak from an
    earlier one's; a sampler thread can (it misses spikes shorter than `interval`).
    """

    def __init__(self, interval: float = 0.02):
        self.interval, self.peak, self.start = interval, float("nan"), float("nan")

    def __enter__(self) -> "PeakRSS":
        import threading

        self.start = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())
