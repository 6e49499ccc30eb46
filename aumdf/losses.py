"""Losses as pure functions (paper §3.9-3.11, eq. 34-42).

Dimension legend: b - batch, d - representation width, c - classes
"""

from __future__ import annotations

from typing import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from aumdf.metrics import NEUTRAL_BAND  # the band is defined once, with the numpy binning
from aumdf.types import MODALITIES


def task_loss(prediction: Tensor, labels: Tensor, task: str, class_heads: str = "softmax") -> Tensor:
    """L_task (eq. 41). Regression (MOSI/MOSEI): L1 on the score — the paper reports MAE although it
    writes cross-entropy (SPEC §3.5). Classification (IEMOCAP), logits [b, c] and class indices [b]:
    "softmax" = cross-entropy over the c classes; "binary" = one binary task per class, "this class or not"
    (MulT's four emotion heads): binary cross-entropy with the one-hot labels, averaged over b and c."""
    if task == "regression":
        return F.l1_loss(prediction, labels.to(prediction.dtype))
    if task == "classification" and class_heads == "binary":
        target = F.one_hot(labels.long(), prediction.shape[-1]).to(prediction.dtype)
        return F.binary_cross_entropy_with_logits(prediction, target)
    if task == "classification":
        return F.cross_entropy(prediction, labels.long())
    raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")


def sentiment_classes(scores: Tensor, neutral_band: float = NEUTRAL_BAND) -> Tensor:
    """Regression scores -> 0 negative (<= -band), 1 neutral (|s| < band), 2 positive (>= band): CSD's classes.
    The torch twin of `aumdf.metrics.sentiment_class`, for label tensors on the training device."""
    return torch.where(scores <= -neutral_band, 0, torch.where(scores >= neutral_band, 2, 1)).long()


def contrastive_direction(
    anchor: Tensor, cand_n: Tensor, cand_k: Tensor, alpha_n: Tensor, alpha_k: Tensor, classes: Tensor,
    normalize: bool = True, center: bool = True,
) -> Tensor:
    """One term of eq. 35-37 averaged over anchors.

    anchor: [b, d] modality m of the anchor model; cand_n, cand_k: [b, d] modalities n, k of the other model;
    classes: [b]. For anchor p and candidate s: score(p, s) = alpha_n·sim(a_p, n_s) + alpha_k·sim(a_p, k_s);
    loss_p = -mean over positives s (same class, s = p included) of log softmax_s score(p, s).
    With `normalize`, sim is the dot product of L2-normalised vectors (cosine): eq. 24's raw dot product of
    300-d features overflows exp(), and the learnable alphas then act as inverse temperatures.
    With `center`, each of the three [b, d] sets first loses its batch mean: masked means of LayerNorm'd
    features share one dominant direction, every cosine is then near 1 and the softmax near uniform (the
    loss sat at ln b); centring leaves only what tells the samples apart.
    The floor of the loss is the mean over anchors of ln(#positives of the anchor).
    """
    if center and anchor.shape[0] > 1:
        anchor, cand_n, cand_k = (x - x.mean(dim=0, keepdim=True) for x in (anchor, cand_n, cand_k))
    if normalize:
        anchor, cand_n, cand_k = (F.normalize(x, dim=-1) for x in (anchor, cand_n, cand_k))
    score = alpha_n * anchor @ cand_n.T + alpha_k * anchor @ cand_k.T  # b b (anchor p, candidate s)
    log_prob = torch.log_softmax(score, dim=1)
    positive = (classes[:, None] == classes[None, :]).to(score.dtype)  # b b; diagonal always positive
    per_anchor = -(log_prob * positive).sum(dim=1) / positive.sum(dim=1)
    return per_anchor.mean()


def csd_floor(classes: Tensor) -> Tensor:
    """The smallest value L_CSD can reach on a batch: mean over anchors of ln(#positives). classes: [b]."""
    positives = (classes[:, None] == classes[None, :]).sum(dim=1).to(torch.float32)
    return positives.log().mean()


def csd_loss(
    teacher_reps: Mapping[str, Tensor], student_reps: Mapping[str, Tensor], classes: Tensor,
    alphas: Mapping[str, Tensor], normalize: bool = True, center: bool = True,
) -> Tensor:
    """L_CSD (eq. 35-38): mean of six terms. L^t_m: teacher's modality m anchors against the student's other
    two modalities as candidates; L^s_m: student anchors against the teacher's — so knowledge crosses models.

    teacher_reps / student_reps: m -> [b, d]; classes: [b]; alphas: "m>n" -> scalar (alpha_mn).
    """
    terms = []
    for anchors, cands in ((teacher_reps, student_reps), (student_reps, teacher_reps)):
        for m in MODALITIES:
            n, k = [x for x in MODALITIES if x != m]
            terms.append(contrastive_direction(
                anchors[m], cands[n], cands[k], alphas[f"{m}>{n}"], alphas[f"{m}>{k}"], classes, normalize, center
            ))
    return torch.stack(terms).mean()


def srd_loss(ws_ht: Tensor, wt_hs: Tensor, alpha: float | Tensor = 1.0) -> Tensor:
    """L_SRD (eq. 39): alpha · (1 − cos(W_s H^t, W_t H^s)), batch mean. Inputs are the projected [b, d]."""
    return (alpha * (1.0 - F.cosine_similarity(ws_ht, wt_hs, dim=-1, eps=1e-8))).mean()


def reg_coefficients(weights: Iterable[Tensor]) -> list[float]:
    """lambda_i of eq. 40 by default: 1 / d_out of each matrix (1/d for the d x d W_Q, W_K, W_V).

    The paper leaves lambda_Q, lambda_K, lambda_V open. 1/numel made each term the mean squared entry: ~1e-3 of
    the loss at d = 300 with a gradient ~2e-6·w, a penalty that did nothing. With 1/d a freshly initialised
    d x d matrix (entries ~U(±1/√d)) contributes ~1/3, nine of them ~3, so lambda_1·L_reg ~0.3 beside an L_task
    of ~1, and the gradient 2·lambda_1·w/d acts as a weight decay of ~7e-4 at d = 300 that the Adam step
    normalisation makes visible on W_Q, W_K, W_V.
    """
    return [1.0 / w.shape[0] for w in weights]


def reg_loss(weights: Iterable[Tensor], coefficients: Iterable[float] | None = None) -> Tensor:
    """L_reg (eq. 40): sum_i lambda_i · ||W_i||_F^2 over the MMT's W_Q, W_K, W_V (lambda_i: `reg_coefficients`)."""
    weights = list(weights)
    coeffs = list(coefficients) if coefficients is not None else reg_coefficients(weights)
    if len(coeffs) != len(weights):
        raise ValueError(f"{len(coeffs)} coefficients for {len(weights)} weight matrices")
    return torch.stack([c * w.pow(2).sum() for c, w in zip(coeffs, weights)]).sum()
