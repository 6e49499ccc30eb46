"""The bad-input corpus (tests/bad_inputs.py) through the Python API, `python -m aumdf.predict` and the app.

Every item gets a clear error or a correct "missing modality" result — never a crash, a hang or a
traceback — and the next request on a good clip is answered normally. The checkpoint is randomly
initialised with the real extractors' spec (plumbing, not scores); limits are the shipped defaults
(60 s, 200 MB) so each item meets the check that guards it in production.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from aumdf.checkpoint import CheckpointError, FeatureMismatchError, load_checkpoint
from aumdf.inputs import batch_from_features
from aumdf.predictor import MAX_SECONDS, InputError, Predictor
from features.types import FeatureError
from tests.bad_inputs import BadInput, bad_checkpoints, bad_feature_arrays, make_corpus
from tests.demo_support import predict_cli

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated).*")
ROOT = Path(__file__).resolve().parents[1]
MEDIA = ["zero_byte", "truncated_mp4", "text_as_mp4", "still_image", "video_no_audio", "audio_no_video",
         "one_frame_video", "ten_minutes_silence", "frame_4k", "long_transcript", "unicode_transcript"]
SLOW = {"frame_4k"}


def _params(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, BadInput]:
    return make_corpus(tmp_path_factory.mktemp("bad"), max_seconds=MAX_SECONDS)


@pytest.fixture(scope="module")
def ckpt(demo_predictor):
    """A random checkpoint pair with the real extractors' spec, and a Predictor on it (shipped limits)."""
    assert demo_predictor[1].max_seconds == MAX_SECONDS
    return demo_predictor


@pytest.fixture(scope="module")
def broken(tmp_path_factory, ckpt) -> dict[str, Path]:
    return bad_checkpoints(tmp_path_factory.mktemp("broken"), ckpt[0])


def check_outcome(item: BadInput, availability: dict) -> None:
    """A result for an item that must give one: its missing modalities are missing, with the expected reason."""
    assert item.expect in ("ok", "missing"), f"{item.name} should have been refused"
    for m in item.missing:
        assert availability[m]["state"] == "missing", (item.name, availability)
        assert item.message.lower() in (availability[m]["reason"] or "").lower(), (item.name, availability[m])
    for m, s in availability.items():
        if m not in item.missing:
            assert s["state"] == "present", (item.name, m, s)


# ------------------------------------------------------------------ Python API
@pytest.mark.parametrize("name", _params(MEDIA))
def test_python_api(corpus, ckpt, name):
    item, predictor = corpus[name], ckpt[1]
    if item.expect == "error":
        with pytest.raises(FeatureError, match=f"(?i){item.message}") as e:
            predictor.extract(item.path, transcript=item.transcript)
        assert "\n" not in str(e.value) and "Traceback" not in str(e.value)
    else:
        pred = predictor.predict(predictor.extract(item.path, transcript=item.transcript))
        assert math.isfinite(pred.score)
        check_outcome(item, {m: s.to_dict() for m, s in pred.availability.items()})
    good = predictor.predict(predictor.extract(corpus["good"].path, transcript=corpus["good"].transcript))
    assert math.isfinite(good.score)  # the next request is answered normally


def test_long_transcript_is_cut_to_the_checkpoints_length(corpus, ckpt):
    predictor = ckpt[1]
    pred = predictor.predict(predictor.extract(corpus["long_transcript"].path, corpus["long_transcript"].transcript))
    assert pred.availability["text"].used == predictor.spec.text.max_len


def test_ten_minutes_of_silence_without_a_length_limit_is_quick_and_explained(corpus, ckpt):
    """With the limit lifted the clip is decoded: it must not hang, and with nothing to hear and no picture
    the outcome is either a result on the transcript alone or a message that names every missing modality."""
    import time

    root = ckpt[0]
    predictor = Predictor.from_checkpoint(root, extractor=ckpt[1].extractor, device="cpu", max_seconds=1e9)
    path = corpus["ten_minutes_silence"].path
    t0 = time.perf_counter()
    pred = predictor.predict(predictor.extract(path, transcript="hello there"))
    assert pred.availability["audio"].state == "missing" and "silence" in pred.availability["audio"].reason
    assert pred.availability["vision"].state == "missing" and "no video" in pred.availability["vision"].reason
    assert pred.modalities and pred.availability["text"].state == "present"
    with pytest.raises(InputError, match="no modality reaches the model.*silence.*no video"):
        predictor.predict(predictor.extract(path, transcript=None))
    assert time.perf_counter() - t0 < 60  # ~1 s here: no hang on a long, empty file


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_inf_feature_arrays_are_refused(corpus, ckpt, value):
    predictor = ckpt[1]
    clip = predictor.extract(corpus["good"].path, transcript=corpus["good"].transcript)
    bad = bad_feature_arrays(clip, value)
    with pytest.raises(FeatureError, match="audio features contain NaN or infinity"):
        batch_from_features(bad, predictor.spec)
    with pytest.raises(FeatureError, match="NaN or infinity"):
        predictor.predict(bad)
    assert math.isfinite(predictor.predict(clip).score)


def test_checkpoint_for_other_features_is_refused(ckpt, broken):
    extractor = ckpt[1].extractor
    with pytest.raises(FeatureMismatchError, match="trained on other features") as e:
        Predictor.from_checkpoint(broken["other_spec"], extractor=extractor, device="cpu")
    assert "text: dim" in str(e.value) or "dim" in str(e.value)  # names what differs
    with pytest.raises(FeatureMismatchError):
        load_checkpoint(broken["other_spec"] / "student", expected_spec=extractor.feature_spec())


@pytest.mark.parametrize("name, message", [("corrupt_weights", "unreadable or corrupt"),
                                           ("corrupt_config", "not a valid AUMDF checkpoint config")])
def test_corrupt_checkpoint_is_refused(broken, name, message):
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(broken[name] / "student")
    with pytest.raises(CheckpointError, match=message):
        Predictor.from_checkpoint(broken[name], device="cpu")


# ------------------------------------------------------------------ CLI (in process: tests/demo_support.predict_cli)
def assert_one_line_error(r: subprocess.CompletedProcess, message: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and message.lower() in lines[0].lower(), r.stderr


@pytest.mark.parametrize("name", _params(MEDIA))
def test_cli(corpus, ckpt, name, capsys, monkeypatch):
    import json

    item = corpus[name]
    args = [str(item.path), "--checkpoint", str(ckpt[0]), "--json", "--device", "cpu"]
    if item.transcript:
        args += ["--transcript", item.transcript]
    r = predict_cli(capsys, *args, monkeypatch=monkeypatch, extractor=ckpt[1].extractor)
    if item.expect == "error":
        assert_one_line_error(r, item.message)
    else:
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        out = json.loads(r.stdout)
        assert math.isfinite(out["score"])
        check_outcome(item, out["availability"])


@pytest.mark.parametrize("name, message", [("other_spec", "trained on other features"),
                                           ("corrupt_weights", "unreadable or corrupt"),
                                           ("corrupt_config", "not a valid AUMDF checkpoint config")])
def test_cli_refuses_bad_checkpoints(corpus, broken, name, message, capsys):
    r = predict_cli(capsys, str(corpus["good"].path), "--checkpoint", str(broken[name]), "--device", "cpu")
    assert_one_line_error(r, message)


@pytest.mark.parametrize("name, message", [("other_spec", "trained on other features"),
                                           ("corrupt_weights", "unreadable or corrupt"),
                                           ("corrupt_config", "not a valid AUMDF checkpoint config")])
def test_app_refuses_bad_checkpoints_at_start(broken, name, message, capsys):
    """app.main in this process (a process would only import gradio again; test_app.py starts `python app.py`
    without a checkpoint and checks the same exit status and one-line error from a real process)."""
    pytest.importorskip("gradio")
    import app

    from tests.conftest import free_port

    capsys.readouterr()
    code = app.main(["--checkpoint", str(broken[name]), "--port", str(free_port()), "--device", "cpu"])
    out = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess([], code, out.out, out.err), message)


# ------------------------------------------------------------------ the app
@pytest.fixture(scope="module")
def app_url(demo_url):
    return demo_url  # the session's server on ckpt's predictor: the shipped limits, 60 s and 200 MB


@pytest.mark.parametrize("name", _params(MEDIA))
def test_app(corpus, app_url, name):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from tests.test_app import CONTROLS, analyse

    item = corpus[name]
    client = Client(app_url, verbose=False)
    if item.expect == "error":
        with pytest.raises(AppError, match=f"(?i){item.message}") as e:
            analyse(client, item.path, transcript=item.transcript or "")
        text = str(e.value)
        assert "Traceback" not in text and "/tmp" not in text and "\n" not in text.strip()
    else:
        out = analyse(client, item.path, transcript=item.transcript or "")
        assert math.isfinite(out["result"]["score"]) and "Traceback" not in out["message"]
        check_outcome(item, out["result"]["availability"])
        for m in item.missing:
            assert "missing" in out["availability"]
    # the next request (same session, good clip) is answered normally, and its toggles work
    good = analyse(client, corpus["good"].path)
    assert math.isfinite(good["result"]["score"])
    r = client.predict(**{**CONTROLS, "audio": False}, api_name="/predict")[0]
    assert r["availability"]["audio"]["state"] == "switched off"
