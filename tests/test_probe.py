"""train.demo.probe: the linear probes choose on validation only and report known answers on easy data."""

from __future__ import annotations

import numpy as np
import pytest

from train.demo import probe


def _split_data(seed: int = 0, n: int = 300, d: int = 6, noise: float = 0.3):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    x, y = {}, {}
    for s in probe.SPLITS:
        x[s] = rng.standard_normal((n, d))
        score = x[s] @ w
        y[s] = np.digitize(score + noise * rng.standard_normal(n), np.quantile(score, [1 / 3, 2 / 3]))
    return x, y


def test_classification_probe_separates_separable_classes():
    x, y = _split_data()
    chosen, valid, test, model = probe.classification_probe(x, y)
    assert chosen["C"] in probe.C_GRID
    assert valid["acc"] > 0.8 and test["acc"] > 0.8 and 0 < test["macro_f1"] <= 1


def test_choice_depends_on_validation_not_test():
    x, y = _split_data()
    rng = np.random.default_rng(5)
    y2 = dict(y, test=rng.permutation(y["test"]))  # scrambling test labels must not move the choice
    assert probe.classification_probe(x, y)[0] == probe.classification_probe(x, y2)[0]


def test_regression_probe_known_answer():
    rng = np.random.default_rng(0)
    x = {s: rng.standard_normal((400, 4)) for s in probe.SPLITS}
    y = {s: np.clip(x[s] @ np.array([1.0, -0.5, 0.0, 0.2]), -3, 3).astype(np.float32) for s in probe.SPLITS}
    chosen, valid, test = probe.regression_probe(x, y)
    assert test["mae"] < 0.1 and test["corr"] > 0.99 and test["f1_non0"] > 0.95
    assert chosen["alpha"] == min(probe.ALPHA_GRID)  # noise-free data: the least shrinkage wins on validation


def test_clip_stats_mean_and_std_after_pooling():
    frames = np.arange(20, dtype=np.float32).reshape(10, 2)  # columns 0,2,..18 and 1,3,..19
    s = probe.clip_stats(frames)
    np.testing.assert_allclose(s, [9, 10, frames[:, 0].std(), frames[:, 1].std()], rtol=1e-6)
    pooled = probe.clip_stats(frames, max_len=5)  # pairs averaged: mean kept, spread shrinks
    np.testing.assert_allclose(pooled[:2], [9, 10], rtol=1e-6)
    assert pooled[2] < s[2]
    assert probe.clip_stats(np.zeros((0, 3), np.float32)).shape == (6,)


def test_emotion_means_use_class_probabilities():
    class Fixed:
        classes_ = np.array([0, 1, 2])

        def predict_proba(self, x):
            return x

    p = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 0.5, 0.5]])
    m = probe.emotion_means(Fixed(), p, np.array(["angry", "happy", "happy"]))
    assert m == pytest.approx({"angry": -2.0, "happy": 1.5})


def test_aumdf_audio_run_on_tiny_data():
    rng = np.random.default_rng(0)
    frames = {s: [rng.standard_normal((int(rng.integers(5, 12)), 74)).astype(np.float32) + 100 * (i % 2)
                  for i in range(16)] for s in probe.SPLITS}
    scores = {s: np.array([2.0 if i % 2 else -2.0 for i in range(16)], np.float32) for s in probe.SPLITS}
    r = probe.aumdf_audio_run(frames, scores, standardise=True, epochs=2)
    assert len(r["history"]) == 2 and r["best"]["epoch"] in (1, 2)
    assert 0 <= r["best"]["test"]["acc"] <= 1 and np.isfinite(r["best"]["valid"]["pred_std"])
