"""The demo-corpus evaluation (train/demo/evaluate.py) and the model card (train/demo/model_card.py): on the tiny
corpus built from generated data (the session fixture `built`, tests/conftest.py), with a checkpoint pair
trained for one epoch by train.distill; plus known answers for the pure parts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from aumdf.rprm import SUBSETS, subset_name
from features.feature_files import read_split
from train.demo import evaluate as ed
from train.demo.model_card import CARD_NAME, summary_markdown, training_command, write_model_card


# ------------------------------------------------------------------ pure parts, known answers


def test_class_report_and_majority_baseline_known_answers():
    true = np.array([-2.0, -2.5, 0.0, 0.25, 2.0, 1.0])  # neg neg neu neu pos pos
    pred = np.array([-1.0, 0.1, 0.2, -0.6, 0.7, 3.0])  # neg neu neu neg pos pos
    r = ed.class_report(pred, true)
    assert r["accuracy"] == pytest.approx(4 / 6)
    # F1 neg: tp 1, fp 1, fn 1 -> 0.5; neu: tp 1, fp 1, fn 1 -> 0.5; pos: 1.0
    assert r["f1_negative"] == pytest.approx(0.5) and r["f1_neutral"] == pytest.approx(0.5)
    assert r["macro_f1"] == pytest.approx(2 / 3)
    assert r["mae"] == pytest.approx(np.mean(np.abs(pred - true)))
    base = ed.majority_baseline(np.array([-2.0, -1.5, 2.0]), true)  # train majority: negative
    assert base["predictor"] == "train majority (negative)" and base["accuracy"] == pytest.approx(2 / 6)


def test_classes_use_the_models_neutral_band():
    # a score on the band's edge counts as its side, as aumdf.metrics.sentiment_class bins it
    r = ed.class_report(np.array([-0.5, -0.49, 0.49, 0.5]), np.array([-2.0, 0.0, 0.0, 2.0]))
    assert r["accuracy"] == 1.0


def test_mean_by_orders_emotions_and_counts():
    out = ed.mean_by(np.array([1.0, 3.0, -2.0, 0.5]), np.array(["sad", "happy", "sad", "zzz"]))
    assert list(out) == ["happy", "sad", "zzz"]
    assert out["sad"] == {"n": 2, "mean_score": -0.5} and out["happy"]["mean_score"] == 3.0


def test_sense_checks_pass_and_fail_on_known_scores():
    by = {"student": {"happy": {"n": 1, "mean_score": 1.0}, "angry": {"n": 1, "mean_score": -1.0},
                      "sad": {"n": 1, "mean_score": 2.0}}}
    res = {"split": "test", "sense": {"ravdess_by_emotion": by, "fer2013_by_emotion": {"student": {}},
                     "sentences": [{"expected": "negative", "student": -0.3},
                                   {"expected": "positive", "student": 0.4}, {"expected": "positive", "student": -0.1}]}}
    checks = {c["check"]: c["passed"] for c in ed._sense_checks(res, ["student"])}
    assert checks == {
        "happy speech scores above angry speech (ravdess test, student)": True,
        "happy speech scores above sad speech (ravdess test, student)": False,
        "every clearly negative review sentence scores below zero (student)": True,
        "every clearly positive review sentence scores above zero (student)": False,
    }
    res["split"] = "valid"  # the checks name the split they were read on
    assert "happy speech scores above angry speech (ravdess valid, student)" in {
        c["check"] for c in ed._sense_checks(res, ["student"])}


def test_split_names_follow_each_sources_own_split():
    assert ed.split_names("test") == {"mosi": "MOSI test", "mosei": "MOSEI test",
                                      "ravdess": "RAVDESS actors 21–24", "fer2013": "FER2013 PrivateTest"}
    valid = ed.split_names("valid")
    assert valid["ravdess"] == "RAVDESS actors 19–20" and valid["fer2013"] == "FER2013 PublicTest"


def test_training_command_lists_only_changed_flags():
    from train.distill import TrainConfig

    cfg = TrainConfig(dataset="demo", data_dir="data/demo", d_model=128, use_dwam=False, samples_per_epoch=4096,
                      drop_rates=(0.0, 0.5), progress=False).to_dict()
    cmd = training_command(cfg)
    assert cmd == ("python -m train.distill --dataset demo --data-dir data/demo --d-model 128 --no-use-dwam "
                   "--drop-rates 0.0 0.5 --samples-per-epoch 4096")


def test_training_section_shows_the_run_that_trained_an_existing_teacher(tmp_path):
    import json

    from train.distill import TrainConfig
    from train.demo.model_card import TeacherRun, _training_section

    first = tmp_path / "first"
    (first / "teacher").mkdir(parents=True)
    t_cfg = TrainConfig(dataset="demo", epochs=10, teacher_epochs=8, samples_per_epoch=6400).to_dict()
    (first / "train_config.json").write_text(json.dumps(t_cfg))
    (first / "metrics.json").write_text(json.dumps({"wall_s": 984.0}))
    s_cfg = TrainConfig(dataset="demo", epochs=16, samples_per_epoch=9600, teacher=str(first / "teacher")).to_dict()
    assert TeacherRun.of(t_cfg) is None  # a run that trained its own teacher
    text = "\n".join(_training_section(s_cfg, {"wall_s": 1897.0}, TeacherRun.of(s_cfg)))
    assert text.index("--teacher-epochs 8 --samples-per-epoch 6400") < text.index("--samples-per-epoch 9600")
    assert "That run took 16.4 min (8 teacher + 10 student epochs of 6400 samples)" in text
    assert "Training time: 31.6 min (16 student epochs of 9600 samples)" in text
    assert "its own student was not kept" in text
    # a teacher from a --teacher-only run: no student epochs to count, no student to have dropped
    only = tmp_path / "only"
    (only / "teacher").mkdir(parents=True)
    (only / "train_config.json").write_text(json.dumps(
        TrainConfig(dataset="demo", epochs=10, samples_per_epoch=6400, teacher_only=True).to_dict()))
    (only / "metrics.json").write_text(json.dumps({"wall_s": 660.0}))
    o_cfg = {**s_cfg, "teacher": str(only / "teacher")}
    text = "\n".join(_training_section(o_cfg, {"wall_s": 1865.0}, TeacherRun.of(o_cfg)))
    assert "it trained the teacher only" in text and "That run took 11.0 min (10 teacher epochs of 6400 samples)" in text
    # without the teacher's run folder the card says so instead of guessing
    s_cfg["teacher"] = str(tmp_path / "gone" / "teacher")
    assert "train_config.json was not found" in "\n".join(_training_section(s_cfg, None, TeacherRun.of(s_cfg)))


def test_card_says_which_samples_the_teacher_learnt_from():
    from train.distill import TrainConfig
    from train.demo.model_card import _who_learns_what

    complete = TrainConfig(dataset="demo").to_dict()
    recorded = TrainConfig(dataset="demo", teacher_samples="recorded").to_dict()
    text = _who_learns_what(complete, complete)
    assert "teacher learns from composites only" in text and text.endswith("applied to composites.")
    text = _who_learns_what(recorded, recorded)
    assert "every sample as recorded" in text and text.endswith("applied to every sample.")
    # the teacher's own run decides what it learnt from; the student's run where it was distilled
    text = _who_learns_what(recorded, complete)
    assert "every sample as recorded" in text and text.endswith("applied to composites.")


# ------------------------------------------------------------------ end to end on the tiny corpus


@pytest.fixture(scope="module")
def run(built, tmp_path_factory) -> Path:
    import torch

    from train.distill import main

    torch.set_num_threads(1)
    corpus, _ = built
    out = tmp_path_factory.mktemp("run") / "demo"
    main(["--dataset", "demo", "--data-dir", str(corpus), "--d-model", "16", "--n-heads", "2", "--epochs", "1",
          "--samples-per-epoch", "32", "--batch-size", "8", "--threads", "1", "--device", "cpu", "--no-progress",
          "--out", str(out)])
    return out


@pytest.fixture(scope="module")
def evaluated(run, built, extractors):
    corpus, _ = built
    return ed.evaluate_demo(run, corpus, batch_size=4, extractor=extractors)


def _finite_leaves(x, where=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _finite_leaves(v, f"{where}.{k}")
    elif isinstance(x, float):
        yield where, x


def test_every_section_has_its_keys_and_finite_numbers(evaluated, built):
    corpus, manifest = built
    res = json.loads((Path(evaluated["written"][0])).read_text())
    assert res["format"] == ed.FORMAT and list(res["models"]) == ["teacher", "student"]
    assert set(res["sources"]) == {"mosi", "mosei", "ravdess", "fer2013"}
    for source, entry in res["sources"].items():
        assert entry["modalities"] == list(ed.SOURCE_MODALITIES[source])
        assert entry["n"] == manifest["stats"][source]["test"]["n"] > 0
        want = ({"mae", "corr", "acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc7"} if source in ("mosi", "mosei")
                else {"accuracy", "macro_f1", "f1_negative", "f1_neutral", "f1_positive", "mae"})
        for role in ("teacher", "student"):
            assert want <= set(entry["metrics"][role]), (source, role)
            for k in want:
                assert math.isfinite(entry["metrics"][role][k]), (source, role, k)
        assert "predictor" in entry["baseline"]
    grid = res["composite_grid"]
    assert grid["n"] == manifest["stats"]["composite"]["test"]["n"] > 0
    for role in ("teacher", "student"):
        assert list(grid["subsets"][role]) == [subset_name(s) for s in SUBSETS]
        for row in [*grid["subsets"][role].values(), grid["average"][role]]:
            for k in ("mae", "acc2_has0", "f1_has0", "acc7"):
                assert math.isfinite(row[k])
        assert grid["average"][role]["mae"] == pytest.approx(
            np.mean([r["mae"] for r in grid["subsets"][role].values()]))
    # per-emotion means cover exactly the emotions of the held-out split, with their counts
    for source in ("ravdess", "fer2013"):
        emos, counts = np.unique(read_split(corpus / source / "test.npz").columns["emotion"], return_counts=True)
        by = res["sense"][f"{source}_by_emotion"]["student"]
        assert {e: v["n"] for e, v in by.items()} == dict(zip(emos.tolist(), counts.tolist()))
    sentences = res["sense"]["sentences"]
    assert {s["expected"] for s in sentences} == {"negative", "positive"}
    assert all(math.isfinite(s["teacher"]) and math.isfinite(s["student"]) and s["words"] > 0 for s in sentences)
    assert all(isinstance(c["passed"], bool) for c in res["sense"]["checks"])
    assert res["seconds"]["total"] > 0


def test_sentences_score_like_the_predictor(evaluated, run, extractors):
    """The sense-check sentences go through the same path as the app: Predictor.predict on text-only input."""
    from aumdf.predictor import Predictor

    p = Predictor.from_checkpoint(run, extractor=extractors, device="cpu")
    row = evaluated["sense"]["sentences"][0]
    clip = extractors.extract_arrays(transcript=row["text"])
    assert p.predict(clip).score == pytest.approx(row["student"], abs=1e-5)


def test_markdown_and_card_carry_the_numbers(evaluated, run, built):
    res = evaluated
    md = Path(res["written"][1]).read_text()
    assert "composites" in md and "0.762" in md and "81.31" in md
    card_path = write_model_card(run)
    assert card_path == run / CARD_NAME
    card = card_path.read_text()
    mosi = res["sources"]["mosi"]["metrics"]
    for role in ("teacher", "student"):
        assert f"| {role} | {mosi[role]['mae']:.3f} |" in card
        fer = res["sources"]["fer2013"]["metrics"][role]
        assert f"| {role} | {100 * fer['accuracy']:.2f} |" in card
    assert f"| Average | {res['composite_grid']['average']['student']['mae']:.3f} |" in card
    for phrase in ("CC BY-NC-SA 4.0", "non-commercial", "Composites", "50-d", "300-d", "python -m train.distill",
                   "Training time:", "| angry | -2.50 | negative |", "## Limits"):
        assert phrase in card, phrase
    assert "--samples-per-epoch 32" in card  # from the run's train_config.json
    assert "(composites)" in card  # the sample-count table names composites as such
    summary = summary_markdown(res)  # the README's short table
    assert f"{mosi['student']['mae']:.3f} / " in summary and "0.762 / – / 81.31" in summary
    assert "composites" in summary and "50-d GloVe" in summary
    assert "RAVDESS actors 21–24, audio only" in summary and "FER2013 PrivateTest, vision only" in summary
    valid = summary_markdown({**res, "split": "valid"})  # the names follow the report's split
    assert "MOSI valid, text only" in valid and "RAVDESS actors 19–20, audio only" in valid
    assert "FER2013 PublicTest, vision only" in valid


def test_predictor_shows_the_card_when_present(run):
    from aumdf.predictor import Predictor

    p = Predictor.from_checkpoint(run, device="cpu")
    card = run / CARD_NAME
    had = card.read_text() if card.exists() else None
    try:
        card.write_text("# the card\n")
        assert p.card_file().read_text() == "# the card\n"
        card.unlink()
        assert p.card_file() is None  # the app then says how to write one (train/demo/model_card.py owns cards)
    finally:
        if had is not None:
            card.write_text(had)


def test_cli_errors_are_messages(tmp_path, run):
    from train.demo.model_card import main as card_main

    with pytest.raises(SystemExit, match="no demo data found"):
        ed.main(["--checkpoint", str(run), "--data-dir", str(tmp_path / "nothing")])
    with pytest.raises(SystemExit, match="no trained checkpoint"):
        ed.main(["--checkpoint", str(tmp_path)])
    with pytest.raises(SystemExit, match="run `python -m train.demo.evaluate --checkpoint"):
        card_main(["--checkpoint", str(run), "--eval", str(tmp_path / "missing.json")])


def test_the_generic_evaluation_runs_on_the_corpus_too(run, built, tmp_path):
    """The demo corpus is an ordinary dataset: train.evaluate scores it with no special case."""
    from train.evaluate import main as evaluate_main

    corpus, manifest = built
    evaluate_main(["--dataset", "demo", "--checkpoint", str(run), "--data-dir", str(corpus), "--drop-rates", "0.0",
                   "0.5", "--device", "cpu", "--out", str(tmp_path / "e")])
    res = json.loads((tmp_path / "e" / "results.json").read_text())
    assert res["layout"] == "corpus" and len(res["mean"]["subsets"]) == 7
    assert res["runs"][0]["checkpoint"] == str(run / "student")
