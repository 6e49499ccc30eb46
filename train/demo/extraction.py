"""Features of the demo corpus's raw sources, computed by the app's own extractors.

Every number in the corpus comes from `features.pipeline.ClipExtractor` with the app's defaults:
transcripts through `extract_arrays(transcript=...)` (text-only input, as the app gets it), RAVDESS
clips through `extract(path, transcript=sentence)` (an audio file with its transcript, the app's own
path: decoding, 100 Hz frames, pooling to max_len), FER faces through the vision extractor's crop
embedding (the step after face detection; FER images are already 48x48 face crops). RAVDESS results
are cached per clip, and may be computed by several worker processes; face embeddings are cached as
one array per set of stills and settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from features.feature_files import DataError
from aumdf.progress import progress
from features.spec import MODALITIES, FeatureSpec
from train.demo.sources import RAVDESS_STATEMENTS, RavdessClip


def app_extractor(face_weights: str | Path | None = None, vectors: str | None = None,
                  audio_features: str = "covarep") -> Any:
    """The app's ClipExtractor with default settings in the unaligned layout (the corpus's extractors);
    audio_features: "covarep" (74-d frames) or "whisper" (Whisper base encoder states)."""
    from features.pipeline import ClipExtractor

    return ClipExtractor.build(
        vectors=vectors, face_weights=None if face_weights is None else str(face_weights), layout="unaligned",
        audio_features=audio_features,
    )


def audio_features_of(spec: FeatureSpec) -> str:
    """The `app_extractor` audio_features choice that computes spec's audio: "whisper" or "covarep"."""
    from features.whisper_audio import WHISPER_AUDIO_EXTRACTOR

    return "whisper" if spec.audio.extractor == WHISPER_AUDIO_EXTRACTOR else "covarep"


def check_unaligned(spec: FeatureSpec) -> None:
    for m in MODALITIES:
        if spec[m].layout != "unaligned":
            raise DataError(f"the extractor's {m} spec has layout {spec[m].layout!r}; the corpus is unaligned")


def _speech_key(spec: FeatureSpec) -> str:
    """What the cached RAVDESS features depend on: the text and audio specs (settings, max_len, overflow)
    and the code that computes them (a fix that leaves the settings alone must not reuse stale numbers)."""
    d = {"text": spec.text.to_dict(), "audio": spec.audio.to_dict(), "code": _speech_code_digest()}
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def _speech_code_digest() -> str:
    """Digest of the modules that turn a clip and its sentence into text/audio frames, and of the
    pipeline's shortening code (not the whole pipeline: its vision changes do not touch these numbers)."""
    import inspect

    import features.audio
    import features.decode
    import features.pipeline
    import features.text
    import features.whisper_audio

    h = hashlib.sha1()
    for mod in (features.audio, features.decode, features.whisper_audio):
        h.update(Path(mod.__file__).read_bytes())
    cx = features.pipeline.ClipExtractor
    # text: the tokeniser and the extractor; speech recognition is never run (the sentence is given)
    parts = (features.text.tokenize, features.text.TextExtractor,
             features.pipeline.pool_frames, getattr(cx, "_shorten", None), getattr(cx, "_unaligned", None))
    for obj in parts:
        if obj is not None:
            h.update(inspect.getsource(obj).encode())
    return h.hexdigest()[:12]


_WORKER: Any = None


def _init_worker(face_weights: str | None, vectors: str | None, expected: dict) -> None:
    """Worker processes build their own extractor (extractors hold models and memory maps)."""
    global _WORKER
    import torch

    torch.set_num_threads(1)
    _WORKER = app_extractor(face_weights, vectors, audio_features_of(FeatureSpec.from_dict(expected)))
    diff = FeatureSpec.from_dict(expected).diff(_WORKER.feature_spec())
    if [d for d in diff if not d.startswith("vision.")]:
        raise DataError(f"a worker's extractor differs from the main one: {diff}")


def _extract_speech(job: tuple[str, str, tuple[int, ...] | None]
                    ) -> tuple[np.ndarray | None, np.ndarray | None, str | None, float]:
    return extract_speech(_WORKER, *job)


def extract_speech(extractor: Any, path: str, sentence: str, view_seed: Sequence[int] | None = None
                   ) -> tuple[np.ndarray | None, np.ndarray | None, str | None, float]:
    """A clip and its sentence -> (text [L, d_t], audio [T, d_a], reason when unusable, seconds), via
    ClipExtractor.extract (the app's path for an audio file with its transcript).

    view_seed: render an augmented view of the recording first (`train.demo.speech_views.render_view`,
    generator seeded with it) and extract that through `extract_arrays`, as the app does with
    already-decoded audio; None extracts the file as it is.
    """
    from features.types import FeatureError

    t0 = time.perf_counter()
    try:
        if view_seed is None:
            clip = extractor.extract(path, transcript=sentence)
        else:
            from features.decode import decode_audio
            from train.demo.speech_views import render_view

            y, sr = decode_audio(path, sr=extractor.audio.sr)
            view = render_view(y, sr, np.random.default_rng(list(view_seed)))
            clip = extractor.extract_arrays(audio=(view, sr), transcript=sentence)
    except FeatureError as e:  # DecodeError included: a broken file is skipped with its reason
        return None, None, f"{type(e).__name__}: {e}", time.perf_counter() - t0
    for m in ("text", "audio"):
        if not clip[m].present:
            return None, None, f"{m} missing: {clip[m].missing_reason}", time.perf_counter() - t0
    return (np.asarray(clip.text.values, np.float32), np.asarray(clip.audio.values, np.float32), None,
            time.perf_counter() - t0)


def view_id(clip_id: str, view: int) -> str:
    """Id of a clip's rendering: the clip's own id for the recording itself (view 0), `<id>~view<k>` for
    its k-th augmented view."""
    return clip_id if view == 0 else f"{clip_id}~view{view}"


def _views_key(seed: int) -> str:
    """What a cached view depends on beyond the clip and the features: the augmentation code and the seed."""
    import train.demo.speech_views

    h = hashlib.sha1(Path(train.demo.speech_views.__file__).read_bytes())
    h.update(str(seed).encode())
    return h.hexdigest()[:8]


def extract_ravdess(
    clips: Sequence[RavdessClip], extractor: Any, cache_dir: Path | None, workers: int = 1,
    worker_args: tuple[str | None, str | None] = (None, None), progress: bool = False,
    views: Mapping[str, int] | None = None, view_seed: int = 0,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, str], float]:
    """Text (the spoken sentence) and audio of every clip -> ({id: (text, audio)}, {id: reason}, seconds).

    views: {clip id: k} also renders k augmented views of that clip (`train.demo.speech_views`), keyed
    `view_id(id, 1..k)`; each view's generator is seeded by (view_seed, the clip's id, k).
    Results are cached per clip under cache_dir/speech-<hash of the text+audio spec>/ (keyed also by the
    file's size and time, and for a view by its number and the augmentation code), so an interrupted or
    repeated build only computes what is new.
    worker_args: (face_weights, vectors) with which worker processes rebuild the extractor.
    """
    spec = extractor.feature_spec()
    feats, reasons, seconds = {}, {}, 0.0
    cdir = cache_dir / f"speech-{_speech_key(spec)}" if cache_dir is not None else None
    if cdir is not None:
        cdir.mkdir(parents=True, exist_ok=True)
    vkey = _views_key(view_seed)
    renderings = [(c, k) for c in clips for k in range(1 + (views or {}).get(c.id, 0))]

    def cache_file(c: RavdessClip, k: int) -> Path:
        st = c.path.stat()
        view = f"-view{k}-{vkey}" if k else ""
        return cdir / f"{c.id.split(':')[1]}-{st.st_size}-{int(st.st_mtime)}{view}.npz"

    todo = []
    for c, k in renderings:
        if cdir is not None and cache_file(c, k).is_file():
            z = np.load(cache_file(c, k), allow_pickle=False)
            if str(z["reason"]):
                reasons[view_id(c.id, k)] = str(z["reason"])
            else:
                feats[view_id(c.id, k)] = (z["text"], z["audio"])
            continue
        todo.append((c, k))
    jobs = [(str(c.path), RAVDESS_STATEMENTS[c.statement], (view_seed, zlib.crc32(c.id.encode()), k) if k else None)
            for c, k in todo]
    global _WORKER
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(
            workers, initializer=_init_worker, initargs=(*worker_args, spec.to_dict())
        )
        results: Iterable = pool.imap(_extract_speech, jobs, chunksize=4)
    else:
        pool, _WORKER = None, extractor
        results = map(_extract_speech, jobs)
    try:
        for (c, k), (t, a, reason, s) in progress_bar(zip(todo, results), len(todo), "RAVDESS speech", progress):
            seconds += s
            if reason is not None:
                reasons[view_id(c.id, k)] = reason
            else:
                feats[view_id(c.id, k)] = (t, a)
            if cdir is not None:
                empty = np.zeros((0, 0), np.float32)
                tmp = cdir / f".{os.getpid()}.tmp.npz"
                np.savez(tmp, text=empty if t is None else t, audio=empty if a is None else a, reason=reason or "")
                os.replace(tmp, cache_file(c, k))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return feats, reasons, seconds


def extract_transcript(extractor: Any, text: str) -> tuple[np.ndarray | None, str | None]:
    """A transcript alone, as the app takes text-only input -> (text [L, d_t] or None, reason)."""
    clip = extractor.extract_arrays(transcript=text)
    if not clip.text.present:
        return None, clip.text.missing_reason
    return np.asarray(clip.text.values, np.float32), None


def embed_faces(images: np.ndarray, faces: Callable[[list[np.ndarray]], np.ndarray], batch: int = 512,
                progress: bool = False) -> np.ndarray:
    """images [n, 48, 48] uint8 grey face crops -> [n, d_v] via the vision extractor's crop embedding
    (`VisionExtractor.embed`: the same grey conversion, resize and network as crops from a video)."""
    out = []
    for i in progress_bar(range(0, len(images), batch), (len(images) + batch - 1) // batch, "FER2013 faces", progress):
        out.append(np.asarray(faces(list(images[i : i + batch])), np.float32))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _faces_key(stills: np.ndarray, n_frames: int, seed: Sequence[int], spec: FeatureSpec) -> str:
    """What cached face embeddings depend on: the stills, the sequence settings, the vision spec (its
    weights digest included) and the code that jitters and embeds them."""
    import features.face_expression
    import features.vision
    import train.demo.face_sequence

    h = hashlib.sha1(json.dumps({"vision": spec.vision.to_dict(), "frames": n_frames, "seed": list(seed)},
                                sort_keys=True).encode())
    h.update(np.ascontiguousarray(stills).tobytes())
    for mod in (features.vision, features.face_expression, train.demo.face_sequence):
        h.update(Path(mod.__file__).read_bytes())
    return h.hexdigest()[:12]


def face_sequence_embeddings(stills: np.ndarray, n_frames: int, seed: Sequence[int], spec: FeatureSpec,
                             faces: Callable[[list[np.ndarray]], np.ndarray], cache_dir: Path | None = None,
                             progress: bool = False) -> np.ndarray:
    """stills [k, 48, 48] uint8 -> [k * n_frames, d_v]: each still then n_frames - 1 jittered views
    (train.demo.face_sequence, seeded by `seed`), embedded by `embed_faces`. With cache_dir, the result is kept
    in cache_dir/faces-<key>.npy and reused while stills, settings, spec and code are unchanged."""
    from train.demo.face_sequence import stills_to_sequences

    path = cache_dir / f"faces-{_faces_key(stills, n_frames, seed, spec)}.npy" if cache_dir is not None else None
    if path is not None and path.is_file():
        return np.load(path, allow_pickle=False)
    images = stills if n_frames == 1 else stills_to_sequences(stills, n_frames, np.random.default_rng(list(seed)))
    emb = embed_faces(images, faces, progress=progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, emb)
        os.replace(tmp, path)
    return emb


def progress_bar(it: Iterable, total: int, desc: str, enabled: bool) -> Iterator:
    return iter(progress(it, desc, total=total, enabled=enabled, leave=True))
