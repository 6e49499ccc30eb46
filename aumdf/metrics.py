"""Evaluation metrics, with the field's conventions (SPEC §1, §5; the MMSA toolkit's `metricsTop`).

Pure functions on 1-D numpy-compatible arrays (lists, numpy arrays or CPU tensors); no state.

Regression (CMU-MOSI / CMU-MOSEI, sentiment in [-3, 3]):
    mae              mean |y_pred - y_true|
    corr             Pearson correlation (nan when either side is constant; the caller decides)
    acc2_has0/f1_has0  binary "has-0": negative (< 0) vs non-negative (>= 0), every sample counts
    acc2_non0/f1_non0  binary "non-0": samples with y_true == 0 are excluded, positive is > 0
    acc7             round(clip(y, -3, 3)) agree; numpy's round-half-to-even, as MMSA and MulT do
    acc5             round(clip(y, -2, 2)) agree
F1 here is always the support-weighted F1 over the two binary classes (sklearn average="weighted"),
which is what MMSA and MulT report as "F1".

Classification (IEMOCAP): accuracy, macro and weighted F1, and per emotion two one-vs-rest scores:
    f1_<emotion>   F1 of the positive class "is <emotion>" (the textbook one-vs-rest F1)
    wf1_<emotion>  support-weighted F1 of the binary task "<emotion> or not", and acc_<emotion> its
                   accuracy: the MulT convention (eval_iemocap) that the paper's Table 5 follows,
                   so use these to compare with published IEMOCAP numbers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = [
    "mae",
    "corr",
    "binary_f1",
    "f1_per_class",
    "acc2_has0",
    "acc2_non0",
    "f1_has0",
    "f1_non0",
    "acc7",
    "acc5",
    "regression_metrics",
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "classification_metrics",
    "sentiment_class",
    "NEUTRAL_BAND",
    "REGRESSION_KEYS",
]

NEUTRAL_BAND = 0.5  # |score| < 0.5 is "neutral": the 0 bin of Acc-7 (round(score) == 0)

# Keys of `regression_metrics`, in the order tables print them.
REGRESSION_KEYS: tuple[str, ...] = ("mae", "corr", "acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc7", "acc5")


def sentiment_class(scores, band: float = NEUTRAL_BAND) -> np.ndarray:
    """Sentiment scores -> 0 negative (<= -band), 1 neutral (|s| < band), 2 positive (>= band), as int64.

    The one binning of scores into classes (CSD's classes, the demo corpus, the app's label). Scores
    are compared in float32, the model's precision, so a score and its stored copy bin alike.
    """
    s = np.asarray(scores, dtype=np.float32)
    return np.where(s <= -band, 0, np.where(s >= band, 2, 1)).astype(np.int64)


def _arr(x, dtype=np.float64) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor without importing torch here
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=dtype).reshape(-1)
    return a


def _pair(y_pred, y_true, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    p, t = _arr(y_pred, dtype), _arr(y_true, dtype)
    if p.shape != t.shape:
        raise ValueError(f"predictions {p.shape} and targets {t.shape} differ in length")
    if p.size == 0:
        raise ValueError("no samples to score")
    return p, t


# ---------------------------------------------------------------- regression


def mae(y_pred, y_true) -> float:
    p, t = _pair(y_pred, y_true)
    return float(np.mean(np.abs(p - t)))


def corr(y_pred, y_true) -> float:
    """Pearson r; nan if either array is constant (r is undefined there)."""
    p, t = _pair(y_pred, y_true)
    p, t = p - p.mean(), t - t.mean()
    denom = np.sqrt((p * p).sum() * (t * t).sum())
    return float((p * t).sum() / denom) if denom > 0 else float("nan")


def f1_per_class(pred_labels, true_labels, classes: Sequence[int]) -> np.ndarray:
    """[len(classes)] one-vs-rest F1 of each class; 0 where a class is neither predicted nor present
    (sklearn's zero_division=0)."""
    p, t = _pair(pred_labels, true_labels, dtype=np.int64)
    out = np.zeros(len(classes))
    for i, c in enumerate(classes):
        tp = np.sum((p == c) & (t == c))
        fp = np.sum((p == c) & (t != c))
        fn = np.sum((p != c) & (t == c))
        denom = 2 * tp + fp + fn
        out[i] = 2 * tp / denom if denom > 0 else 0.0
    return out


def _weighted_f1(pred_labels, true_labels, classes: Sequence[int]) -> float:
    t = _arr(true_labels, np.int64)
    support = np.array([np.sum(t == c) for c in classes], dtype=np.float64)
    if support.sum() == 0:
        return 0.0
    return float((f1_per_class(pred_labels, true_labels, classes) * support).sum() / support.sum())


def binary_f1(pred_pos, true_pos) -> float:
    """Support-weighted F1 over the two classes of a boolean labelling."""
    return _weighted_f1(_arr(pred_pos, bool).astype(np.int64), _arr(true_pos, bool).astype(np.int64), (0, 1))


def acc2_has0(y_pred, y_true) -> float:
    """Negative (< 0) vs non-negative (>= 0); zero-labelled samples count as non-negative."""
    p, t = _pair(y_pred, y_true)
    return float(np.mean((p >= 0) == (t >= 0)))


def f1_has0(y_pred, y_true) -> float:
    p, t = _pair(y_pred, y_true)
    return binary_f1(p >= 0, t >= 0)


def _non0(y_pred, y_true) -> tuple[np.ndarray, np.ndarray]:
    p, t = _pair(y_pred, y_true)
    keep = t != 0
    if not keep.any():
        raise ValueError("every target is 0: the non-0 binary metrics are undefined")
    return p[keep], t[keep]


def acc2_non0(y_pred, y_true) -> float:
    """Samples with target exactly 0 are excluded; positive means > 0 (a prediction of 0 is negative)."""
    p, t = _non0(y_pred, y_true)
    return float(np.mean((p > 0) == (t > 0)))


def f1_non0(y_pred, y_true) -> float:
    p, t = _non0(y_pred, y_true)
    return binary_f1(p > 0, t > 0)


def _multiclass_round(y_pred, y_true, bound: float) -> float:
    p, t = _pair(y_pred, y_true)
    # np.round rounds half to even (2.5 -> 2), exactly as the reference implementations do
    return float(np.mean(np.round(np.clip(p, -bound, bound)) == np.round(np.clip(t, -bound, bound))))


def acc7(y_pred, y_true) -> float:
    return _multiclass_round(y_pred, y_true, 3.0)


def acc5(y_pred, y_true) -> float:
    return _multiclass_round(y_pred, y_true, 2.0)


def regression_metrics(y_pred, y_true) -> dict[str, float]:
    """All of `REGRESSION_KEYS`. The non-0 pair is nan when every target is 0."""
    p, t = _pair(y_pred, y_true)
    out = {
        "mae": mae(p, t),
        "corr": corr(p, t),
        "acc2_has0": acc2_has0(p, t),
        "f1_has0": f1_has0(p, t),
        "acc7": acc7(p, t),
        "acc5": acc5(p, t),
    }
    if np.any(t != 0):
        out["acc2_non0"], out["f1_non0"] = acc2_non0(p, t), f1_non0(p, t)
    else:
        out["acc2_non0"] = out["f1_non0"] = float("nan")
    return {k: out[k] for k in REGRESSION_KEYS}


# ------------------------------------------------------------ classification


def accuracy(pred_labels, true_labels) -> float:
    p, t = _pair(pred_labels, true_labels, dtype=np.int64)
    return float(np.mean(p == t))


def macro_f1(pred_labels, true_labels, n_classes: int) -> float:
    return float(np.mean(f1_per_class(pred_labels, true_labels, range(n_classes))))


def weighted_f1(pred_labels, true_labels, n_classes: int) -> float:
    return _weighted_f1(pred_labels, true_labels, range(n_classes))


def binary_head_metrics(logits, true_labels, class_names: Sequence[str]) -> dict[str, float]:
    """MulT's per-emotion scores from one binary head per class: `acc_<name>` and `wf1_<name>` (weighted F1)
    of "logit_c > 0" against "true label is c". logits: [n, c]; true_labels: [n] class indices."""
    z = np.asarray(logits, dtype=np.float64)
    t = np.asarray(true_labels).astype(np.int64)
    out = {}
    for c, name in enumerate(class_names):
        pred, true = z[:, c] > 0, t == c
        out[f"acc_{name}"] = float(np.mean(pred == true))
        out[f"wf1_{name}"] = binary_f1(pred, true)
    return out


def classification_metrics(pred_labels, true_labels, class_names: Sequence[str]) -> dict[str, float]:
    """accuracy, macro_f1, weighted_f1, and `f1_<name>`, `wf1_<name>`, `acc_<name>` for every class name.

    pred_labels, true_labels: [n] int class indices into `class_names`.
    """
    n = len(class_names)
    p, t = _pair(pred_labels, true_labels, dtype=np.int64)
    if p.min() < 0 or p.max() >= n or t.min() < 0 or t.max() >= n:
        raise ValueError(f"class indices must lie in [0, {n}); got predictions {p.min()}..{p.max()}, "
                         f"targets {t.min()}..{t.max()}")
    per = f1_per_class(p, t, range(n))
    out = {"accuracy": accuracy(p, t), "macro_f1": float(per.mean()), "weighted_f1": weighted_f1(p, t, n)}
    for c, name in enumerate(class_names):
        out[f"f1_{name}"] = float(per[c])
        out[f"wf1_{name}"] = binary_f1(p == c, t == c)
        out[f"acc_{name}"] = float(np.mean((p == c) == (t == c)))
    return out
