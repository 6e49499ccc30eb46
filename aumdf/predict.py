"""`python -m aumdf.predict CLIP ...`: the sentiment of one clip on the command line.

    python -m aumdf.predict CLIP [--transcript T] [--modalities text,audio,visual] [--drop-rate P]
                                 [--seed S] [--which student|teacher] [--checkpoint DIR] [--json]

Parses the options (generated from `PredictConfig` by aumdf/cli.py), runs `Predictor`, prints a
summary or, with --json, the prediction with the other model's score, the transcript the text
modality was built from, its tokens, and each modality's Shapley contribution.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Literal, Sequence

from aumdf.checkpoint import CheckpointError
from aumdf.predictor import BRIEF, MAX_SECONDS, InputError, Prediction, Predictor, parse_modalities
from aumdf.cli import arg, parse_config
from features.types import FeatureError

ERRORS = (FeatureError, CheckpointError, FileNotFoundError, IsADirectoryError, PermissionError, ValueError)


@dataclass(frozen=True)
class PredictConfig:
    clip: str = arg(help="video or audio file", positional=True)
    transcript: str | None = arg(None, "the spoken words (default: recognised from the audio)")
    modalities: str = arg("text,audio,visual", "modalities switched on, e.g. text,audio")
    drop_rate: float = arg(0.0, "fraction of frames dropped at random (0-0.9)")
    seed: int = arg(0, "seed of the frame drop")
    which: Literal["student", "teacher"] = arg("student", "model whose result is primary")
    checkpoint: str | None = arg(None, "folder with student/ (+ teacher/); default checkpoints/default")
    max_seconds: float = arg(MAX_SECONDS, "refuse longer clips")
    device: str | None = arg(None, "cpu or cuda (default: cuda when present)")
    json: bool = arg(False, "print the prediction as JSON")


def summary(pred: Prediction, teacher: Prediction | None) -> str:
    """A few lines: score and label, the teacher's, each modality's state and contribution, the gates."""
    head = f"{pred.which}: score {pred.score:+.3f}, {pred.label} ({pred.bin7_label})" if pred.score is not None \
        else f"{pred.which}: {pred.label}"
    lines = [head]
    if teacher is not None and teacher.score is not None:
        lines.append(f"teacher: score {teacher.score:+.3f}, {teacher.label} ({teacher.bin7_label})")
    phi = pred.contributions.phi if pred.contributions is not None else {}
    for m, s in pred.availability.items():
        share = f"  contribution {phi[m]:+.3f}" if m in phi else ""
        lines.append(f"  {m:6s} {s.state:12s} {s.kept}/{s.used} frames{share}" + (f"  ({s.reason})" if s.reason else ""))
    if pred.contributions is not None:
        lines.append(f"  baseline (no modality) {pred.contributions.baseline:+.3f}")
    lines.append("  gates: " + ", ".join(f"{k} {v:.3f}" for k, v in pred.gates.items()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_config(PredictConfig, argv, prog="python -m aumdf.predict",
                       description="Sentiment of one clip with AUMDF.")
    try:
        modalities = parse_modalities(cfg.modalities)
        if not 0.0 <= cfg.drop_rate < 1.0:
            raise InputError(f"--drop-rate must be in [0, 1), got {cfg.drop_rate}")
        predictor = Predictor.from_checkpoint(cfg.checkpoint, device=cfg.device, max_seconds=cfg.max_seconds)
        clip = predictor.extract(cfg.clip, transcript=cfg.transcript)
        pred = predictor.predict(clip, modalities, cfg.drop_rate, cfg.seed, which=cfg.which)
        other = "teacher" if cfg.which == "student" else "student"
        second = predictor.predict(clip, modalities, cfg.drop_rate, cfg.seed, which=other) \
            if other in predictor.models else None
    except ERRORS as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)  # one line, whatever the message holds
        return 2
    if cfg.json:
        d = pred.to_dict()
        d[other] = None if second is None else {k: second.to_dict()[k] for k in BRIEF}
        d["tokens"] = clip.text.extras.tokens
        print(json.dumps(d, indent=2))
    else:
        print(summary(pred, second if other == "teacher" else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
