"""A small synthetic dataset with a learnable signal, written in the public pickle layouts.

Used by the tests (no real data needed) and handy for trying the pipeline end to end:

    python -m train.synthetic --out /tmp/synth --task regression --n-train 256

writes `mosi_data.pkl` / `mosi_data_noalign.pkl` (MulT layout) and `aligned_50.pkl` /
`unaligned_50.pkl` (MMSA layout) into OUT (for `--task classification`: `iemocap_data*.pkl`).

The signal: every sample has a latent score y (regression, in [-3, 3], some exactly 0) or a class c
(classification). Each modality's frames are `noise + strength_m * y * w_m` (or the class centre
`mu_{m,c}`) on a random half of the valid frames and pure noise elsewhere, so each modality alone
predicts the label, with text the strongest and vision the weakest, as in the real data. Lengths vary
per sample. Like the public MOSEI/MOSI files, the audio holds a few -inf values and vision a few NaN
(their count is returned), and the MulT layout front-pads text (see train/data.py).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from aumdf.cli import arg, parse_config
from features.feature_files import SPLITS
from features.spec import MODALITIES


@dataclass
class SyntheticSplit:
    """One split, back-padded: features[m] [n, T_m, d_m] float32, lengths[m] [n] int64."""

    features: dict[str, np.ndarray]
    lengths: dict[str, np.ndarray]
    labels: np.ndarray  # [n] float32 score or int64 class (train.data.IEMOCAP_CLASSES indices)
    ids: list[str]
    n_nonfinite: dict[str, int] = field(default_factory=dict)


@dataclass
class SyntheticData:
    splits: dict[str, SyntheticSplit]
    task: str
    aligned: bool
    dims: tuple[int, int, int]
    max_lens: tuple[int, int, int]


def make_synthetic(
    n: tuple[int, int, int] = (96, 32, 32),
    task: str = "regression",
    aligned: bool = True,
    dims: tuple[int, int, int] = (12, 8, 6),
    max_lens: tuple[int, int, int] = (10, 16, 12),
    strength: tuple[float, float, float] = (1.0, 0.7, 0.5),
    noise: float = 0.5,
    n_nonfinite: int = 3,
    seed: int = 0,
) -> SyntheticData:
    """Generate train/valid/test splits of sizes `n`. `aligned` forces one length per sample (and
    max_lens[0] for every modality), as word-aligned data has."""
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    rng = np.random.default_rng(seed)
    if aligned:
        max_lens = (max_lens[0],) * 3
    # fixed directions / class centres shared by all splits: this is the learnable signal
    dirs = {m: rng.normal(size=d) for m, d in zip(MODALITIES, dims)}
    centres = {m: rng.normal(size=(4, d)) for m, d in zip(MODALITIES, dims)}
    splits = {}
    for split, n_s in zip(SPLITS, n):
        if task == "regression":
            # MOSI-like: scores on a 1/3 grid, some exactly 0 (has-0 / non-0 differ)
            labels = np.clip(np.round(rng.normal(0, 1.5, n_s) * 3) / 3, -3, 3).astype(np.float32)
            labels[rng.random(n_s) < 0.08] = 0.0
        else:
            labels = rng.integers(0, 4, n_s).astype(np.int64)
        lengths: dict[str, np.ndarray] = {}
        if aligned:
            common = rng.integers(max(2, max_lens[0] // 3), max_lens[0] + 1, n_s)
            lengths = {m: common.copy() for m in MODALITIES}
        else:
            lengths = {m: rng.integers(max(2, t // 3), t + 1, n_s) for m, t in zip(MODALITIES, max_lens)}
        feats = {}
        for i, (m, d, t) in enumerate(zip(MODALITIES, dims, max_lens)):
            x = np.zeros((n_s, t, d), dtype=np.float32)
            for j in range(n_s):
                L = int(lengths[m][j])
                frames = rng.normal(0, noise, size=(L, d))
                carry = rng.random(L) < 0.5
                carry[rng.integers(0, L)] = True  # at least one informative frame
                if task == "regression":
                    frames[carry] += strength[i] * labels[j] * dirs[m] / 3.0
                else:
                    frames[carry] += strength[i] * centres[m][labels[j]]
                # keep valid frames distinguishable from zero padding (what the MulT loader infers)
                frames[:, 0] += 1.0
                x[j, :L] = frames
            feats[m] = x
        nonfinite = {}
        if n_nonfinite:
            for m, bad in (("audio", -np.inf), ("vision", np.nan)):
                j = rng.integers(0, n_s, n_nonfinite)
                k = rng.integers(0, d := dims[MODALITIES.index(m)], n_nonfinite)
                x = feats[m]
                for jj, kk in zip(j, k):
                    x[jj, 0, kk] = bad  # frame 0 is always valid
                nonfinite[m] = int((~np.isfinite(x)).sum())
        ids = [f"synth{split}_{j:04d}" for j in range(n_s)]
        splits[split] = SyntheticSplit(feats, {m: v.astype(np.int64) for m, v in lengths.items()}, labels, ids, nonfinite)
    return SyntheticData(splits, task, aligned, tuple(dims), tuple(max_lens))


# ------------------------------------------------------------------ writers


def _front_pad(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    t = x.shape[1]
    for j, L in enumerate(lengths):
        out[j, t - L :] = x[j, :L]
    return out


def write_mult(data: SyntheticData, path: Path | str) -> Path:
    """MulT layout (yaohungt/Multimodal-Transformer): split -> text/audio/vision/labels/id.

    text is front-padded (as in the public aligned files), audio/vision front-padded when aligned
    (they share the word axis) and back-padded when unaligned. Labels [N, 1, 1] (regression) or
    [N, 4, 2] one-hot pairs (classification, emotions in train.data.IEMOCAP_CLASSES). id [N, 3] bytes.
    """
    out = {}
    for split, s in data.splits.items():
        d = {
            "text": _front_pad(s.features["text"], s.lengths["text"]),
            "audio": _front_pad(s.features["audio"], s.lengths["audio"]) if data.aligned else s.features["audio"],
            "vision": _front_pad(s.features["vision"], s.lengths["vision"]) if data.aligned else s.features["vision"],
        }
        if data.task == "regression":
            d["labels"] = s.labels.reshape(-1, 1, 1).astype(np.float32)
        else:
            lab = np.zeros((len(s.labels), 4, 2), dtype=np.float32)
            lab[:, :, 0] = 1.0
            lab[np.arange(len(s.labels)), s.labels, 0] = 0.0
            lab[np.arange(len(s.labels)), s.labels, 1] = 1.0
            d["labels"] = lab
        d["id"] = np.array([[i.encode(), b"0", b"1"] for i in s.ids])
        out[split] = d
    return _dump(out, path)


def _dump(obj: dict, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    return path


def write_mmsa(data: SyntheticData, path: Path | str) -> Path:
    """MMSA layout (thuiar/MMSA): split -> text, audio, vision (back-padded), audio_lengths and
    vision_lengths (unaligned only), text_bert [N, 3, T] (ids, mask, segments; only the mask row is
    meaningful here), regression_labels, classification_labels, id, raw_text."""
    if data.task != "regression":
        raise ValueError("the MMSA layout holds MOSI/MOSEI/SIMS regression data; use write_mult for classification")
    out = {}
    for split, s in data.splits.items():
        n, t_l = s.features["text"].shape[:2]
        bert = np.zeros((n, 3, t_l), dtype=np.float32)
        bert[:, 1] = np.arange(t_l)[None, :] < s.lengths["text"][:, None]
        d = {
            "text": s.features["text"],
            "audio": s.features["audio"],
            "vision": s.features["vision"],
            "text_bert": bert,
            "regression_labels": s.labels.astype(np.float32),
            # MMSA's 3-way classes: 0 negative, 1 neutral, 2 positive
            "classification_labels": (np.sign(s.labels) + 1).astype(np.float32),
            "id": np.array([f"{i.split('_')[0]}$_${i.split('_')[1]}" for i in s.ids], dtype=object),
            "raw_text": np.array(["synthetic"] * n, dtype=object),
        }
        if not data.aligned:
            d["audio_lengths"] = s.lengths["audio"].tolist()
            d["vision_lengths"] = s.lengths["vision"].tolist()
        out[split] = d
    return _dump(out, path)


def write_all(out_dir: Path | str, task: str = "regression", n=(96, 32, 32), seed: int = 0, **kw) -> dict[str, Path]:
    """Both layouts, aligned and unaligned, under `out_dir`; returns name -> path."""
    out_dir = Path(out_dir)
    written = {}
    for aligned in (True, False):
        data = make_synthetic(n=n, task=task, aligned=aligned, seed=seed + (0 if aligned else 1), **kw)
        stem = "mosi" if task == "regression" else "iemocap"
        name = f"{stem}_data.pkl" if aligned else f"{stem}_data_noalign.pkl"
        written[name] = write_mult(data, out_dir / name)
        if task == "regression":
            name = "aligned_50.pkl" if aligned else "unaligned_50.pkl"
            written[name] = write_mmsa(data, out_dir / name)
    return written


@dataclass
class SyntheticConfig:
    out: Path = arg(help="output folder")
    task: Literal["regression", "classification"] = arg("regression", "regression (MOSI-like) or classification "
                                                                      "(IEMOCAP-like)")
    n_train: int = arg(96, "training samples")
    n_valid: int = arg(32, "validation samples")
    n_test: int = arg(32, "test samples")
    dims: tuple[int, int, int] = arg((12, 8, 6), "feature widths of text, audio, vision", metavar=("D_L", "D_A", "D_V"))
    seed: int = arg(0, "seed of the data")


def main(argv: list[str] | None = None) -> None:
    a = parse_config(SyntheticConfig, argv, prog="python -m train.synthetic", description=__doc__.split("\n\n")[0])
    paths = write_all(a.out, a.task, (a.n_train, a.n_valid, a.n_test), a.seed, dims=a.dims)
    for p in paths.values():
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
