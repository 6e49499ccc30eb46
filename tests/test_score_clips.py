"""train.demo.score_clips: a checkpoint's scores of real clips under each modality subset (random checkpoint,
clips the tests write)."""

from __future__ import annotations

import json

import numpy as np

from tests.media import voiced_tone, write_audio
from train.demo import score_clips as sc


def test_a_clip_without_video_scores_only_what_it_has(demo_predictor, tmp_path):
    root, predictor = demo_predictor
    wav = write_audio(tmp_path / "tone.wav", voiced_tone(seconds=2.0))
    row = sc.score_clip(predictor, wav)
    assert "vision" not in row.present and "audio" in row.present
    assert set(row.scores) == set(predictor.models)
    clip = predictor.extract(wav)
    for which, s in row.scores.items():
        assert s["v"] is None and s["l,a,v"] is None  # no faces in a WAV: no vision score, no full-set score
        expected = predictor.predict(clip, "audio", which=which).score
        assert np.isfinite(s["a"]) and s["a"] == expected
    text = sc.table([row])
    assert "tone.wav" in text and "–" in text and text.count("\n") == 2


def test_cli_writes_the_table_and_json_and_skips_bad_files(demo_predictor, tmp_path, capsys):
    root, _ = demo_predictor
    wav = write_audio(tmp_path / "a.wav", voiced_tone(seconds=1.5))
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    out = tmp_path / "scores.json"
    assert sc.main([str(wav), str(bad), "--checkpoint", str(root), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "a.wav" in captured.out and "skipped" in captured.err and "broken.mp4" in captured.err
    rows = json.loads(out.read_text())
    assert [r["path"] for r in rows] == [str(wav)] and rows[0]["scores"]["student"]["v"] is None
