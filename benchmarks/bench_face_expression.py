"""Face-expression network: FER2013 PrivateTest accuracy of the shipped weights, and embedding speed.

Target (issue 4): PrivateTest accuracy >= 65 % (7 classes, the official split; the epoch was chosen on
PublicTest). Accuracy is deterministic, so it is measured once; timings are medians over `repeats`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import format_table, machine, median, p95, time_call
from features.face_expression import DEFAULT_DIR, WEIGHTS_NAME, load_face_expression, preprocess_faces
from train.face_expression import DataError, accuracy, default_data_path, load_fer2013, predict


def run(repeats: int = 5, weights: str | Path | None = None, data: str | Path | None = None) -> list[dict]:
    model = load_face_expression(weights)
    wdir = Path(weights) if weights is not None else DEFAULT_DIR
    wfile = wdir if wdir.suffix == ".safetensors" else wdir / WEIGHTS_NAME
    rows: list[dict] = [
        {"benchmark": "face-expression net", "metric": "parameters",
         "value": sum(p.numel() for p in model.parameters()), "unit": "params"},
        {"benchmark": "face-expression net", "metric": "weights file", "value": wfile.stat().st_size / 1e6, "unit": "MB"},
    ]
    try:
        splits = load_fer2013(data or default_data_path())
    except DataError as e:
        rows.append({"benchmark": "FER2013 PrivateTest accuracy", "metric": "accuracy", "value": float("nan"),
                     "unit": "fraction", "target": ">= 0.65", "note": f"skipped: {e}"})
    else:
        labels = torch.from_numpy(splits.test.labels)
        for flip in (True, False):
            acc = accuracy(predict(model, splits.test, flip=flip), labels)
            rows.append({"benchmark": "FER2013 PrivateTest accuracy", "metric": "flip-averaged" if flip else "single view",
                         "value": acc, "unit": "fraction", "target": ">= 0.65",
                         "note": f"{len(labels)} faces; trained {_trained_note(wdir)}"})

    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (int(rng.integers(40, 200)),) * 2 + (3,), dtype=np.uint8) for _ in range(64)]

    @torch.inference_mode()
    def embed_batch():
        model.embed(preprocess_faces(crops))

    times = [t * 1000 for t in time_call(embed_batch, repeats=repeats, warmup=1)]
    rows.append({"benchmark": "preprocess + embed, 64 RGB crops", "metric": "median", "value": median(times),
                 "unit": "ms", "note": f"p95 {p95(times):.1f} ms; {median(times) / 64:.2f} ms per face"})
    return rows


def _trained_note(wdir: Path) -> str:
    cfg = wdir.with_name("config.json") if wdir.suffix == ".safetensors" else wdir / "config.json"
    try:
        m = json.loads(cfg.read_text())["metrics"]
        epochs, stage = m["epochs_run"], m
        while "init" in stage:  # warm restarts: count every stage
            stage = stage["init"]["metrics"]
            epochs += stage["epochs_run"]
        minutes = m.get("total_train_minutes", m["train_minutes"])
        return f"{epochs} epochs in all, {minutes:.0f} min of training"
    except (OSError, KeyError, ValueError):
        return "(no training metrics in config.json)"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--weights", type=Path, default=None, help="checkpoint directory (default: the shipped one)")
    ap.add_argument("--data", type=Path, default=None, help="fer2013.npz (default: $AUMDF_SHARED/data/fer2013.npz)")
    args = ap.parse_args()
    print(machine())
    print(format_table(run(args.repeats, args.weights, args.data)))
