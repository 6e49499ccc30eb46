"""Progress bars with rate and ETA for long loops (extraction, training, evaluation), quiet in logs.

A bar is shown only when asked for (`enabled`, e.g. a config's `progress` field / `--no-progress`),
when stderr is a terminal, and when `$CI` is unset: a CI log or a redirected run gets no carriage-return
noise. Otherwise the iterable comes back as it is. This module imports nothing of the project, so
every floor may use it.
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def wanted(enabled: bool = True) -> bool:
    """Whether a bar would be drawn: asked for, stderr is a terminal, and not under CI."""
    return bool(enabled) and not os.environ.get("CI") and sys.stderr.isatty()


def progress(it: Iterable[T], desc: str = "", total: int | None = None, unit: str = "it", enabled: bool = True,
             leave: bool = False) -> Iterator[T] | Iterable[T]:
    """`it` wrapped in a tqdm bar (count, rate, ETA) when `wanted(enabled)`, else `it` unchanged."""
    if not wanted(enabled):
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, total=total, unit=unit, leave=leave, dynamic_ncols=True, file=sys.stderr)


class NoBar:
    """What `bar()` returns when no bar is wanted: update and close do nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def bar(total: int, desc: str = "", unit: str = "it", enabled: bool = True, leave: bool = True):
    """A manual bar (`.update(n)`, `.close()`) for work that completes out of order, e.g. a process pool."""
    if not wanted(enabled):
        return NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True, file=sys.stderr)
