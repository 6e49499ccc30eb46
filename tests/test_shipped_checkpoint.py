"""The shipped default checkpoint: it loads, the app's default extractors are accepted, and it makes sense."""

from __future__ import annotations

import json

import pytest

from aumdf.predictor import DEFAULT_CHECKPOINT, Predictor
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    not (DEFAULT_CHECKPOINT / "student" / "model.safetensors").is_file(),
    reason="no shipped checkpoint in checkpoints/default (train it: docs/demo_corpus.md)",
)


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    # default extractors, built from the same settings the app uses: a spec mismatch raises here
    return Predictor.from_checkpoint()


def test_weights_are_small_enough_to_ship():
    total = sum(p.stat().st_size for p in (ROOT / "checkpoints").rglob("*") if p.is_file())
    assert total <= 30 * 2**20


def test_checkpoint_says_what_it_was_trained_on():
    meta = json.loads((DEFAULT_CHECKPOINT / "student" / "config.json").read_text())["metadata"]
    assert meta.get("dataset") == "demo"
    card = (DEFAULT_CHECKPOINT / "MODEL_CARD.md").read_text()
    for must in ("composite", "CC BY-NC-SA 4.0", "MOSI", "FER2013", "RAVDESS"):
        assert must in card


@pytest.mark.slow
def test_a_negative_review_scores_below_a_positive_one(predictor):
    def text_score(sentence: str) -> float:
        clip = predictor.extractor.extract_arrays(transcript=sentence)
        return predictor.predict(clip, ("text",), drop_rate=0.0, seed=0).score

    bad = text_score("this movie was terrible , boring and a complete waste of time")
    good = text_score("a wonderful film , i loved it and the acting was brilliant")
    assert bad < 0 < good or bad < good - 0.5, (bad, good)
