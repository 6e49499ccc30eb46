"""What the demo's tests share: a generated talking-head clip and a Predictor on a random checkpoint.

The checkpoint is randomly initialised and saved with the real extractors' feature spec: it tests
the plumbing (upload -> extract -> model -> page), never a result. The extractors use MTCNN's own
ONet embedding for faces, which needs no trained weights.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from tests.conftest import free_port
from tests.media import astronaut_frame, noface_frame, voiced_tone, write_video

TRANSCRIPT = "i really loved this movie it was great"


def make_clip(path: Path, seconds: float = 3.0, face: bool = True, audio: bool = True, fps: int = 10,
              size: tuple[int, int] = (320, 240)) -> Path:
    """A clip with the astronaut's face (or a faceless texture) and a voiced tone (or no audio track)."""
    frame = astronaut_frame(*size) if face else noface_frame(*size)
    n = max(1, int(round(seconds * fps)))
    # a slow drift so consecutive frames differ like real video
    frames = np.stack([np.roll(frame, i % 8, axis=1) for i in range(n)])
    sound = None
    if audio:
        sound = np.concatenate([voiced_tone(f0=140.0, seconds=seconds / 2, seed=1),
                                voiced_tone(f0=190.0, seconds=seconds - seconds / 2, seed=2)])
    return write_video(path, frames, fps=fps, audio=sound)


def make_predictor(root: Path, max_seconds: float = 60.0, extractor=None):
    """Real extractors (faces embedded by ONet; `extractor` when given, e.g. the session's `onet_extractor`)
    + a random student/teacher pair saved with their spec."""
    import torch

    from aumdf.predictor import Predictor
    from features.pipeline import ClipExtractor
    from tests.test_predict import tiny_checkpoint

    torch.set_num_threads(1)
    extractor = extractor if extractor is not None else ClipExtractor.build(embedder="onet")
    tiny_checkpoint(root, extractor.feature_spec())
    return Predictor.from_checkpoint(root, extractor=extractor, device="cpu", max_seconds=max_seconds)


def predict_cli(capsys, *args: str, monkeypatch=None, extractor=None) -> subprocess.CompletedProcess:
    """`python -m aumdf.predict ARGS` (aumdf.predict.main) run in this process; its exit status and what it printed
    as a CompletedProcess. With `extractor` (and `monkeypatch`), `ClipExtractor.from_spec` answers with it, so
    the CLI does not build the extractors again for every call. An exception the CLI lets through fails the
    test as a traceback would. tests/test_predict.py keeps real `python -m aumdf.predict` processes for the
    exit status and the one-line errors."""
    from aumdf.predict import main

    if extractor is not None:
        from features.pipeline import ClipExtractor

        monkeypatch.setattr(ClipExtractor, "from_spec", lambda spec, **kw: extractor)
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out.out, out.err)


def serve(predictor, **launch_kw):
    """Build the demo around `predictor` and serve it on a free 127.0.0.1 port without blocking.

    Returns (demo, url); call demo.close() when done. launch_kw go to app.launch (e.g. max_file_size).
    """
    import app

    demo = app.build_demo(predictor)
    port = free_port()
    app.launch(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True, predictor=predictor, **launch_kw)
    return demo, f"http://127.0.0.1:{port}/"
