"""The demo through its public API (gradio_client), on clips the tests generate.

The app runs on a randomly initialised checkpoint saved with the real extractors' feature spec:
these tests check the plumbing (upload, extraction, cached toggles, errors, limits), not a score.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tests.conftest import free_port, shared_dir  # noqa: E402
from tests.demo_support import TRANSCRIPT, make_clip, make_predictor, serve  # noqa: E402

# gradio's queue trips pandas deprecation warnings that are not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated).*")
ROOT = Path(__file__).resolve().parents[1]
MAX_SECONDS = 5.0  # small limits so the tests can cross them cheaply
MAX_FILE_SIZE = "1mb"
CONTROLS = dict(text=True, audio=True, visual=True, drop_rate=0.0, seed=0, model="student", query="text",
                head="mean", layer="1")


@pytest.fixture(scope="module")
def server(tmp_path_factory, onet_extractor):
    ck = tmp_path_factory.mktemp("ck")
    demo, url = serve(make_predictor(ck, max_seconds=MAX_SECONDS, extractor=onet_extractor),
                      max_file_size=MAX_FILE_SIZE)
    yield demo, url, ck
    demo.close()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    return {
        "clip": make_clip(d / "talk.mp4", seconds=3.0),
        "no_audio": make_clip(d / "silent_film.mp4", seconds=2.0, audio=False),
        "no_face": make_clip(d / "landscape.mp4", seconds=2.0, face=False),
        "long": make_clip(d / "long.mp4", seconds=MAX_SECONDS + 1.5, fps=5, size=(160, 120)),
        "empty": _write(d / "empty.mp4", b""),
        "not_video": _write(d / "notes.mp4", b"these are not video frames\n" * 200),
        "huge": _write(d / "huge.mp4", os.urandom(3 * 1024 * 1024)),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def analyse(client: Client, path: Path, transcript: str = TRANSCRIPT, **controls):
    out = client.predict(handle_file(str(path)), transcript, **{**CONTROLS, **controls}, api_name="/analyse")
    words, faces, wave, tokens, message, result, score, contributions, gates, attention, availability = out
    return dict(words=words, faces=faces, wave=wave, tokens=tokens, message=message, result=result, score=score,
                contributions=contributions, gates=gates, attention=attention, availability=availability)


def predict(client: Client, **controls) -> dict:
    result, score, contributions, gates, attention, availability = client.predict(**{**CONTROLS, **controls},
                                                                                   api_name="/predict")
    return dict(result=result, score=score, contributions=contributions, gates=gates, attention=attention,
                availability=availability)


@pytest.fixture(scope="module")
def analysed(server, media):
    """One client session that has analysed the main clip (the features stay cached on the server)."""
    client = Client(server[1], verbose=False)
    return client, analyse(client, media["clip"])


def test_endpoints_are_named(server):
    api = Client(server[1], verbose=False).view_api(print_info=False, return_format="dict")
    eps = api["named_endpoints"]
    assert {"/analyse", "/predict", "/retranscribe"} <= set(eps)
    assert [p["parameter_name"] for p in eps["/predict"]["parameters"]] == list(CONTROLS)


def test_analyse_returns_a_prediction(analysed):
    _, out = analysed
    r = out["result"]
    assert math.isfinite(r["score"]) and r["label"] in ("negative", "neutral", "positive")
    assert r["bin7"] == round(max(-3, min(3, r["score"])))
    states = {m: s["state"] for m, s in r["availability"].items()}
    assert states == {"text": "present", "audio": "present", "vision": "present"}
    assert math.isfinite(r["teacher"]["score"])  # the teacher's score beside the student's
    assert "student:" in out["score"] and "teacher:" in out["score"]
    assert set(r["gates"]) == {"text>audio", "text>vision", "audio>text", "audio>vision", "vision>text", "vision>audio"}
    assert out["gates"]["type"] == "plotly" and out["attention"]["type"] == "plotly" and out["wave"]["type"] == "plotly"
    assert len(out["faces"]) > 0 and "p = " in out["faces"][0]["caption"]
    assert [t["token"].strip() for t in out["tokens"]] == TRANSCRIPT.split()


def test_switching_a_modality_off_changes_availability_and_output(analysed):
    client, first = analysed
    full = predict(client)
    assert full["result"]["score"] == pytest.approx(first["result"]["score"], abs=1e-6)  # cached features, same run
    off = predict(client, audio=False)
    assert off["result"]["availability"]["audio"]["state"] == "switched off"
    assert off["result"]["availability"]["audio"]["kept"] == 0
    assert off["result"]["score"] != pytest.approx(full["result"]["score"], abs=1e-7)
    assert "switched off" in off["availability"]
    only_text = predict(client, audio=False, visual=False)
    assert only_text["result"]["modalities"] == ["text"]
    with pytest.raises(AppError, match="Switch on at least one modality"):
        predict(client, text=False, audio=False, visual=False)


def test_drop_rate_with_a_seed_is_reproducible(analysed):
    client, _ = analysed
    a = predict(client, drop_rate=0.5, seed=7)["result"]
    b = predict(client, drop_rate=0.5, seed=7)["result"]
    c = predict(client, drop_rate=0.5, seed=8)["result"]
    assert a["score"] == b["score"] and a["availability"] == b["availability"]
    assert a["availability"]["audio"]["kept"] < a["availability"]["audio"]["used"]
    assert (a["availability"], a["score"]) != (c["availability"], c["score"])


def test_teacher_and_attention_view(analysed):
    client, _ = analysed
    t = predict(client, model="teacher", query="vision", head="2")
    assert t["result"]["which"] == "teacher" and "student" in t["result"]
    assert "visual queries, head 2" in t["attention"]["plot"]


def test_toggle_server_time_is_small(analysed):
    client, _ = analysed
    times = [predict(client, audio=bool(i % 2))["result"]["server_seconds"] for i in range(6)]
    assert all(t < 5.0 for t in times)  # generous: the benchmark measures the real figure


def test_toggles_answer_while_a_clip_is_being_analysed(server, analysed, media):
    """Extraction has its own queue slot: a session's toggles are answered while another clip is analysed."""
    import threading
    import time

    client, _ = analysed
    done = {}

    def other_upload():
        analyse(Client(server[1], verbose=False), media["clip"], transcript="")  # recognises speech: slower
        done["analyse"] = time.perf_counter()

    t = threading.Thread(target=other_upload)
    t.start()
    time.sleep(0.5)
    r = predict(client, drop_rate=0.25, seed=11)["result"]  # a new model run, not a cached one
    done["predict"] = time.perf_counter()
    t.join(timeout=300)
    assert math.isfinite(r["score"]) and done["predict"] < done["analyse"]


def test_contributions_add_up_and_follow_the_switches(analysed):
    client, first = analysed
    for controls in ({}, {"audio": False}, {"text": False, "visual": False}, {"drop_rate": 0.4, "seed": 3}):
        out = predict(client, **controls)
        r, c = out["result"], out["result"]["contributions"]
        assert c["baseline"] + sum(c["phi"].values()) == pytest.approx(r["score"], abs=1e-4)
        for m, s in r["availability"].items():
            if s["state"] != "present":
                assert c["phi"][m] == 0.0
        assert out["contributions"]["type"] == "plotly" and "baseline" in out["score"]
    assert first["result"]["transcript"] == TRANSCRIPT and first["words"] == TRANSCRIPT


def test_recognised_words_can_be_edited(server, media):
    client = Client(server[1], verbose=False)
    out = analyse(client, media["clip"], transcript="")
    assert out["result"]["availability"]["text"]["state"] in ("present", "missing")
    tokens, result, *_ = client.predict("what a wonderful film", **CONTROLS, api_name="/retranscribe")
    assert [t["token"].strip() for t in tokens] == ["what", "a", "wonderful", "film"]
    assert result["availability"]["text"]["state"] == "present" and result["availability"]["text"]["used"] == 4


def test_missing_audio_and_missing_face_are_explained(server, media):
    client = Client(server[1], verbose=False)
    r = analyse(client, media["no_audio"])["result"]
    assert r["availability"]["audio"]["state"] == "missing" and "no audio" in r["availability"]["audio"]["reason"]
    r = analyse(client, media["no_face"])["result"]
    assert r["availability"]["vision"]["state"] == "missing" and "no face" in r["availability"]["vision"]["reason"]


@pytest.mark.parametrize("name, message", [
    ("empty", "empty"),
    ("not_video", "not a readable audio/video file"),
    ("long", "the limit is 5 s"),
])
def test_bad_input_gets_a_message_and_the_app_keeps_serving(server, media, name, message):
    client = Client(server[1], verbose=False)
    with pytest.raises(AppError, match=message) as err:
        analyse(client, media[name])
    assert "/tmp" not in str(err.value)  # the server's paths stay private
    with pytest.raises(AppError, match="Analyse a clip first"):
        predict(client)
    assert math.isfinite(analyse(client, media["clip"])["result"]["score"])


def test_huge_upload_is_refused(server, media):
    client = Client(server[1], verbose=False)
    with pytest.raises(Exception, match="(?i)413|too large|file size|exceeds") as err:
        analyse(client, media["huge"])
    print("huge upload refused with:", err.value)


def _refused(url: str, data: bytes | None = None, headers: dict | None = None) -> int:
    """The HTTP status of a request the server must refuse (0 if it was served)."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers or {}), timeout=30)
    except urllib.error.HTTPError as e:
        return e.code
    return 0


def test_only_the_apps_own_files_are_served(server, media):
    """System files, the project's sources and checkpoints, the shared data, another session's upload by a
    guessed name, and path tricks are all refused; the session's own preview is served."""
    from gradio.utils import get_upload_folder

    _, base, ck = server
    # session A uploads a clip; its preview (the upload itself: an mp4 plays as it is) is served to it
    own = Client(base, verbose=False).predict(handle_file(str(media["clip"])), api_name="/preview")
    own_path = Path(own["video"] if isinstance(own, dict) else own)
    upload_dir = Path(get_upload_folder())
    guesses = [upload_dir / media["clip"].name, upload_dir / ("0" * 64) / media["clip"].name,
               upload_dir / own_path.parent.name[::-1] / media["clip"].name]
    names = ["/etc/passwd", ROOT / "app.py", ck / "student" / "config.json", ck / "teacher" / "model.safetensors",
             ROOT / "checkpoints" / "default" / "student" / "config.json", ROOT.parent / "shared" / "README.md",
             *guesses, "../../../../etc/passwd", "%2e%2e/%2e%2e/%2e%2e/etc/passwd"]
    if shared_dir() is not None:
        names.append(shared_dir() / "media" / "jfk.wav")
    for name in names:
        for route in ("gradio_api/file=", "file="):
            code = _refused(f"{base}{route}{name}")
            assert code in (400, 403, 404), f"{route}{name} was served (status {code or 200})"


def test_over_size_upload_is_refused_by_the_server(server):
    """An upload over max_file_size (1 MB here) is refused with 413 before any handler sees it."""
    _, base, _ = server
    boundary = "aumdfboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode() + os.urandom(2 * 1024 * 1024) + f"\r\n--{boundary}--\r\n".encode()
    code = _refused(f"{base}gradio_api/upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert code == 413


def test_concurrent_users_are_queued_and_all_served(server, media):
    from concurrent.futures import ThreadPoolExecutor

    def one(_):
        return analyse(Client(server[1], verbose=False), media["clip"])["result"]["score"]

    with ThreadPoolExecutor(3) as pool:
        scores = list(pool.map(one, range(3)))
    assert all(math.isfinite(s) for s in scores) and max(scores) - min(scores) < 1e-5  # same clip, same result


def test_queue_and_limits_are_configured(server):
    import app

    demo, _, _ = server
    assert demo._queue.max_size == app.QUEUE_SIZE
    fns = {fn.api_name: fn for fn in demo.fns.values()}
    assert fns["analyse"].concurrency_limit == app.EXTRACT_CONCURRENCY
    assert fns["predict"].concurrency_limit in (None, app.CONCURRENCY, "default")


def test_importing_the_app_loads_nothing_and_stays_offline():
    code = (
        "import os, sys; os.environ.pop('GRADIO_ANALYTICS_ENABLED', None); os.environ.pop('HF_HUB_OFFLINE', None);"
        "import app; assert os.environ['GRADIO_ANALYTICS_ENABLED'] == 'False' and os.environ['HF_HUB_OFFLINE'] == '1';"
        "assert 'features.pipeline' not in sys.modules and 'features.vision' not in sys.modules; print('ok')"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_app_without_a_checkpoint_says_what_is_missing(tmp_path, capsys):
    """app.main in this process (a process would only import gradio and torch again; the load test starts
    `python app.py` as a real process, and the import test above runs one)."""
    import app

    capsys.readouterr()
    code = app.main(["--checkpoint", str(tmp_path / "none"), "--port", str(free_port())])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "no trained checkpoint" in err and "python -m train.distill" in err


@pytest.mark.parametrize("doc", ["README.md", "docs/app.md"])
def test_the_documented_client_example_runs(server, media, capsys, doc):
    """The gradio_client example of the README and of docs/app.md, run as written against this server and clip."""
    text = (ROOT / doc).read_text()
    code = next(b for b in text.split("```python")[1:] if "gradio_client" in b).split("```", 1)[0]
    code = code.replace('"http://127.0.0.1:7860/"', repr(server[1])).replace('"talk.mp4"', repr(str(media["clip"])))
    exec(compile(code, doc, "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].endswith("switched off")


# ------------------------------------------------------- previews, examples, gallery files
EXAMPLE_FILES = ("jfk.wav", "grid_lbax4n.mpg", "cremad_1001_DFA_FEA_XX.flv")


def test_examples_are_the_three_licensed_clips():
    import app

    folder = ROOT / "examples"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*EXAMPLE_FILES, "README.md"])
    readme = (folder / "README.md").read_text()
    for name, licence in zip(EXAMPLE_FILES, ("public domain", "CC BY 4.0", "ODbL 1.0")):
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
        assert licence in row
    assert [Path(r[0]).name for r in app.example_rows()] == list(EXAMPLE_FILES)


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_preview_of_a_clip_the_browser_cannot_play_is_an_h264_aac_mp4(name, tmp_path, monkeypatch):
    import app_media

    monkeypatch.setenv("AUMDF_APP_FILES", str(tmp_path))
    src = ROOT / "examples" / name
    assert not app_media.is_playable(src)
    out = app_media.preview(src)
    assert out.suffix == ".mp4" and app_media.is_playable(out)
    info = app_media.probe(out)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert app_media.preview(src) == out  # made once, then reused
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary file left
    with pytest.raises(ValueError, match="longer than 1 s"):  # the analysis would refuse it: no copy made
        app_media.preview(src, max_seconds=1.0)


def test_a_playable_upload_is_its_own_preview(media):
    import app_media

    assert app_media.preview(media["clip"]) == media["clip"]


def test_gallery_files_are_written_once_and_atomically(tmp_path):
    """Eight threads writing the same crop at once all get the same complete PNG, never a partial one."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from PIL import Image

    import app_media

    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda _: app_media.save_image(img, tmp_path), range(32)))
    assert len(set(paths)) == 1
    np.testing.assert_array_equal(np.asarray(Image.open(paths[0])), img)
    assert [p.name for p in tmp_path.iterdir()] == [paths[0].name]


def test_old_app_files_are_pruned(tmp_path, monkeypatch):
    import os
    import time

    import numpy as np

    import app_media

    monkeypatch.setenv("AUMDF_APP_FILES", str(tmp_path))
    monkeypatch.setattr(app_media, "_last_prune", 0.0)
    old = app_media.save_image(np.zeros((8, 8, 3), np.uint8))
    new = app_media.save_image(np.ones((8, 8, 3), np.uint8))
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert app_media.prune(3600) == 1 and not old.exists() and new.exists()
    assert app_media.prune(3600) == 0  # not again before every_s


def test_preview_endpoint(server):
    client = Client(server[1], verbose=False)
    out = client.predict(handle_file(str(ROOT / "examples" / "cremad_1001_DFA_FEA_XX.flv")), api_name="/preview")
    path = Path(out["video"] if isinstance(out, dict) else out)
    assert path.suffix == ".mp4" and path.stat().st_size > 10_000


def test_teacher_caveat_names_the_subsets_it_learnt():
    from app_figures import teacher_caveat

    assert "never saw missing modalities" in teacher_caveat(None)  # an older checkpoint that does not say
    assert "never saw missing modalities" in teacher_caveat(("{l,a,v}",))
    text = teacher_caveat(("{l,a,v}", "{l,a}", "{l}", "{v}"))
    assert "learnt only {l,a,v}, {l,a}, {l}, {v}" in text and "rough guide for other subsets" in text
