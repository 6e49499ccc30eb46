"""aumdf.progress: bars only on a terminal and outside CI; the entry points' --no-progress switch."""

from __future__ import annotations

import io
import sys

import pytest

from aumdf import progress as P


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch):
    """A function that puts a fake terminal in place of stderr (call it in the test: pytest swaps stderr
    for its own capture between fixture setup and the test call)."""
    monkeypatch.delenv("CI", raising=False)

    def swap() -> _Terminal:
        out = _Terminal()
        monkeypatch.setattr(sys, "stderr", out)
        return out

    return swap


def test_a_terminal_gets_a_bar_with_rate_and_eta(terminal):
    terminal = terminal()
    items = list(range(5))
    wrapped = P.progress(items, "scoring", unit="pass", leave=True)
    assert wrapped is not items and list(wrapped) == items
    b = P.bar(3, "extracting", unit="clip")
    b.update(3)
    b.close()
    text = terminal.getvalue()
    assert "scoring" in text and "5/5" in text and "pass/s" in text and "<" in text  # count, rate, elapsed<ETA
    assert "extracting" in text and "3/3" in text and "clip/s" in text


@pytest.mark.parametrize("why", ["ci", "not a terminal", "switched off"])
def test_no_bar_in_ci_logs_redirected_runs_or_when_switched_off(terminal, monkeypatch, why):
    terminal, enabled = terminal(), True
    if why == "ci":
        monkeypatch.setenv("CI", "true")
    elif why == "not a terminal":
        monkeypatch.setattr(sys, "stderr", io.StringIO())
    else:
        enabled = False
    items = [1, 2, 3]
    assert P.progress(items, "x", enabled=enabled) is items
    b = P.bar(3, "x", enabled=enabled)
    b.update(3)
    b.close()
    assert isinstance(b, P.NoBar) and terminal.getvalue() == ""


@pytest.mark.parametrize("module, argv", [
    ("train.extract", ["--clips", "c", "--transcripts", "t.csv", "--out", "o"]),
    ("train.evaluate", ["--dataset", "mosi", "--checkpoint", "runs/x"]),
    ("train.demo.evaluate", ["--checkpoint", "runs/x"]),
])
def test_entry_points_have_a_progress_switch(module, argv):
    import importlib

    from aumdf.cli import parse_config

    mod = importlib.import_module(module)
    config = {"train.extract": "ExtractConfig", "train.evaluate": "EvalConfig",
              "train.demo.evaluate": "DemoEvalConfig"}[module]
    cls = getattr(mod, config)
    assert parse_config(cls, argv).progress is True
    assert parse_config(cls, [*argv, "--no-progress"]).progress is False
