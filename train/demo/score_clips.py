"""Scores of real recordings under each choice of modalities: a checkpoint on clips it never saw.

    python -m train.demo.score_clips                                   # the shared media, checkpoints/default
    python -m train.demo.score_clips my_clip.mp4 other.wav --checkpoint runs/demo/x --out scores.json

Each file goes through the app's path (`aumdf.predictor.Predictor`: decoding, speech recognition, face
tracking) once; then both models score it with audio alone, vision alone, text alone and everything
present. A modality the clip lacks (a WAV has no faces) shows "–". The table says nothing about
accuracy on its own: it is for reading next to what is known about each clip (the emotion a CREMA-D
actor was asked to act, a neutral GRID command) and for spotting a path that gives every recording
the same score.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from aumdf.cli import arg, parse_config

SUBSETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("a", ("audio",)), ("v", ("vision",)), ("l", ("text",)), ("l,a,v", ("text", "audio", "vision")),
)
MEDIA_SUFFIXES = (".wav", ".flac", ".mp3", ".mp4", ".mpg", ".flv", ".avi", ".mov", ".mkv", ".webm", ".ogg", ".m4a")


@dataclass(frozen=True)
class ScoreConfig:
    clips: tuple[Path, ...] = arg((), "media files (default: every media file under $AUMDF_SHARED/media)",
                                  positional=True)
    checkpoint: Path | None = arg(None, "folder with student/ (+ teacher/); default checkpoints/default")
    out: Path | None = arg(None, "also write the scores as JSON here")


@dataclass(frozen=True)
class ClipScores:
    """One clip: what was recognised, and {model: {subset name: score or None when a modality is missing}}."""

    path: str
    transcript: str
    present: tuple[str, ...]
    scores: dict[str, dict[str, float | None]]


def default_clips() -> list[Path]:
    from train.demo.sources import default_data_dir

    root = default_data_dir().parent / "media"  # beside the shared data folder
    if not root.is_dir():
        raise SystemExit(f"error: no clips given and {root} does not exist; pass media files or set AUMDF_SHARED")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES)


def score_clip(predictor, path: Path) -> ClipScores:
    clip = predictor.extract(path)
    present = tuple(m for m in ("text", "audio", "vision") if clip[m].present)
    scores: dict[str, dict[str, float | None]] = {}
    for which in predictor.models:
        run = predictor.run_subsets(clip, which=which)
        scores[which] = {name: (predictor.select(clip, run, on).score if set(on) <= set(present) else None)
                         for name, on in SUBSETS}
    return ClipScores(str(path), clip.transcript or "", present, scores)


def table(rows: Sequence[ClipScores]) -> str:
    models = list(rows[0].scores) if rows else []
    head = ["clip", *(f"{m} {{{n}}}" for m in models for n, _ in SUBSETS), "recognised words"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 2) + "---|"]
    fmt = lambda x: "–" if x is None else f"{x:+.2f}"  # noqa: E731
    for r in rows:
        cells = [fmt(r.scores[m][n]) for m in models for n, _ in SUBSETS]
        words = r.transcript if len(r.transcript) <= 40 else r.transcript[:37] + "..."
        lines.append(f"| {Path(r.path).name} | " + " | ".join(cells) + f" | {words} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_config(ScoreConfig, argv, prog="python -m train.demo.score_clips",
                       description="Score real clips with each modality alone and all together.")
    from aumdf.predictor import Predictor
    from features.types import FeatureError

    predictor = Predictor.from_checkpoint(cfg.checkpoint)
    rows = []
    for path in cfg.clips or default_clips():
        try:
            rows.append(score_clip(predictor, Path(path)))
        except (FeatureError, FileNotFoundError) as e:
            print(f"skipped {path}: {e}", file=sys.stderr)
    print(table(rows))
    if cfg.out is not None:
        Path(cfg.out).write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
