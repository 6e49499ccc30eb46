"""Known-answer tests of aumdf.metrics (values worked out by hand in the comments) plus a cross-check
against scikit-learn on random data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aumdf import metrics as M

# y_true has one exact 0; predictions chosen so has-0 and non-0 disagree on it.
Y_TRUE = [-2.0, -0.5, 0.0, 1.0, 2.6]
Y_PRED = [-1.0, 0.5, -0.2, 1.4, 2.5]


def test_mae_and_corr_known_values():
    # |diffs| = 1, 1, 0.2, 0.4, 0.1 -> 2.7 / 5
    assert M.mae(Y_PRED, Y_TRUE) == pytest.approx(0.54)
    # corr of a perfectly linear relation is 1, of its negation -1
    assert M.corr([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert M.corr([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(M.corr([1, 1, 1], [1, 2, 3]))
    # hand: p=[0,1,3] mean 4/3 -> [-4/3,-1/3,5/3]; t=[0,1,1] mean 2/3 -> [-2/3,1/3,1/3]
    # cov = 8/9 - 1/9 + 5/9 = 12/9; var_p = 16/9+1/9+25/9 = 42/9; var_t = 4/9+1/9+1/9 = 6/9
    assert M.corr([0, 1, 3], [0, 1, 1]) == pytest.approx((12 / 9) / math.sqrt(42 / 9 * 6 / 9))


def test_acc2_has0_convention():
    # has-0: classes are (< 0) vs (>= 0)
    # true  >=0: F F T T T ; pred >=0: F T F T T  -> agree on 0, 3, 4 = 3/5
    assert M.acc2_has0(Y_PRED, Y_TRUE) == pytest.approx(0.6)
    # a zero prediction for a zero target counts as correct (both non-negative)
    assert M.acc2_has0([0.0], [0.0]) == 1.0


def test_acc2_non0_convention():
    # non-0 drops index 2 (target 0); positive is > 0
    # remaining true >0: F F T T ; pred >0: F T T T -> 3/4
    assert M.acc2_non0(Y_PRED, Y_TRUE) == pytest.approx(0.75)
    # a prediction of exactly 0 is "not positive" in non-0
    assert M.acc2_non0([0.0, 1.0], [-1.0, 1.0]) == 1.0
    assert M.acc2_non0([0.0], [1.0]) == 0.0
    with pytest.raises(ValueError, match="every target is 0"):
        M.acc2_non0([1.0], [0.0])


def test_f1_weighted_by_support_hand_computed():
    # has-0: true=[0,0,1,1,1] pred=[0,1,0,1,1]
    # class 0: tp=1 fp=1 fn=1 -> F1 = 2/4 = 0.5, support 2
    # class 1: tp=2 fp=1 fn=1 -> F1 = 4/6, support 3
    assert M.f1_has0(Y_PRED, Y_TRUE) == pytest.approx((2 * 0.5 + 3 * 4 / 6) / 5)
    # non-0: true=[0,0,1,1] pred=[0,1,1,1]
    # class 0: tp=1 fp=0 fn=1 -> 2/3 ; class 1: tp=2 fp=1 fn=0 -> 4/5 ; supports 2, 2
    assert M.f1_non0(Y_PRED, Y_TRUE) == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_acc7_rounds_half_to_even_and_clips():
    # clip 2.6 -> 2.6 round 3 ; pred 2.5 -> round-half-even 2 -> mismatch
    # -2 vs -1: no; -0.5 -> -0 vs 0.5 -> 0: match (both 0); 0 vs -0.2 -> 0: match; 1 vs 1.4 -> 1: match
    assert M.acc7(Y_PRED, Y_TRUE) == pytest.approx(3 / 5)
    # clipping: 10 and 3.2 are both 3
    assert M.acc7([10.0], [3.2]) == 1.0
    # acc5 clips at +-2: 2.6 -> 2, 2.5 -> 2 match; -2 vs -1 no; others as above
    assert M.acc5(Y_PRED, Y_TRUE) == pytest.approx(4 / 5)


def test_regression_metrics_matches_sklearn_on_random_data():
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(0)
    t = np.round(rng.uniform(-3, 3, 200) * 3) / 3  # includes exact zeros
    t[:5] = 0.0
    p = t + rng.normal(0, 1, 200)
    r = M.regression_metrics(torch.tensor(p), t)  # tensors are accepted too
    assert list(r) == list(M.REGRESSION_KEYS)
    assert r["f1_has0"] == pytest.approx(f1_score(t >= 0, p >= 0, average="weighted"))
    nz = t != 0
    assert r["f1_non0"] == pytest.approx(f1_score(t[nz] > 0, p[nz] > 0, average="weighted"))
    assert r["acc2_non0"] == pytest.approx(accuracy_score(t[nz] > 0, p[nz] > 0))
    assert r["corr"] == pytest.approx(np.corrcoef(p, t)[0, 1])


def test_regression_metrics_all_zero_targets_gives_nan_non0():
    r = M.regression_metrics([0.1, -0.1], [0.0, 0.0])
    assert math.isnan(r["acc2_non0"]) and math.isnan(r["f1_non0"])
    assert r["acc2_has0"] == 0.5


def test_classification_metrics_hand_computed():
    names = ("neutral", "happy", "sad", "angry")
    true = [0, 0, 1, 1, 2, 3]
    pred = [0, 1, 1, 1, 2, 0]
    r = M.classification_metrics(pred, true, names)
    assert r["accuracy"] == pytest.approx(4 / 6)
    # neutral: tp=1 fp=1 fn=1 -> 0.5 ; happy: tp=2 fp=1 fn=0 -> 0.8 ; sad: 1.0 ; angry: tp=0 -> 0
    assert r["f1_neutral"] == pytest.approx(0.5)
    assert r["f1_happy"] == pytest.approx(0.8)
    assert r["f1_sad"] == pytest.approx(1.0)
    assert r["f1_angry"] == pytest.approx(0.0)
    assert r["macro_f1"] == pytest.approx((0.5 + 0.8 + 1.0 + 0.0) / 4)
    assert r["weighted_f1"] == pytest.approx((2 * 0.5 + 2 * 0.8 + 1 * 1.0 + 1 * 0.0) / 6)
    # MulT-style binary weighted F1 for "angry or not": true=[0,0,0,0,0,1] pred=[0]*6
    # class 0: tp=5 fp=1 fn=0 -> 10/11 (support 5); class 1: 0 (support 1)
    assert r["wf1_angry"] == pytest.approx(5 * (10 / 11) / 6)
    assert r["acc_angry"] == pytest.approx(5 / 6)


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="differ in length"):
        M.mae([1, 2], [1])
    with pytest.raises(ValueError, match="no samples"):
        M.mae([], [])
    with pytest.raises(ValueError, match="class indices"):
        M.classification_metrics([0, 5], [0, 1], ("a", "b"))


def test_binary_head_metrics_use_each_heads_own_decision():
    from sklearn.metrics import f1_score

    from aumdf.metrics import binary_head_metrics

    names = ("neutral", "happy")
    # head "happy" says yes for samples 0 and 2; the true classes are happy, neutral, happy, happy
    logits = np.array([[-1.0, 2.0], [1.0, -3.0], [0.5, 0.1], [-0.2, -0.1]])
    r = binary_head_metrics(logits, np.array([1, 0, 1, 1]), names)
    # neutral head: yes for 1 and 2 vs truth only 1 -> 3/4 correct; happy head: yes for 0, 2 vs truth 0, 2, 3 -> 3/4
    assert r["acc_neutral"] == pytest.approx(0.75) and r["acc_happy"] == pytest.approx(0.75)
    assert r["wf1_happy"] == pytest.approx(f1_score([1, 0, 1, 1], [1, 0, 1, 0], average="weighted"))
