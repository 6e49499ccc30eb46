"""Demo-corpus build time (issue 6: "say how long it takes on this CPU"), from per-item costs.

Measured with the app's extractor (`train.demo.extraction.app_extractor`, one thread) on media the
benchmark makes itself: a 20-word transcript (`extract_transcript`), a 3.7 s voiced FLAC clip with its
sentence (the RAVDESS path: decode, 74-d frames at 100 Hz with pyin, pooling) and a batch of 512
48 x 48 faces (`VisionExtractor.embed`). The full build is extrapolated from the medians and the real
corpus sizes (24,983 transcripts, 1,440 clips, 35,887 faces); reading, composites and writing add about
a minute. When the shipped face-expression weights are absent an untrained network of the same
architecture is timed (same cost). The measured wall time of a real build is in data/demo/manifest.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks.common import format_table, machine, median, time_call

N_TRANSCRIPTS, N_CLIPS, N_FACES = 2195 + 22788, 1440, 35887
SENTENCE = "Kids are talking by the door"
REVIEW = ("honestly i thought the first half of the movie was slow but the ending was great and the actors "
          "were really good")


def _extractor(tmp: Path):
    from features.face_expression import DEFAULT_DIR, WEIGHTS_NAME
    from train.demo.extraction import app_extractor

    if (DEFAULT_DIR / WEIGHTS_NAME).is_file():
        return app_extractor(), "shipped face weights"
    import torch
    from safetensors.torch import save_file

    from features.face_expression import CLASSES, FaceExpressionNet

    net = FaceExpressionNet().eval()
    d = tmp / "face"
    d.mkdir()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps({"arch": asdict(net.config), "classes": list(CLASSES)}))
    torch.manual_seed(0)
    return app_extractor(d), "untrained face net (weights absent; same cost)"


def _voiced_clip(path: Path, seconds: float = 3.7, sr: int = 16000) -> Path:
    """A speech-like FLAC: harmonics of a gliding F0 (pyin tracks it) with a little noise."""
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    f0 = 160 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(h * phase) / h for h in range(1, 9))
    y = 0.3 * y / np.abs(y).max() + 0.003 * np.random.default_rng(0).standard_normal(len(t))
    sf.write(str(path), y.astype(np.float32), sr, format="FLAC")
    return path


def run(repeats: int = 5, threads: int = 1) -> list[dict]:
    import torch

    from train.demo import extraction as de

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ex, note = _extractor(tmp)
        clip_path = _voiced_clip(tmp / "03-01-03-01-01-01-02.flac")
        faces = np.random.default_rng(0).integers(0, 256, (512, 48, 48), dtype=np.uint8)

        t_text = median(time_call(lambda: de.extract_transcript(ex, REVIEW), repeats=max(repeats, 20)))
        t_clip = median(time_call(lambda: de.extract_speech(ex, str(clip_path), SENTENCE), repeats=repeats))
        t_faces = median(time_call(lambda: de.embed_faces(faces, ex.vision.embed), repeats=repeats)) / len(faces)
    total = N_TRANSCRIPTS * t_text + N_CLIPS * t_clip + N_FACES * t_faces
    return [
        {"benchmark": "demo_corpus", "metric": "transcript (20 words)", "value": t_text * 1e3, "unit": "ms"},
        {"benchmark": "demo_corpus", "metric": "RAVDESS-like clip (3.7 s)", "value": t_clip, "unit": "s"},
        {"benchmark": "demo_corpus", "metric": "face (48x48)", "value": t_faces * 1e3, "unit": "ms", "note": note},
        {"benchmark": "demo_corpus", "metric": "full build, extrapolated", "value": total / 60, "unit": "min",
         "note": f"{N_CLIPS} clips dominate; one process, {threads} thread(s); --workers 2 roughly halves it"},
    ]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    print(machine())
    print(format_table(run(a.repeats, a.threads)))
