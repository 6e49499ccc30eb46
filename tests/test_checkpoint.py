"""Checkpoints: exact round trip, strict loading, refusal of other features, clear errors."""

from __future__ import annotations

import pytest
import torch

from aumdf.checkpoint import CheckpointError, FeatureMismatchError, load_checkpoint, save_checkpoint
from aumdf.model import AUMDF
from features.spec import FeatureSpec, ModalitySpec
from tests.factories import DIMS, random_batch, tiny_config


def spec(audio_dim=DIMS[1], sr=16000) -> FeatureSpec:
    return FeatureSpec(
        text=ModalitySpec("text", DIMS[0], "unaligned", 25, "glove", {"vectors": "glove-6B-50d"}),
        audio=ModalitySpec("audio", audio_dim, "unaligned", 150, "covarep-librosa", {"sr": sr, "hop_s": 0.01}),
        vision=ModalitySpec("vision", DIMS[2], "unaligned", 100, "fer", {"fps": 5}),
    )


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = AUMDF.from_config(tiny_config()).eval()
    path = save_checkpoint(tmp_path / "ckpt", model, spec(), {"trained_on": "unit test"})
    return model, path


def test_round_trip_reproduces_outputs_exactly(saved):
    model, path = saved
    loaded = load_checkpoint(path, expected_spec=spec())
    batch = random_batch("unaligned", b=3)
    with torch.no_grad():
        assert torch.equal(model(batch).prediction, loaded.model(batch).prediction)
    assert loaded.config == model.config and loaded.metadata == {"trained_on": "unit test"}
    assert loaded.feature_spec == spec() and not loaded.model.training


def test_mismatched_feature_spec_is_refused_with_the_differences(saved):
    _, path = saved
    with pytest.raises(FeatureMismatchError) as err:
        load_checkpoint(path, expected_spec=spec(sr=22050))
    assert "audio.settings.sr: expected 16000, offered 22050" in str(err.value)
    assert err.value.differences == ["audio.settings.sr: expected 16000, offered 22050"]


def test_saving_with_inconsistent_dims_is_refused(tmp_path):
    model = AUMDF.from_config(tiny_config())
    with pytest.raises(CheckpointError, match="do not match"):
        save_checkpoint(tmp_path / "x", model, spec(audio_dim=40))


def test_missing_and_corrupt_files_give_clear_errors(saved, tmp_path):
    _, path = saved
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_checkpoint(tmp_path / "nowhere")
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="unreadable or corrupt"):
        load_checkpoint(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a valid AUMDF checkpoint config"):
        load_checkpoint(path)


def test_strict_loading_rejects_other_weights(saved, tmp_path):
    _, path = saved
    other = AUMDF.from_config(tiny_config(d_model=32))
    other_path = save_checkpoint(tmp_path / "other", other, spec())
    (path / "model.safetensors").write_bytes((other_path / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(path)
