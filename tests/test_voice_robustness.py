"""train.demo.voice_robustness on the tests' own RAVDESS-named tones and a random checkpoint of the corpus's spec."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aumdf.checkpoint import save_checkpoint
from aumdf.config import AUMDFConfig
from aumdf.model import AUMDF
from train.demo import voice_robustness as vr
from train.data import load_dataset
from train.demo.extraction import app_extractor
from train.demo.sources import find_ravdess


def test_renderings_are_scored_audio_only_and_reported(built, fake_data, tmp_path):
    out, _ = built
    valid = load_dataset("demo", out).valid
    ravdess = valid.where(valid.column("source") == "ravdess")
    spec = load_dataset("demo", out).feature_spec
    torch.manual_seed(0)
    model = AUMDF.from_config(AUMDFConfig.paper_table2(spec.dims, d_model=16, n_heads=2))
    save_checkpoint(tmp_path / "ck" / "student", model, spec)
    report = tmp_path / "r.json"
    args = ["--checkpoint", tmp_path / "ck", "--data-dir", fake_data, "--split", "valid", "--views", 2,
            "--cache", tmp_path / "cache", "--out", report]
    assert vr.main([str(a) for a in args]) == 0
    result = json.loads(report.read_text())
    assert result["clips"] == len(ravdess) and result["views"] == 2
    row = result["scores"][str(tmp_path / "ck")]["student"]
    for kind in ("recorded", "views"):
        assert 0.0 <= row[kind]["accuracy"] <= 1.0 and row[kind]["by_emotion"]
    # the recorded clips are the corpus's own audio features; the renderings are other arrays of the same clips
    cfg = vr.RobustnessConfig(data_dir=fake_data, views=2, cache=tmp_path / "cache")
    clips = [c for c in find_ravdess(fake_data) if c.split == "valid"]
    feats = vr.render_features(cfg, app_extractor(), clips)
    recorded = {c.id: a for c, a in feats["recorded"]}
    assert [c.id for c, _ in feats["views"]] == [c.id for c in clips for _ in (1, 2)]
    first_view = {c.id: a for c, a in feats["views"][::2]}
    for i, sid in enumerate(ravdess.column("ids")):
        np.testing.assert_allclose(recorded[sid], ravdess[i].features["audio"], rtol=1e-5, atol=1e-5)
        assert not np.array_equal(first_view[sid], recorded[sid])


def test_a_missing_checkpoint_is_a_message(tmp_path):
    with pytest.raises(SystemExit, match="error: .*nothing"):
        vr.main(["--checkpoint", str(tmp_path / "nothing"), "--data-dir", str(tmp_path)])
