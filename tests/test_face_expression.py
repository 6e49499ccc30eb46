"""Facial-expression network (features/face_expression.py) and its trainer (train/face_expression.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from features.face_expression import (
    CLASSES,
    DEFAULT_DIR,
    EMBED_DIM,
    FaceExpressionNet,
    load_face_expression,
    preprocess_faces,
)
from features.types import FeatureError
from train.face_expression import (
    DataError,
    FERSplits,
    Split,
    FaceTrainConfig,
    accuracy,
    augment,
    fit,
    load_fer2013,
    main,
    per_class_accuracy,
    predict,
    save,
)


def synthetic_faces(n: int, n_classes: int = 3, seed: int = 0) -> Split:
    """48x48 uint8 patterns a CNN can tell apart: horizontal bars, vertical bars, a bright disk; plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:48].astype(np.float32)
    labels = rng.integers(0, n_classes, n)
    images = np.zeros((n, 48, 48), np.uint8)
    for i, k in enumerate(labels):
        period = rng.uniform(6, 12)
        phase = rng.uniform(0, 2 * np.pi)
        if k == 0:
            img = np.sin(2 * np.pi * yy / period + phase)
        elif k == 1:
            img = np.sin(2 * np.pi * xx / period + phase)
        else:
            r = rng.uniform(8, 16)
            img = np.where((yy - 24) ** 2 + (xx - 24) ** 2 < r * r, 1.0, -1.0)
        img = 128 + 80 * img + rng.normal(0, 25, (48, 48))
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return Split(images, labels.astype(np.int64))


def synthetic_npz(path, n_train=96, n_eval=48):
    tr, pu, pr = synthetic_faces(n_train, seed=1), synthetic_faces(n_eval, seed=2), synthetic_faces(n_eval, seed=3)
    np.savez(
        path,
        images=np.concatenate([tr.images, pu.images, pr.images]),
        labels=np.concatenate([tr.labels, pu.labels, pr.labels]),
        usage=np.array(["Training"] * n_train + ["PublicTest"] * n_eval + ["PrivateTest"] * n_eval),
        ids=np.array([f"id{i}" for i in range(n_train + 2 * n_eval)]),
        classes=np.array(CLASSES),
    )
    return path


TINY = dict(widths=(8, 16), convs_per_stage=1)


# --- network -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{}, TINY, dict(widths=(8, 16, 32), convs_per_stage=3)])
def test_shapes_finite_and_every_parameter_learns(kwargs):
    torch.manual_seed(0)
    model = FaceExpressionNet(**kwargs)
    x = torch.rand(5, 1, 48, 48)
    emb, logits = model.embed(x), model(x)
    assert emb.shape == (5, EMBED_DIM) and logits.shape == (5, len(CLASSES))
    assert torch.isfinite(emb).all() and torch.isfinite(logits).all()
    logits.sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


def test_embed_is_the_classifier_input():
    model = FaceExpressionNet(**TINY).eval()
    x = torch.rand(3, 1, 48, 48)
    linear = model.classifier[-1]
    torch.testing.assert_close(model(x), linear(model.embed(x)))


def test_rejects_non_grey_input():
    with pytest.raises(ValueError, match=r"\[n, 1, h, w\]"):
        FaceExpressionNet(**TINY)(torch.rand(2, 3, 48, 48))


def test_predict_proba_flip_is_symmetric():
    model = FaceExpressionNet(**TINY).eval()
    x = torch.rand(4, 1, 48, 48)
    p = model.predict_proba(x)
    torch.testing.assert_close(p.sum(-1), torch.ones(4))
    torch.testing.assert_close(p, model.predict_proba(x.flip(-1)))


# --- preprocessing -------------------------------------------------------------------------------------


def test_preprocess_various_sizes_and_formats():
    rng = np.random.default_rng(0)
    crops = [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(48, 48), (10, 7), (200, 130), (1, 1), (64, 300)]
    ]
    crops += [rng.integers(0, 256, (30, 40), dtype=np.uint8), rng.integers(0, 256, (30, 40, 4), dtype=np.uint8)]
    x = preprocess_faces(crops)
    assert x.shape == (len(crops), 1, 48, 48) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert preprocess_faces([]).shape == (0, 1, 48, 48)


def test_preprocess_known_values():
    grey = np.full((20, 30, 3), 128, np.uint8)
    red = np.zeros((100, 100, 3), np.uint8)
    red[..., 0] = 255
    x = preprocess_faces([grey, red])
    torch.testing.assert_close(x[0], torch.full((1, 48, 48), 128 / 255))
    # ITU-R 601 luma of pure red: 0.299 * 255 = 76
    torch.testing.assert_close(x[1], torch.full((1, 48, 48), 76 / 255))
    # the training convention: a 48x48 grey FER face passes through unchanged
    face = np.random.default_rng(1).integers(0, 256, (48, 48), dtype=np.uint8)
    torch.testing.assert_close(preprocess_faces([face])[0, 0], torch.from_numpy(face).float() / 255)


@pytest.mark.parametrize("bad", [np.zeros((0, 10, 3), np.uint8), np.zeros((5, 5, 2), np.uint8), np.zeros(5, np.uint8)])
def test_preprocess_bad_crop_says_what_is_wrong(bad):
    with pytest.raises(FeatureError, match="face crop 1 has shape"):
        preprocess_faces([np.zeros((8, 8, 3), np.uint8), bad])


# --- loading -------------------------------------------------------------------------------------------


def test_missing_weights_error_names_file_and_command(tmp_path):
    with pytest.raises(FeatureError) as e:
        load_face_expression(tmp_path / "nowhere")
    msg = str(e.value)
    assert "model.safetensors" in msg and "python -m train.face_expression" in msg


def test_corrupt_checkpoint_is_a_feature_error(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FeatureError, match="python -m train.face_expression"):
        load_face_expression(tmp_path)


def test_save_then_load_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = FaceExpressionNet(**TINY, mean=0.4, std=0.2).eval()
    save(model, tmp_path, FaceTrainConfig(), {"private_test_acc": 0.5}, {"file": "synthetic"})
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["classes"] == list(CLASSES) and "research" in meta["licence"]
    for path in (tmp_path, tmp_path / "model.safetensors"):
        loaded = load_face_expression(path)
        assert not loaded.training and loaded.config == model.config
        x = torch.rand(3, 1, 48, 48)
        torch.testing.assert_close(loaded.embed(x), model.embed(x))


# --- training pieces -----------------------------------------------------------------------------------


def test_accuracy_known_answers():
    pred, labels = torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2])
    assert accuracy(pred, labels) == 0.75
    assert per_class_accuracy(pred, labels, 3) == [1.0, 0.5, 1.0]


def test_augment_without_geometry_is_identity_or_mirror():
    cfg = FaceTrainConfig(max_rotate_deg=0, max_scale=0, max_shift=0)
    x = torch.rand(32, 1, 48, 48)
    y = augment(x, cfg, torch.Generator().manual_seed(0))
    same = [torch.allclose(y[i], x[i], atol=1e-5) for i in range(32)]
    mirrored = [torch.allclose(y[i], x[i].flip(-1), atol=1e-5) for i in range(32)]
    assert all(s or m for s, m in zip(same, mirrored)) and any(same) and any(mirrored)


def test_augment_is_deterministic_for_a_seed():
    x = torch.rand(8, 1, 48, 48)
    a = augment(x, FaceTrainConfig(), torch.Generator().manual_seed(3))
    b = augment(x, FaceTrainConfig(), torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0


def test_tiny_training_learns_synthetic_patterns_above_chance():
    splits = FERSplits(synthetic_faces(384, seed=1), synthetic_faces(96, seed=2), synthetic_faces(96, seed=3))
    cfg = FaceTrainConfig(epochs=4, batch_size=32, lr=0.05, threads=1, **TINY)
    model, metrics = fit(splits, cfg, progress=False)
    assert metrics["private_test_acc"] > 0.7, metrics  # chance is 1/3
    assert metrics["best_epoch"] >= 1 and len(metrics["history"]) == 4
    test_acc = accuracy(predict(model, splits.test), torch.from_numpy(splits.test.labels))
    assert test_acc == pytest.approx(metrics["private_test_acc"])


def test_training_is_deterministic_for_a_seed():
    splits = FERSplits(synthetic_faces(64, seed=1), synthetic_faces(32, seed=2), synthetic_faces(32, seed=3))
    cfg = FaceTrainConfig(epochs=1, batch_size=16, threads=1, seed=7, **TINY)
    a, _ = fit(splits, cfg, progress=False)
    b, _ = fit(splits, cfg, progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, msg=k)


def test_load_fer2013_uses_official_usage_split(tmp_path):
    splits = load_fer2013(synthetic_npz(tmp_path / "fer.npz", n_train=20, n_eval=10))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 10, 10)
    assert splits.source["file"] == "fer.npz" and len(splits.source["sha256"]) == 64


def test_load_fer2013_errors(tmp_path):
    with pytest.raises(DataError, match="--data"):
        load_fer2013(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", images=np.zeros((3, 32, 32), np.uint8), labels=np.zeros(3), usage=np.array(["Training"] * 3))
    with pytest.raises(DataError, match="48, 48"):
        load_fer2013(tmp_path / "bad.npz")


def test_cli_end_to_end_on_generated_data(tmp_path, capsys):
    data = synthetic_npz(tmp_path / "fer.npz")
    out = tmp_path / "ckpt"
    rc = main(["--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "32", "--widths", "8", "16",
               "--convs-per-stage", "1", "--threads", "1"])
    assert rc == 0
    meta = json.loads((out / "config.json").read_text())
    assert {"public_test_acc", "private_test_acc", "best_epoch", "train_minutes"} <= set(meta["metrics"])
    assert load_face_expression(out).config.widths == (8, 16)
    assert main(["--data", str(tmp_path / "nope.npz"), "--out", str(out)]) == 2
    assert "FER2013 not found" in capsys.readouterr().err

    # a warm restart from that checkpoint keeps its architecture and records both stages
    out2 = tmp_path / "ckpt2"
    rc = main(["--data", str(data), "--out", str(out2), "--epochs", "1", "--batch-size", "32", "--lr", "0.01",
               "--threads", "1", "--init", str(out)])
    assert rc == 0
    meta2 = json.loads((out2 / "config.json").read_text())
    assert meta2["arch"]["widths"] == [8, 16] and meta2["metrics"]["init"]["metrics"]["epochs_run"] == 1
    assert meta2["metrics"]["total_train_minutes"] >= meta2["metrics"]["train_minutes"]
    assert main(["--data", str(data), "--out", str(out2), "--init", str(tmp_path / "none")]) == 2
    assert "python -m train.face_expression" in capsys.readouterr().err


# --- the shipped weights -------------------------------------------------------------------------------


def test_shipped_weights_load_and_give_finite_outputs():
    model = load_face_expression()  # fails, with the command to run, if the checkpoint was not committed
    x = preprocess_faces([np.random.default_rng(0).integers(0, 256, (60, 50, 3), dtype=np.uint8) for _ in range(4)])
    emb, logits = model.embed(x), model(x)
    assert emb.shape == (4, EMBED_DIM) and torch.isfinite(emb).all() and torch.isfinite(logits).all()
    meta = json.loads((DEFAULT_DIR / "config.json").read_text())
    assert meta["metrics"]["private_test_acc"] >= 0.6


@pytest.mark.media
@pytest.mark.slow
def test_shipped_weights_accuracy_on_private_test_sample(shared):
    splits = load_fer2013(shared / "data" / "fer2013.npz")
    idx = np.random.default_rng(0).choice(len(splits.test), 500, replace=False)  # a fixed sample: 66.6 %
    sample = Split(splits.test.images[idx], splits.test.labels[idx])
    model = load_face_expression()
    acc = accuracy(predict(model, sample), torch.from_numpy(sample.labels))
    assert acc >= 0.60, f"PrivateTest sample accuracy {acc:.3f} < 0.60"
