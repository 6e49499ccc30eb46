"""Predictor and `python -m aumdf.predict`: batch conversion, availability, toggles, seeds, Shapley
contributions, checkpoints, CLI errors.

The model tests run on features the test builds (fast, no extractor); the end-to-end ones run the
project's real extractors on a clip the test encodes (marked slow only where they take long).
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from aumdf.checkpoint import CheckpointError, FeatureMismatchError, save_checkpoint
from aumdf.config import AUMDFConfig
from aumdf.inputs import batch_from_features, frames_used
from aumdf.model import AUMDF
from aumdf.predictor import InputError, Predictor, bin7, parse_modalities, resolve_checkpoints, sentiment_label
from aumdf.shapley import ALL_SUBSETS, contributions, shapley_values, subset_row
from aumdf.types import MODALITIES
from features.spec import FeatureSpec, ModalitySpec
from features.types import ClipFeatures, FeatureError, ModalityFeatures

ROOT = Path(__file__).resolve().parents[1]
SPEC = FeatureSpec(
    text=ModalitySpec("text", 8, max_len=6, extractor="test"),
    audio=ModalitySpec("audio", 5, max_len=20, extractor="test"),
    vision=ModalitySpec("vision", 4, max_len=10, extractor="test"),
)


def tiny_checkpoint(root: Path, spec: FeatureSpec = SPEC, teacher: bool = True, seed: int = 0) -> Path:
    """A randomly initialised student (+ teacher) saved as a checkpoint pair: plumbing only, never a result."""
    torch.manual_seed(seed)
    cfg = AUMDFConfig(input_dims=spec.dims, d_model=16, n_heads=2, n_layers=1, dropout=0.0, head_dropout=0.0)
    for role in ("student", "teacher") if teacher else ("student",):
        save_checkpoint(root / role, AUMDF.from_config(cfg), spec, {"role": role, "note": "random weights for tests"})
    return root


def fake_clip(spec: FeatureSpec = SPEC, lengths=(4, 30, 7), seed: int = 0, missing: dict | None = None) -> ClipFeatures:
    rng = np.random.default_rng(seed)
    mods = {}
    for m, t in zip(("text", "audio", "vision"), lengths):
        values = rng.standard_normal((t, spec[m].dim)).astype(np.float32)  # drawn even when missing: same others
        start = np.arange(t, dtype=np.float32) * 0.1
        mods[m] = ModalityFeatures(m, values, np.stack([start, start + 0.1], 1))
        if missing and m in missing:
            mods[m] = ModalityFeatures.missing(m, spec[m].dim, missing[m])
    return ClipFeatures(**mods, duration=3.0)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> Predictor:
    return Predictor.from_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("ck")), device="cpu")


# ------------------------------------------------------------------ inputs
def test_batch_from_features_pads_cuts_and_masks():
    clip = fake_clip(lengths=(4, 30, 7), missing={"vision": "no face"})
    b = batch_from_features(clip, SPEC)
    shapes = {m: tuple(b.features[m].shape) for m in b.features}
    assert shapes == {"text": (1, 6, 8), "audio": (1, 20, 5), "vision": (1, 10, 4)}
    assert {m: b.lengths[m].tolist() for m in b.lengths} == {"text": [4], "audio": [20], "vision": [0]}
    assert b.masks["text"][0].tolist() == [True] * 4 + [False] * 2
    assert not b.masks["vision"].any()
    np.testing.assert_array_equal(b.features["audio"][0].numpy(), clip.audio.values[:20])
    assert frames_used(clip, SPEC) == {"text": 4, "audio": 20, "vision": 0}


def test_batch_from_features_several_clips_and_bad_width():
    b = batch_from_features([fake_clip(lengths=(2, 3, 4)), fake_clip(lengths=(6, 1, 1), seed=1)], SPEC)
    assert b.size == 2 and b.lengths["text"].tolist() == [2, 6]
    clip = fake_clip()
    clip.audio.values = np.zeros((3, 7), np.float32)
    with pytest.raises(FeatureError, match=r"audio features have shape \(3, 7\)"):
        batch_from_features(clip, SPEC)


def test_padding_to_max_len_does_not_change_the_prediction(predictor):
    """The predictor skips padding to max_len; the model's masks must make that invisible."""
    model = predictor.models["student"]
    for lengths in ((4, 30, 7), (1, 3, 10), (6, 20, 1)):
        clip = fake_clip(lengths=lengths, seed=sum(lengths))
        with torch.inference_mode():
            padded = model(batch_from_features(clip, SPEC, pad=True)).prediction
            tight = model(batch_from_features(clip, SPEC, pad=False)).prediction
        torch.testing.assert_close(padded, tight, atol=1e-5, rtol=1e-5)


def test_labels_and_modality_names():
    labels = [sentiment_label(s) for s in (-1.0, -0.5, 0.2, 0.5, 2.9)]
    assert labels == ["negative", "negative", "neutral", "positive", "positive"]
    assert [bin7(s) for s in (-4.0, -2.5, 0.49, 1.6, 3.3)] == [-3, -2, 0, 2, 3]
    assert parse_modalities("text,visual") == ("text", "vision")
    assert parse_modalities(["a", "L"]) == ("text", "audio")
    with pytest.raises(InputError, match="unknown modalities"):
        parse_modalities("text,smell")


# ----------------------------------------------------------------- predictor
def test_prediction_fields_and_shapes(predictor):
    clip = fake_clip(lengths=(4, 30, 7))
    p = predictor.predict(clip)
    assert isinstance(p.score, float) and np.isfinite(p.score) and p.label in ("negative", "neutral", "positive")
    assert p.bin7 == bin7(p.score)
    assert set(p.gates) == {"text>audio", "text>vision", "audio>text", "audio>vision", "vision>text", "vision>audio"}
    # attention cut to the used frames: query text (4) over audio (20, cut) + vision (7)
    assert p.attention["text"].shape == (1, 2, 4, 27)
    assert p.attention["audio"].shape == (1, 2, 20, 11)
    assert p.key_times["text"].shape == (27,) and p.query_times["audio"].shape == (20,)
    np.testing.assert_allclose(p.attention["text"].sum(-1), 1.0, atol=1e-5)  # every text query sees all its keys
    assert p.availability["audio"].reason.startswith("first 20 of 30 frames")
    d = p.to_dict()
    json.dumps(d)
    assert d["attention_shapes"]["vision"] == [1, 2, 7, 24]


def test_switching_off_changes_availability_and_output(predictor):
    clip = fake_clip()
    full = predictor.predict(clip)
    no_audio = predictor.predict(clip, ["text", "vision"])
    assert no_audio.availability["audio"].state == "switched off" and no_audio.availability["audio"].kept == 0
    assert full.availability["audio"].state == "present"
    assert no_audio.score != pytest.approx(full.score, abs=1e-7)
    # the same as a clip that never had audio
    absent = predictor.predict(fake_clip(missing={"audio": "no audio stream"}))
    assert absent.availability["audio"].state == "missing" and absent.availability["audio"].reason == "no audio stream"
    assert absent.score == pytest.approx(no_audio.score, abs=1e-5)


def test_drop_rate_is_reproducible_with_a_seed(predictor):
    clip = fake_clip(lengths=(6, 20, 10))
    a = predictor.predict(clip, drop_rate=0.5, seed=3)
    b = predictor.predict(clip, drop_rate=0.5, seed=3)
    c = predictor.predict(clip, drop_rate=0.5, seed=4)
    assert a.score == b.score and a.availability["audio"].kept == b.availability["audio"].kept
    assert [a.availability[m].kept for m in a.availability] != [c.availability[m].kept for m in c.availability] \
        or a.score != c.score
    assert a.availability["audio"].kept < 20


def test_teacher_and_errors(predictor):
    clip = fake_clip()
    s, t = predictor.predict(clip, which="student"), predictor.predict(clip, which="teacher")
    assert s.which == "student" and t.which == "teacher" and s.score != t.score
    with pytest.raises(InputError, match="no modality reaches the model"):
        predictor.predict(fake_clip(missing={"text": "no words", "audio": "silent"}), ["text", "audio"])
    with pytest.raises(InputError, match="drop rate"):
        predictor.predict(clip, drop_rate=1.0)


def test_checkpoint_resolution_and_missing_message(tmp_path):
    with pytest.raises(CheckpointError, match=r"no trained checkpoint at .*python -m train\.distill"):
        resolve_checkpoints(tmp_path / "nothing")
    root = tiny_checkpoint(tmp_path / "pair")
    assert resolve_checkpoints(root) == (root / "student", root / "teacher")
    assert resolve_checkpoints(root / "student") == (root / "student", None)
    only = Predictor.from_checkpoint(root / "student", device="cpu")
    assert not only.has_teacher
    with pytest.raises(InputError, match="no teacher model"):
        only.predict(fake_clip(), which="teacher")


def test_extractor_with_other_features_is_refused(tmp_path):
    class Other:
        def feature_spec(self):
            audio = ModalitySpec("audio", 5, max_len=20, extractor="other")
            return FeatureSpec(text=SPEC.text, audio=audio, vision=SPEC.vision)

    with pytest.raises(FeatureMismatchError, match="audio.extractor: expected 'test', offered 'other'"):
        Predictor.from_checkpoint(tiny_checkpoint(tmp_path), extractor=Other(), device="cpu")


def test_model_card_file_is_found_beside_the_pair(tmp_path):
    root = tiny_checkpoint(tmp_path / "pair")
    assert Predictor.from_checkpoint(root, device="cpu").card_file() is None
    (root / "MODEL_CARD.md").write_text("# card\n")
    assert Predictor.from_checkpoint(root, device="cpu").card_file() == root / "MODEL_CARD.md"
    assert Predictor.from_checkpoint(root / "student", device="cpu").card_file() == root / "MODEL_CARD.md"


# ------------------------------------------------------------------ Shapley
def test_shapley_values_known_answers():
    empty = frozenset()
    additive = {frozenset(s): sum({"text": 1.0, "audio": -2.0, "vision": 0.5}[m] for m in s) for s in ALL_SUBSETS}
    assert shapley_values(additive) == pytest.approx({"text": 1.0, "audio": -2.0, "vision": 0.5})
    # a pure interaction of text and audio is split evenly; vision, which changes nothing, gets 0
    pair = {s: 1.0 if {"text", "audio"} <= s else 0.0 for s in ALL_SUBSETS}
    assert shapley_values(pair) == pytest.approx({"text": 0.5, "audio": 0.5, "vision": 0.0})
    # all three needed: a third each; the values always add up to v(all) - v(empty)
    trio = {s: 3.0 if len(s) == 3 else 0.0 for s in ALL_SUBSETS}
    assert shapley_values(trio) == pytest.approx({"text": 1.0, "audio": 1.0, "vision": 1.0})
    assert len(ALL_SUBSETS) == 8 and ALL_SUBSETS[0] == empty and ALL_SUBSETS[subset_row(MODALITIES)] == frozenset(MODALITIES)
    c = contributions(pair, on=("text", "vision"))  # audio switched off: not a player
    assert c.phi == {"text": 0.0, "audio": 0.0, "vision": 0.0} and c.score == 0.0


@pytest.mark.parametrize("on, drop_rate", [(None, 0.0), (("text", "audio"), 0.0), (("vision",), 0.0), (None, 0.4)])
def test_contributions_add_up_to_score_minus_baseline(predictor, on, drop_rate):
    clip = fake_clip(lengths=(5, 20, 9), seed=3)
    p = predictor.predict(clip, on, drop_rate=drop_rate, seed=2)
    c = p.contributions
    assert c.baseline + sum(c.phi.values()) == pytest.approx(p.score, abs=1e-5)
    assert c.score == pytest.approx(p.score, abs=1e-6)
    for m in MODALITIES:
        if p.availability[m].state != "present":
            assert c.phi[m] == 0.0
    # each subset's value is what the model gives on that subset alone (same frames dropped)
    for name, subset in (("{l}", ("text",)), ("{a,v}", ("audio", "vision"))):
        wanted = tuple(m for m in subset if on is None or m in on)
        if wanted:
            alone = predictor.predict(clip, wanted, drop_rate=drop_rate, seed=2).score
            assert c.subsets[name] == pytest.approx(alone, abs=1e-5)
    assert set(p.to_dict()["contributions"]["phi"]) == set(MODALITIES)


def test_missing_modality_contributes_nothing(predictor):
    p = predictor.predict(fake_clip(missing={"audio": "no audio stream"}))
    assert p.contributions.phi["audio"] == 0.0
    assert p.contributions.baseline + sum(p.contributions.phi.values()) == pytest.approx(p.score, abs=1e-5)


# ---------------------------------------------------------------------- CLI
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aumdf.predict", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("make, expect", [
    (lambda d: d / "absent.mp4", "no such file"),
    (lambda d: (d / "empty.mp4").write_bytes(b"") and d / "empty.mp4" or d / "empty.mp4", "empty"),
    (lambda d: (d / "notes.mp4").write_text("not a video at all\n" * 50) and d / "notes.mp4", ""),
])
def test_cli_bad_input_exits_nonzero_with_one_line(tmp_path, make, expect):
    ck = tiny_checkpoint(tmp_path / "ck")
    clip = make(tmp_path)
    r = run_cli(str(clip), "--checkpoint", str(ck), "--json")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0]


def test_cli_missing_checkpoint_says_how_to_train(tmp_path):
    r = run_cli(str(tmp_path / "x.mp4"), "--checkpoint", str(tmp_path / "none"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no trained checkpoint" in r.stderr and "python -m train.distill" in r.stderr


def test_cli_bad_options(tmp_path):
    ck = tiny_checkpoint(tmp_path / "ck")
    r = run_cli(str(tmp_path / "x.mp4"), "--checkpoint", str(ck), "--modalities", "text,smell")
    assert r.returncode == 2 and "unknown modalities" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------- end to end, real extractors
@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory, onet_extractor) -> Path:
    spec = onet_extractor.feature_spec()
    return tiny_checkpoint(tmp_path_factory.mktemp("real"), spec)


def test_predictor_builds_the_checkpoints_extractors(real_checkpoint):
    p = Predictor.from_checkpoint(real_checkpoint, device="cpu")
    assert p.spec.diff(p.extractor.feature_spec()) == []


def test_extract_reports_its_stages(real_checkpoint, tmp_path):
    from tests.demo_support import TRANSCRIPT, make_clip

    seen = []
    p = Predictor.from_checkpoint(real_checkpoint, device="cpu")
    clip = p.extract(make_clip(tmp_path / "talk.mp4", seconds=1.5), TRANSCRIPT, on_stage=lambda *a: seen.append(a))
    names = [n for n, _ in seen]
    assert names[0] == "waiting for the extractor" and names[-1] == "extracted"
    assert {"decoding audio", "faces", "voice", "words"} <= set(names)
    assert all(0.0 <= f <= 1.0 for _, f in seen) and clip.transcript == TRANSCRIPT


def test_cli_prints_the_prediction_as_json(real_checkpoint, tmp_path, onet_extractor, capsys, monkeypatch):
    """In process with the session's extractors (the bad-input tests above run the real process)."""
    from tests.demo_support import TRANSCRIPT, make_clip, predict_cli

    clip = make_clip(tmp_path / "talk.mp4", seconds=2.0)
    cli = partial(predict_cli, capsys, monkeypatch=monkeypatch, extractor=onet_extractor)
    r = cli(str(clip), "--checkpoint", str(real_checkpoint), "--transcript", TRANSCRIPT,
            "--modalities", "text,audio", "--drop-rate", "0.2", "--seed", "3", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert np.isfinite(d["score"]) and d["label"] in ("negative", "neutral", "positive")
    assert d["availability"]["vision"]["state"] == "switched off" and d["availability"]["text"]["state"] == "present"
    assert d["modalities"] == ["text", "audio"] and d["drop_rate"] == 0.2 and d["seed"] == 3
    assert np.isfinite(d["teacher"]["score"]) and d["tokens"] == TRANSCRIPT.split()
    assert d["transcript"] == TRANSCRIPT
    c = d["contributions"]
    assert c["phi"]["vision"] == 0.0  # switched off
    assert c["baseline"] + sum(c["phi"].values()) == pytest.approx(d["score"], abs=1e-4)
    assert d["attention_shapes"]["text"][2] == len(TRANSCRIPT.split())
    assert set(d["gates"]) == {"text>audio", "text>vision", "audio>text", "audio>vision", "vision>text", "vision>audio"}
    # the plain summary names every modality's state
    r = cli(str(clip), "--checkpoint", str(real_checkpoint), "--transcript", TRANSCRIPT, "--modalities", "audio")
    assert r.returncode == 0 and "student: score" in r.stdout and "switched off" in r.stdout
    assert "contribution" in r.stdout and "baseline" in r.stdout


@pytest.mark.gpu
def test_cuda_prediction_matches_cpu(tmp_path):
    root = tiny_checkpoint(tmp_path)
    clip = fake_clip(lengths=(5, 20, 9))
    cpu = Predictor.from_checkpoint(root, device="cpu").predict(clip, drop_rate=0.3, seed=2)
    gpu = Predictor.from_checkpoint(root, device="cuda").predict(clip, drop_rate=0.3, seed=2)
    assert gpu.score == pytest.approx(cpu.score, abs=1e-4)
    assert {m: s.kept for m, s in gpu.availability.items()} == {m: s.kept for m, s in cpu.availability.items()}
