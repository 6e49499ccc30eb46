"""The voice path on held-out RAVDESS actors re-recorded: audio-only accuracy on augmented renderings.

    python -m train.demo.voice_robustness --checkpoint checkpoints/default --split valid --views 2
    python -m train.demo.voice_robustness --checkpoint A --checkpoint B --split test

A voice path that learnt RAVDESS's studio format rather than the voice scores the clips as recorded
well and falls apart once the silence, room, channel, level or background change. Each clip of the
chosen split (actors 19–20 valid, 21–24 test; never augmented in training) is rendered `--views`
times by `train.demo.speech_views` with generators seeded apart from any corpus build (`--seed`), and
extracted by the checkpoint's own audio extractor; every model then scores each rendering with audio
alone. Reported per model: 3-class accuracy and macro-F1 as recorded and over the renderings, and the
mean score per emotion over the renderings (happy should stay above angry and sad). Features are
cached under `--cache` (default data/voice_robustness/), keyed like the corpus's speech cache.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from aumdf.cli import arg, parse_config

VIEW_SEED = 7919  # apart from the corpus seeds (0 …): these renderings are never the training views


@dataclass(frozen=True)
class RobustnessConfig:
    checkpoint: tuple[Path, ...] = arg((Path("checkpoints/default"),), "checkpoint folders (student/ + teacher/)")
    data_dir: Path | None = arg(None, "folder holding ravdess/ (default: $AUMDF_SHARED/data, else ../shared/data)")
    split: str = arg("valid", "RAVDESS split scored (actors 19-20 valid, 21-24 test)", choices=("valid", "test"))
    views: int = arg(2, "augmented renderings per clip")
    seed: int = arg(VIEW_SEED, "seed of the renderings")
    cache: Path = arg(Path("data/voice_robustness"), "feature cache folder")
    workers: int = arg(1, "extractor processes")
    out: Path | None = arg(None, "also write the result as JSON here")


def render_features(cfg: RobustnessConfig, extractor, clips) -> dict[str, list[tuple[object, np.ndarray]]]:
    """{"recorded" | "views": [(clip, audio [T, d_a]) for each rendering]} for the split's clips."""
    from train.demo.extraction import extract_ravdess, view_id

    feats, reasons, _ = extract_ravdess(clips, extractor, cfg.cache, cfg.workers, progress=False,
                                        views={c.id: cfg.views for c in clips}, view_seed=cfg.seed)
    if reasons:
        raise SystemExit(f"error: {len(reasons)} renderings could not be extracted, e.g. {next(iter(reasons.items()))}")
    return {"recorded": [(c, feats[c.id][1]) for c in clips],
            "views": [(c, feats[view_id(c.id, k)][1]) for c in clips for k in range(1, cfg.views + 1)]}


def _dataset(renderings: list[tuple[object, np.ndarray]], spec):
    """(audio-only dataset over the renderings, their emotions), in the renderings' order."""
    from train.data import MultimodalDataset
    from train.demo.corpus import Item, only, pack
    from train.demo.sources import VALENCE

    items = [Item("ravdess", c.split, c.id, VALENCE[c.emotion], c.emotion, only(spec, audio=a)) for c, a in renderings]
    return MultimodalDataset(pack(items, spec)), np.array([c.emotion for c, _ in renderings])


def _check_audio(pairs: dict, spec, extractor) -> None:
    """Every model, and the extractor, must agree with the first checkpoint's audio features."""
    for name, models in pairs.items():
        for role, ck in models.items():
            diff = [d for d in ck.feature_spec.diff(spec) if d.startswith("audio")]
            if diff:
                raise SystemExit(f"error: the {role} of {name} has other audio features than the first checkpoint: {diff}")
    diff = [d for d in spec.diff(extractor.feature_spec()) if d.startswith("audio")]
    if diff:
        raise SystemExit(f"error: the app's audio extractor no longer computes the checkpoints' audio features: {diff}")


def evaluate(cfg: RobustnessConfig) -> dict:
    """{checkpoint: {role: {"recorded" | "views": {class report, "by_emotion": {emotion: mean score}}}}}."""
    import torch

    from train.demo.extraction import app_extractor, audio_features_of
    from train.demo.evaluate import class_report, load_pair, mean_by, predict_subset
    from train.demo.sources import default_data_dir, find_ravdess

    pairs = {str(c): load_pair(c) for c in cfg.checkpoint}
    spec = next(iter(pairs.values()))["student"].feature_spec
    extractor = app_extractor(audio_features=audio_features_of(spec))
    _check_audio(pairs, spec, extractor)
    clips = [c for c in find_ravdess(Path(cfg.data_dir or default_data_dir())) if c.split == cfg.split]
    data = {kind: _dataset(r, spec) for kind, r in render_features(cfg, extractor, clips).items()}
    result: dict = {"split": cfg.split, "clips": len(clips), "views": cfg.views, "seed": cfg.seed, "scores": {}}
    for name, models in pairs.items():
        result["scores"][name] = {}
        for role, ck in models.items():
            row = {}
            for kind, (ds, emotions) in data.items():
                pred = predict_subset(ck.model, ds, ("audio",), torch.device("cpu"), 64)[0]
                row[kind] = {**class_report(pred, np.asarray(ds.labels)), "by_emotion": {
                    e: v["mean_score"] for e, v in mean_by(pred, emotions).items()}}
            result["scores"][name][role] = row
    return result


def table(result: dict) -> str:
    lines = [f"RAVDESS {result['split']} ({result['clips']} clips; {result['views']} renderings each, seed "
             f"{result['seed']}), audio only",
             "| checkpoint | model | recorded: acc / macro-F1 | renderings: acc / macro-F1 | renderings: happy − angry / − sad |",
             "|---|---|---:|---:|---:|"]
    for name, roles in result["scores"].items():
        for role, row in roles.items():
            r, v = row["recorded"], row["views"]
            e = v["by_emotion"]
            gap = lambda other: f"{e['happy'] - e[other]:+.2f}" if {"happy", other} <= set(e) else "–"  # noqa: E731
            lines.append(f"| {name} | {role} | {100 * r['accuracy']:.1f} / {100 * r['macro_f1']:.1f} | "
                         f"{100 * v['accuracy']:.1f} / {100 * v['macro_f1']:.1f} | {gap('angry')} / {gap('sad')} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_config(RobustnessConfig, argv, prog="python -m train.demo.voice_robustness",
                       description="Audio-only accuracy of checkpoints on held-out RAVDESS clips re-recorded.")
    from aumdf.checkpoint import CheckpointError
    from features.feature_files import DataError

    try:
        result = evaluate(cfg)
    except (CheckpointError, DataError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}")
    print(table(result))
    if cfg.out is not None:
        Path(cfg.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
