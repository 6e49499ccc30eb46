"""Files the demo writes for the browser: a playable preview of any clip, and the face-crop gallery.

Previews. Browsers play only a few container/codec pairs (MP4 with H.264/AAC, WebM with VP8/VP9
and Opus/Vorbis, ...); the clips the extractors read include FLV with VP6/MP3 (CREMA-D), MPEG-1 in
.mpg (GRID), AVI, WAV. `preview` returns the upload itself when it already plays, else a short
H.264/AAC MP4 made with PyAV (its bundled ffmpeg has libx264; MPEG-4 Part 2 is the fallback), at
most PREVIEW_SIDE pixels on the long side. An audio-only clip gets a still grey frame with its
audio, so the player shows a timeline instead of nothing.

Atomic files, pruned. Every file here is named by the SHA-256 of its content (or of its source file and
settings) and written under a temporary name, then renamed into place: two sessions that make
the same face crop or preview at once never read a half-written file, and a finished file is
never rewritten (gradio's own `save_pil_to_cache` rewrites in place, which lost about 1 request
in 320 under load). `prune` deletes the files nobody has asked for in a while, as gradio ages its
own cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from features.decode import probe

PREVIEW_SIDE = 640  # long side of a transcoded preview (pixels)
PREVIEW_FPS = 25
PLAYABLE = {  # extension -> (video codecs, audio codecs) that Chromium, Firefox and Safari play in <video>
    ".mp4": ({"h264", "av1"}, {"aac", "mp3"}),
    ".m4v": ({"h264"}, {"aac", "mp3"}),
    ".webm": ({"vp8", "vp9", "av1"}, {"opus", "vorbis"}),
}


def work_dir(name: str) -> Path:
    """A folder of the app's own files under the system temp folder (which gradio may serve from)."""
    d = Path(os.environ.get("AUMDF_APP_FILES") or Path(tempfile.gettempdir()) / "aumdf-app") / name
    d.mkdir(parents=True, exist_ok=True)
    return d


_last_prune = 0.0


def prune(max_age_s: float, every_s: float = 600.0) -> int:
    """Delete the app's files not touched for max_age_s (at most once every every_s); returns how many.

    A file in use is safe: gradio serves its own copy, made when the handler returned the path.
    """
    global _last_prune
    now = time.time()
    if now - _last_prune < every_s:
        return 0
    _last_prune, removed = now, 0
    for name in ("faces", "previews"):
        for f in work_dir(name).iterdir():
            try:
                if now - f.stat().st_mtime > max_age_s:
                    f.unlink()
                    removed += 1
            except OSError:  # another process pruned it first
                continue
    return removed


def write_atomic(path: Path, data: bytes) -> Path:
    """Write `data` to `path` by rename from a temporary file in the same folder; keep an existing file."""
    if path.exists():
        os.utime(path)  # in use again: not pruned for another max age
        return path
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_image(img: np.ndarray, folder: Path | None = None) -> Path:
    """[H, W, 3] uint8 RGB -> a PNG named by its content, written atomically (the gallery's files)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img, np.uint8)).save(buf, format="PNG")
    data = buf.getvalue()
    folder = folder or work_dir("faces")
    return write_atomic(folder / f"{hashlib.sha256(data).hexdigest()[:32]}.png", data)


def is_playable(path: str | Path) -> bool:
    """Does a browser's <video> play this file as it is?"""
    p = Path(path)
    if p.suffix.lower() not in PLAYABLE:
        return False
    try:
        info = probe(p)
    except Exception:  # unreadable here: the analysis reports why; the preview just cannot be made
        return False
    videos, audios = PLAYABLE[p.suffix.lower()]
    return info.video_codec in videos and (info.audio_codec is None or info.audio_codec in audios)


def _digest(path: Path) -> str:
    h = hashlib.sha256(f"{PREVIEW_SIDE}:{PREVIEW_FPS}:".encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


def preview(path: str | Path, max_seconds: float = 60.0) -> Path:
    """A file the browser plays for the clip at `path`: itself when playable, else a cached MP4 copy.

    Raises an Exception (av's error) when the file cannot be read at all, and ValueError for a clip
    longer than max_seconds (the analysis refuses it too, so no time goes into a copy): the caller then
    shows no preview.
    """
    src = Path(path)
    if is_playable(src):
        return src
    if probe(src).duration > max_seconds:
        raise ValueError(f"{src.name} is longer than {max_seconds:.0f} s")
    out = work_dir("previews") / f"{_digest(src)}.mp4"
    if out.exists():
        os.utime(out)  # in use again: not pruned for another max age
        return out
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".mp4")
    os.close(fd)
    try:
        transcode(src, Path(tmp), max_seconds)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _video_encoder() -> str:
    import av

    for name in ("libx264", "h264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:
            continue
    raise RuntimeError("PyAV's ffmpeg has no H.264 or MPEG-4 encoder")


def _even_size(w: int, h: int) -> tuple[int, int]:
    s = min(1.0, PREVIEW_SIDE / max(w, h))
    return max(2, int(w * s) // 2 * 2), max(2, int(h * s) // 2 * 2)


def transcode(src: Path, dst: Path, max_seconds: float = 60.0) -> None:
    """src (any container PyAV reads) -> dst MP4: H.264 (yuv420p, <= PREVIEW_SIDE) + AAC, first max_seconds."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        vin = next(iter(inp.streams.video), None)
        ain = next(iter(inp.streams.audio), None)
        w, h = _even_size(vin.codec_context.width, vin.codec_context.height) if vin is not None else (320, 240)
        vout = out.add_stream(_video_encoder(), rate=PREVIEW_FPS if vin is not None else 1)
        vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
        if vout.codec_context.name in ("libx264",):
            vout.options = {"preset": "ultrafast", "crf": "28"}
        aout = out.add_stream("aac", rate=44100) if ain is not None else None
        if aout is not None:
            aout.layout = "stereo"
        if vin is not None:
            _copy_video(inp, vin, vout, out, max_seconds)
        else:
            _still_video(vout, out, _audio_seconds(src, max_seconds))
        if ain is not None:
            _copy_audio(src, aout, out, max_seconds)


def _copy_video(inp, vin, vout, out, max_seconds: float) -> None:
    """Decode, resample to PREVIEW_FPS by frame times, rescale, encode."""
    step, n = 1.0 / PREVIEW_FPS, 0
    for frame in inp.decode(vin):
        t = float(frame.time) if frame.time is not None else n * step
        if t > max_seconds:
            break
        while n * step <= t + 1e-6:  # repeat or skip frames so the output keeps real time
            f = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
            f.pts, f.time_base = n, Fraction(1, PREVIEW_FPS)
            out.mux(vout.encode(f))
            n += 1
    out.mux(vout.encode(None))


def _audio_seconds(src: Path, max_seconds: float) -> float:
    return max(1.0, min(probe(src).duration or 1.0, max_seconds))


def _still_video(vout, out, seconds: float) -> None:
    """A grey still, one frame a second, for an audio-only clip."""
    import av

    grey = np.full((vout.height, vout.width, 3), 96, np.uint8)
    for i in range(max(1, int(np.ceil(seconds)))):
        f = av.VideoFrame.from_ndarray(grey, format="rgb24").reformat(format="yuv420p")
        f.pts, f.time_base = i, Fraction(1, 1)
        out.mux(vout.encode(f))
    out.mux(vout.encode(None))


def _copy_audio(src: Path, aout, out, max_seconds: float) -> None:
    """Decode the first audio stream, resample to 44.1 kHz stereo in AAC-sized frames, encode."""
    import av

    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=44100, frame_size=1024)
    pts = 0
    with av.open(str(src)) as inp:
        ain = inp.streams.audio[0]
        for frame in inp.decode(ain):
            if frame.time is not None and frame.time > max_seconds:
                break
            for f in resampler.resample(frame):
                f.pts, pts = pts, pts + f.samples
                out.mux(aout.encode(f))
    for f in resampler.resample(None):
        f.pts, pts = pts, pts + f.samples
        out.mux(aout.encode(f))
    out.mux(aout.encode(None))
