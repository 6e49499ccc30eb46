"""`python -m train.extract`: one clip as JSON, and a resumable dataset run read back by train.data."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from train.extract import main
from features.feature_files import DataError
from features.transcripts import TranscriptRow, read_transcripts
from tests.media import ROOT_DIR, astronaut_frame, voiced_tone, write_audio, write_video

ONET = ["--face-embedder", "onet", "--no-asr"]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("dataset")
    frames = np.stack([astronaut_frame(320, 240)] * 25)
    write_video(d / "a.mp4", frames, audio=voiced_tone(140, 1.0), sr=16000)
    write_video(d / "b.mkv", frames[:10], audio=voiced_tone(210, 0.4), sr=16000)
    write_audio(d / "c.wav", voiced_tone(180, 0.8))
    (d / "broken.mp4").write_bytes(b"\x00" * 1000)
    (d / "extra.wav").write_bytes(b"")  # a clip the CSV does not list
    rows = [
        {"id": "a", "text": "a good film", "label": "1.5", "mode": "train"},
        {"id": "b", "text": "boring", "label": "-2", "mode": "valid"},
        {"id": "c", "text": "fine I guess", "label": "0.4", "mode": "test"},
        {"id": "broken", "text": "x", "label": "0", "mode": "train"},
        {"id": "gone", "text": "no file", "label": "0", "mode": "test"},
    ]
    with open(d / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "text", "label", "mode"])
        w.writeheader()
        w.writerows(rows)
    return d


def test_single_clip_json(clip_dir, text_cache, capsys):
    assert main([str(clip_dir / "a.mp4"), "--transcript", "a good film", "--json", *ONET]) == 0
    out = json.loads(capsys.readouterr().out)
    mods = out["modalities"]
    assert mods["text"]["shape"] == [3, 50] and mods["text"]["present"]
    assert mods["audio"]["present"] and mods["audio"]["shape"][1] == 74 and abs(mods["audio"]["median_f0_hz"] - 140) < 7
    assert mods["vision"]["present"] and mods["vision"]["shape"] == [5, 256]
    assert all(m["seconds"] >= 0 for m in mods.values()) and out["seconds"] > 0
    assert out["feature_spec"]["audio"]["dim"] == 74


def test_single_clip_human_output_and_missing_reason(clip_dir, text_cache, capsys):
    assert main([str(clip_dir / "c.wav"), *ONET]) == 0
    text = capsys.readouterr().out
    assert "MISSING: no video track" in text and "MISSING: no transcript given" in text


def test_errors_exit_2_with_message(clip_dir, text_cache, capsys):
    assert main([str(clip_dir / "broken.mp4"), *ONET]) == 2
    assert "not a readable audio/video file" in capsys.readouterr().err
    assert main([str(clip_dir / "a.mp4"), "--face-embedder", "facenet"]) == 2
    assert "does not download" in capsys.readouterr().err


def test_dataset_run_resumes_and_loads_for_training(clip_dir, tmp_path, text_cache, capsys):
    out = tmp_path / "feats"
    args = ["--clips", str(clip_dir), "--transcripts", str(clip_dir / "labels.csv"), "--out", str(out), "--workers", "1", *ONET]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"] == {"train": 1, "valid": 1, "test": 1}
    assert "no clip file" in report["skipped"]["gone"] and "broken" in report["skipped"]
    assert report["clips_not_in_csv"] == ["extra"]
    assert report["missing"]["vision"]["count"] == 1 and report["oov"]["of_tokens"] == 3 + 1 + 3
    z = np.load(out / "train.npz")
    assert z["audio"].shape == (1, 150, 74) and 100 <= z["audio_lengths"][0] <= 112  # 1 s + AAC padding
    assert z["text"].shape == (1, 25, 50) and z["text_lengths"][0] == 3 and z["labels"][0] == pytest.approx(1.5)
    assert z["vision_times"].shape == (1, 100, 2) and str(z["ids"][0]) == "a"
    zt = np.load(out / "test.npz")
    assert zt["vision_lengths"][0] == 0 and "no video track" in str(zt["vision_missing"][0])
    spec = json.loads((out / "feature_spec.json").read_text())
    assert spec["vision"]["extractor"] == "mtcnn+onet"

    # resume: finished clips are not redone
    stamp = (out / "parts" / "a.npz").stat().st_mtime_ns
    assert main(args) == 0
    capsys.readouterr()
    assert (out / "parts" / "a.npz").stat().st_mtime_ns == stamp

    # other settings on the same folder are refused, not mixed
    assert main([*args, "--fps", "2"]) == 2
    assert "other settings" in capsys.readouterr().err

    # the training loader reads the files as written
    from train.data import load_dataset

    splits = load_dataset("mosi", out, layout="features")
    assert splits.feature_spec.dims == (50, 74, 256) and len(splits.train) == 1


def test_read_transcripts_columns(tmp_path):
    p = tmp_path / "mosei.csv"
    p.write_text("video_id,clip_id,text,label,mode\nabc,3,hello,1.0,dev\n")
    assert read_transcripts(p) == [TranscriptRow(id="abc_3", text="hello", label="1.0", split="valid")]
    (tmp_path / "bad.csv").write_text("name,words\nx,y\n")
    with pytest.raises(DataError, match="no id column"):
        read_transcripts(tmp_path / "bad.csv")


@pytest.mark.slow
def test_dataset_run_with_two_worker_processes(clip_dir, tmp_path, text_cache, capsys, monkeypatch):
    monkeypatch.setattr("aumdf.progress.wanted", lambda enabled=True: enabled)  # as on a terminal
    out = tmp_path / "par"
    args = ["--clips", str(clip_dir), "--transcripts", str(clip_dir / "labels.csv"), "--out", str(out), "--workers", "2",
            *ONET]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["splits"] == {"train": 1, "valid": 1, "test": 1}
    assert "extracting" in captured.err and "clip/s" in captured.err  # the progress bar, with its rate


def test_module_runs_as_script_help():
    r = subprocess.run([sys.executable, "-m", "train.extract", "--help"], cwd=ROOT_DIR, capture_output=True, text=True)
    assert r.returncode == 0 and "--transcripts" in r.stdout
