"""The bad-input corpus: every kind of input a user (or a broken disk) can hand the project, generated here.

`make_corpus(dir)` writes the media items and returns name -> BadInput; `bad_feature_arrays` and
`bad_checkpoints` build the items that are not clips. Media comes from tests/media.py and
tests/demo_support.py; nothing is read from real data. What each item *should* produce is recorded
beside it (`expect`): "error" (a clear message containing `message`), or "missing" (a normal result
in which `missing` names the modality absent and `message` is a fragment of its reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.demo_support import TRANSCRIPT, make_clip
from tests.media import voiced_tone, write_audio, write_video

LONG_TRANSCRIPT = " ".join(["this film was surprisingly good and i would watch it again"] * 1000)  # 11k words
UNICODE_TRANSCRIPT = "Ce film était génial 😀🎬 — 本当に素晴らしい映画 ❤️ \u200b naïve café ﬁn \U0001F9D1\u200D\U0001F4BB"


@dataclass(frozen=True)
class BadInput:
    """One corpus item: a file to analyse (with an optional transcript) and the expected outcome.

    expect:  "error" | "missing" | "ok"
    message: a fragment the error message (or the missing modality's reason) must contain (case-insensitive)
    missing: modalities that must be reported missing (for "missing")
    slow:    takes tens of seconds through the extractors
    """

    name: str
    path: Path
    expect: str
    message: str = ""
    missing: tuple[str, ...] = ()
    transcript: str | None = TRANSCRIPT
    slow: bool = False
    notes: str = field(default="", compare=False)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def still_image(path: Path) -> Path:
    """A PNG photo with a face (the astronaut): one picture, no audio, no duration."""
    import cv2

    from tests.media import astronaut_frame

    cv2.imwrite(str(path), cv2.cvtColor(astronaut_frame(320, 240), cv2.COLOR_RGB2BGR))
    return path


def make_corpus(root: str | Path, max_seconds: float = 60.0) -> dict[str, BadInput]:
    """Write every media item of the corpus into `root`; `max_seconds` is the limit the consumer runs with."""
    d = Path(root)
    d.mkdir(parents=True, exist_ok=True)
    good = make_clip(d / "good.mp4", seconds=2.0)
    data = good.read_bytes()
    items = [
        BadInput("zero_byte", _write(d / "zero.mp4", b""), "error", "empty"),
        BadInput("truncated_mp4", _write(d / "truncated.mp4", data[: len(data) // 3]), "error",
                 "not a readable audio/video file"),
        BadInput("text_as_mp4", _write(d / "notes.mp4", b"these are not video frames\n" * 200), "error",
                 "not a readable audio/video file"),
        BadInput("still_image", still_image(d / "photo.png"), "missing", "no audio", missing=("audio",),
                 notes="a picture decodes as a one-frame video: its face is used, audio is missing"),
        BadInput("video_no_audio", make_clip(d / "silent_film.mp4", seconds=2.0, audio=False), "missing",
                 "no audio", missing=("audio",)),
        BadInput("audio_no_video", write_audio(d / "voice.wav", voiced_tone(seconds=2.0)), "missing",
                 "no video", missing=("vision",)),
        BadInput("one_frame_video", make_clip(d / "one_frame.mp4", seconds=0.1, fps=10), "ok"),
        BadInput("ten_minutes_silence", write_audio(d / "silence.wav", np.zeros(16000 * 600, np.float32)), "error",
                 f"the limit is {max_seconds:.0f} s",
                 notes="refused from the header before any decoding; see test_ten_minutes_of_silence_unlimited"),
        BadInput("frame_4k", write_video(d / "frame_4k.mp4", _frames_4k(), fps=2, audio=voiced_tone(seconds=1.0)),
                 "ok", slow=True),
        BadInput("long_transcript", good, "ok", transcript=LONG_TRANSCRIPT),
        BadInput("unicode_transcript", good, "ok", transcript=UNICODE_TRANSCRIPT),
    ]
    return {b.name: b for b in items} | {"good": BadInput("good", good, "ok")}


def _frames_4k(n: int = 2) -> np.ndarray:
    """[n, 2160, 3840, 3] uint8: the astronaut in a 4K frame."""
    from tests.media import astronaut_frame

    f = astronaut_frame(3840, 2160)
    return np.stack([f] * n)


def bad_feature_arrays(clip, value: float):
    """`clip` (ClipFeatures) with one audio value replaced by `value` (NaN / inf / -inf)."""
    from dataclasses import replace

    a = np.array(clip.audio.values, np.float32, copy=True)
    a[a.shape[0] // 2, 0] = value
    return replace(clip, audio=replace(clip.audio, values=a))


def bad_checkpoints(root: str | Path, good_pair: Path) -> dict[str, Path]:
    """Checkpoint folders that must be refused, next to a good student/teacher pair `good_pair`:

    other_spec:     a working checkpoint made for other features (tests/test_predict.py's toy spec)
    corrupt_weights: the good pair with student/model.safetensors overwritten by garbage halfway
    corrupt_config:  the good pair with student/config.json cut short
    """
    import shutil

    from tests.test_predict import tiny_checkpoint

    root = Path(root)
    out = {"other_spec": tiny_checkpoint(root / "other_spec")}
    for name in ("corrupt_weights", "corrupt_config"):
        shutil.copytree(good_pair, root / name)
        out[name] = root / name
    w = out["corrupt_weights"] / "student" / "model.safetensors"
    raw = bytearray(w.read_bytes())
    raw[8:] = bytes(np.random.default_rng(0).integers(0, 256, len(raw) - 8, dtype=np.uint8))  # header + data garbage
    w.write_bytes(bytes(raw))
    c = out["corrupt_config"] / "student" / "config.json"
    c.write_text(c.read_text()[: 200])
    return out
