"""The raw data folder the demo-corpus tests write themselves: RAVDESS-named FLAC tones, tiny MOSI/MOSEI
label files, a tiny FER npz, and an untrained face-expression network; the session fixtures that build
a corpus from them live in tests/conftest.py."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from tests.media import voiced_tone, write_audio

MOSI_ROWS = [  # id, text, label, mode
    ("a_1", "this movie was really wonderful and fun", 2.4, "train"),
    ("a_2", "i hated every boring minute of it", -2.2, "train"),
    ("a_3", "it is a film about a man", 0.0, "train"),
    ("a_4", "great acting and a lovely story", 1.8, "train"),
    ("a_5", "", 1.0, "train"),  # empty transcript: skipped with a reason
    ("b_1", "terrible and sad waste of time", -2.6, "dev"),
    ("b_2", "nice and pleasant", 1.2, "dev"),
    ("b_3", "the film runs two hours", 0.2, "dev"),
    ("c_1", "awful awful awful", -3.0, "test"),
    ("c_2", "i loved it so much", 2.8, "test"),
    ("c_3", "it has actors in it", -0.2, "test"),
]
MOSEI_ROWS = [  # video_id, clip_id, text, label, mode
    ("v1", "0_5", "I really like this product, it works great.", 2.0, "train"),
    ("v1", "5_9", "Honestly, it broke after a day. Very disappointing.", -2.0, "train"),
    ("v2", "1_4", "The box is blue.", 0.0, "train"),
    ("v3", "2_8", "What a great experience!", 1.6666666, "valid"),
    ("v3", "9_12", "I was angry and upset.", -1.3333334, "valid"),
    ("v4", "0_3", "It is a phone.", 0.3333333, "valid"),
    ("v5", "0_7", "Fantastic, I am very happy with it.", 2.3333333, "test"),
    ("v5", "7_9", "Worst purchase ever.", -2.6666667, "test"),
    ("v6", "1_2", "zzqxv qqvzx", -1.0, "test"),  # every word out of vocabulary: skipped
]
# actor -> emotions (EE codes): each split gets a negative, a neutral and a positive clip
RAVDESS = {1: (3, 4, 1, 5), 19: (3, 4, 2), 21: (8, 6, 1)}
FER = [  # (label index, usage): 3 happy, 4 sad, 6 neutral, 0 angry, 5 surprise
    (3, "Training"), (4, "Training"), (6, "Training"), (0, "Training"), (3, "Training"), (4, "Training"),
    (3, "PublicTest"), (4, "PublicTest"), (6, "PublicTest"),
    (5, "PrivateTest"), (4, "PrivateTest"), (6, "PrivateTest"), (0, "PrivateTest"),
]


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def fake_face_weights(path: Path) -> Path:
    """An untrained FaceExpressionNet saved in the checkpoint layout (the builder only needs *a* network)."""
    from safetensors.torch import save_file

    from features.face_expression import CLASSES, FaceExpressionNet

    torch.manual_seed(0)
    net = FaceExpressionNet(widths=(8, 16), embed_dim=128).eval()
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path / "model.safetensors"))
    (path / "config.json").write_text(json.dumps({"arch": asdict(net.config), "classes": list(CLASSES)}))
    return path




def write_fake_data(root: Path) -> Path:
    """<root>/mosi/label.csv, mosei/label.csv, ravdess/Actor_NN/*.flac, fer2013.npz."""
    from features.face_expression import CLASSES

    _write_csv(root / "mosi" / "label.csv", ["id", "text", "label", "mode"], MOSI_ROWS)
    _write_csv(root / "mosei" / "label.csv", ["video_id", "clip_id", "text", "label", "mode"], MOSEI_ROWS)
    for actor, emotions in RAVDESS.items():
        (root / "ravdess" / f"Actor_{actor:02d}").mkdir(parents=True)
        for k, emo in enumerate(emotions):
            y = voiced_tone(f0=120.0 + 15 * k + actor, seconds=1.0, seed=actor * 10 + k)
            name = f"03-01-{emo:02d}-01-{1 + k % 2:02d}-01-{actor:02d}.flac"
            write_audio(root / "ravdess" / f"Actor_{actor:02d}" / name, y)
    # a silent clip (skipped with the extractor's reason), a song clip and a stray file (both ignored)
    write_audio(root / "ravdess" / "Actor_01" / "03-01-03-02-02-02-01.flac", np.zeros(16000, np.float32))
    write_audio(root / "ravdess" / "Actor_01" / "03-02-03-01-01-01-01.flac", voiced_tone(seconds=0.5))
    write_audio(root / "ravdess" / "Actor_01" / "notes.flac", voiced_tone(seconds=0.5))
    rng = np.random.default_rng(0)
    np.savez(
        root / "fer2013.npz",
        images=rng.integers(0, 256, (len(FER), 48, 48), dtype=np.uint8),
        labels=np.array([f[0] for f in FER]),
        usage=np.array([f[1] for f in FER]),
        ids=np.array([f"{f[1]}_{i}" for i, f in enumerate(FER)]),
        classes=np.array(CLASSES),
    )
    return root
