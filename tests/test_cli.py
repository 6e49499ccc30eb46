"""aumdf.cli: a config dataclass becomes a command line, and back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from aumdf.cli import arg, build_parser, command_line, from_dict, parse_config, to_dict


@dataclass
class Cfg:
    clip: str = arg("", "one clip", positional=True)
    epochs: int = arg(20, "epochs per phase")
    lr: float = arg(1e-3, "learning rate")
    out: Path | None = arg(None, "output folder")
    limit: int | None = arg(None, "at most N")
    max_lens: tuple[int, int, int] = arg((25, 150, 100), "text audio vision")
    rates: tuple[float, ...] = arg((0.0, 0.5), "drop rates")
    seeds: tuple[int, ...] = arg((), "seeds")
    mode: Literal["fast", "slow"] = arg("fast", "speed")
    device: str = arg("cpu", "device", choices=("cpu", "cuda"))
    use_dwam: bool = arg(True, "DWAM on")
    quiet: bool = arg(False, "no progress bars", group="output")

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError("epochs must be positive")


def test_every_field_becomes_a_flag_of_its_type():
    cfg = parse_config(Cfg, ["a.mp4", "--epochs", "3", "--lr", "0.1", "--out", "o", "--max-lens", "1", "2", "3",
                             "--rates", "0.2", "--seeds", "1", "2", "--mode", "slow", "--no-use-dwam", "--quiet"])
    assert cfg == Cfg("a.mp4", 3, 0.1, Path("o"), None, (1, 2, 3), (0.2,), (1, 2), "slow", "cpu", False, True)
    assert parse_config(Cfg, []) == Cfg()


def test_help_choices_and_validation(capsys):
    text = build_parser(Cfg, prog="x").format_help()
    assert "epochs per phase" in text and "--no-use-dwam" in text and "output:" in text
    for bad in (["--device", "tpu"], ["--mode", "medium"], ["--max-lens", "1", "2"], ["--epochs", "0"]):
        with pytest.raises(SystemExit) as e:
            parse_config(Cfg, bad)
        assert e.value.code == 2
    assert "epochs must be positive" in capsys.readouterr().err


def test_config_file_and_command_line_round_trip(tmp_path):
    cfg = Cfg(epochs=5, seeds=(1, 2), use_dwam=False, out=Path("runs/x"))
    (tmp_path / "c.json").write_text(__import__("json").dumps(to_dict(cfg)))
    again = parse_config(Cfg, ["--config", str(tmp_path / "c.json"), "--lr", "0.5"], config_file=True)
    assert again == Cfg(epochs=5, seeds=(1, 2), use_dwam=False, out=Path("runs/x"), lr=0.5)
    line = command_line(cfg, "python -m x")
    assert line == "python -m x --epochs 5 --out runs/x --seeds 1 2 --no-use-dwam"
    assert parse_config(Cfg, line.split()[3:]) == cfg
    assert from_dict(Cfg, {"out": "runs/y"}).out == Path("runs/y")  # paths come back as Path
    with pytest.raises(ValueError, match="unknown Cfg keys"):
        from_dict(Cfg, {"epoch": 1})
