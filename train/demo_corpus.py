"""The demo corpus: real MOSI/MOSEI transcripts, RAVDESS speech and FER2013 faces turned into model
inputs with the project's own extractors, for the shipped default checkpoint.

    python -m train.demo_corpus --data-dir ../shared/data --out data/demo

No dataset with real text, audio and video of the same clip can be obtained here (CMU-MOSI's audio
and video are not public in raw form). What is real is each modality on its own:

  source     modalities it really has        label (sentiment score on -3..+3)   split
  mosi       text (transcript)               the dataset's own score             its `mode` column
  mosei      text (transcript)               the dataset's own score             its `mode` column
  ravdess    audio + its spoken sentence     VALENCE[emotion]                    by actor (ACTOR_SPLITS)
  fer2013    vision (one face, one frame)    VALENCE[emotion]                    by `usage` (FER_SPLITS)
  composite  text + audio + vision           mean of the three parts' scores     the parts' common split

A *composite* joins a transcript, a RAVDESS clip and a FER face of the same split and the same
sentiment class (negative / neutral / positive with the model's neutral band, `aumdf.losses`). It is
the only complete sample, so it is what the teacher learns from (and the only place a teacher view
exists for distillation); the student learns from composites plus the naturally incomplete samples.
Because the class regions are intervals, the mean of three same-class scores has that class too.

Output: one directory per source, each in the project's own feature-file layout (the format
`features.extract` writes and `train.data.load_dataset(..., layout="features")` reads, see
docs/features.md): `<out>/<source>/{train,valid,test}.npz` + `feature_spec.json`, plus
`<out>/manifest.json` (counts, class balance, skipped items with reasons, valence table, timings).
A source per directory keeps the padded arrays small: a text-only MOSEI file has audio and vision
arrays with 0 frames instead of 16k zero-filled audio tracks. Each npz holds, beside the standard
arrays, `source` [n] str, `teacher_view` [n] bool (all modalities present), `emotion` [n] str ('' for
transcripts) and `parts` [n, 3] str (ids of the text, audio and face used, '' where absent); the
reader ignores keys it does not know, so older readers load the files unchanged.

The feature specification is exactly what `features.pipeline.ClipExtractor().feature_spec()` returns
for the default settings (unaligned), and every array is computed by those same extractors, so a
model trained here is accepted by the app's extractors. See docs/demo_corpus.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from features.spec import MODALITIES, FeatureSpec

REPO = Path(__file__).resolve().parents[1]
SPLITS: tuple[str, str, str] = ("train", "valid", "test")
SOURCES: tuple[str, ...] = ("mosi", "mosei", "ravdess", "fer2013", "composite")
NATURAL_SOURCES: tuple[str, ...] = SOURCES[:-1]
CLASS_NAMES: tuple[str, str, str] = ("negative", "neutral", "positive")

# ----------------------------------------------------------------------------- the valence table
# One table for RAVDESS and FER2013 (FER's "fear"/"surprise" are read as "fearful"/"surprised").
# Scores sit on the MOSI scale (-3 strongly negative .. +3 strongly positive). Ordering follows the
# valence axis of Russell's circumplex and the per-category valence means reported for AffectNet
# (happy clearly positive, surprise mildly positive, neutral 0, fear/sad/disgust/anger negative with
# anger the most hostile). Two deliberate choices:
#   calm +0.25: RAVDESS "calm" is a relaxed, mildly pleasant delivery that is acoustically close to its
#     "neutral" (they are the classic confusion pair in speech-emotion work); it stays inside the
#     neutral band (|s| < 0.5) so that "neutral" is not starved (RAVDESS has 4 neutral clips per actor
#     against 8 calm), and FER has no calm at all.
#   surprised +1: FER2013's and RAVDESS's surprise is mostly the open-mouthed, pleasant kind; +1 keeps
#     it positive but weaker than happy.
# No emotion sits on a class edge (+-0.5), so a score's class never depends on rounding.
VALENCE: dict[str, float] = {
    "happy": 2.0,
    "surprised": 1.0,
    "calm": 0.25,
    "neutral": 0.0,
    "fearful": -1.5,
    "sad": -2.0,
    "disgust": -2.0,
    "angry": -2.5,
}
RAVDESS_EMOTIONS: dict[int, str] = {
    1: "neutral", 2: "calm", 3: "happy", 4: "sad", 5: "angry", 6: "fearful", 7: "disgust", 8: "surprised",
}
FER_EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fearful", "happy", "sad", "surprised", "neutral")  # label index
FER_CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # the npz's own
RAVDESS_STATEMENTS: dict[int, str] = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}
# RAVDESS by actor: 18 actors learn, 2 choose epochs, 4 are held out; each group is half male (odd
# numbers) and half female (even), so no split is one voice type.
ACTOR_SPLITS: dict[str, tuple[int, ...]] = {
    "train": tuple(range(1, 19)),
    "valid": (19, 20),
    "test": (21, 22, 23, 24),
}
FER_SPLITS: dict[str, str] = {"Training": "train", "PublicTest": "valid", "PrivateTest": "test"}
TEXT_SPLITS: dict[str, str] = {"train": "train", "valid": "valid", "dev": "valid", "val": "valid", "test": "test"}
_RAVDESS_NAME = re.compile(r"(?:^|_)(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
AUDIO_SUFFIXES = (".flac", ".wav")


class CorpusError(ValueError):
    """Source data missing or malformed; the message says what was expected and what to do."""


def sentiment_class(score: float) -> int:
    """0 negative, 1 neutral, 2 positive: the same bins as `aumdf.losses.sentiment_classes`."""
    from aumdf.losses import sentiment_classes
    import torch

    return int(sentiment_classes(torch.tensor([float(score)]))[0])


def _classes(scores: np.ndarray) -> np.ndarray:
    from aumdf.losses import sentiment_classes
    import torch

    return sentiment_classes(torch.as_tensor(np.asarray(scores, np.float32).reshape(-1))).numpy()


def default_data_dir() -> Path:
    """$AUMDF_SHARED/data, else the `shared/data` folder beside the project."""
    env = os.environ.get("AUMDF_SHARED")
    return (Path(env) if env else REPO.parent / "shared") / "data"


# ----------------------------------------------------------------------------- raw items


@dataclass
class Item:
    """One sample before packing. feats[m]: [L_m, d_m] float32 (L_m = 0 where the modality is absent)."""

    source: str
    split: str
    id: str
    label: float
    emotion: str = ""
    feats: dict[str, np.ndarray] = field(default_factory=dict)
    parts: tuple[str, str, str] = ("", "", "")

    @property
    def cls(self) -> int:
        return sentiment_class(self.label)


@dataclass(frozen=True)
class TextRow:
    source: str
    split: str
    id: str
    text: str
    label: float


@dataclass(frozen=True)
class RavdessClip:
    path: Path
    id: str  # file stem without any prefix, e.g. "03-01-05-02-01-01-12"
    actor: int
    emotion: str
    intensity: int
    statement: int
    split: str


def read_text_labels(data_dir: Path, source: str) -> list[TextRow]:
    """mosi/label.csv (id,text,label,mode) or mosei/label.csv (video_id,clip_id,text,label,mode)."""
    path = data_dir / source / "label.csv"
    if not path.is_file():
        raise CorpusError(f"{path} does not exist; expected the {source.upper()} transcripts with labels "
                          f"(see the data README). Pass --data-dir pointing at the folder that holds {source}/")
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = {"text", "label", "mode"} | ({"id"} if source == "mosi" else {"video_id", "clip_id"})
        if not need <= set(reader.fieldnames or ()):
            raise CorpusError(f"{path} has columns {reader.fieldnames}; expected at least {sorted(need)}")
        for i, r in enumerate(reader):
            sid = r["id"] if source == "mosi" else f"{r['video_id']}/{r['clip_id']}"
            split = TEXT_SPLITS.get(r["mode"].strip().lower())
            if split is None:
                raise CorpusError(f"{path} row {i + 2}: mode {r['mode']!r} is not one of {sorted(TEXT_SPLITS)}")
            try:
                label = float(r["label"])
            except ValueError as e:
                raise CorpusError(f"{path} row {i + 2}: label {r['label']!r} is not a number") from e
            if not np.isfinite(label) or abs(label) > 3.0 + 1e-6:
                raise CorpusError(f"{path} row {i + 2}: label {label} is outside the sentiment scale [-3, 3]")
            rows.append(TextRow(source, split, f"{source}:{sid}", r["text"] or "", label))
    return rows


def parse_ravdess_name(stem: str) -> dict[str, int] | None:
    """'03-01-05-02-01-01-12' (optionally prefixed 'NN_') -> its seven fields, or None if it is not one."""
    m = _RAVDESS_NAME.search(stem)
    if m is None:
        return None
    keys = ("modality", "channel", "emotion", "intensity", "statement", "repetition", "actor")
    return dict(zip(keys, (int(g) for g in m.groups())))


def actor_split(actor: int) -> str:
    for split, actors in ACTOR_SPLITS.items():
        if actor in actors:
            return split
    raise CorpusError(f"RAVDESS actor {actor} is not in any split {ACTOR_SPLITS}")


def find_ravdess(data_dir: Path) -> list[RavdessClip]:
    """Every speech clip under ravdess/ (any sub-folder layout: Actor_NN/ or one folder with NN_ prefixes)."""
    root = data_dir / "ravdess"
    if not root.is_dir():
        raise CorpusError(f"{root} does not exist; expected RAVDESS speech clips named like "
                          "03-01-05-02-01-01-12.flac below it (see the data README)")
    clips = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in AUDIO_SUFFIXES or not p.is_file():
            continue
        f = parse_ravdess_name(p.stem)
        # 03 audio-only modality, 01 speech channel (song clips sing other material)
        if f is None or f["channel"] != 1 or f["emotion"] not in RAVDESS_EMOTIONS or f["statement"] not in RAVDESS_STATEMENTS:
            continue
        stem = _RAVDESS_NAME.search(p.stem).group(0).lstrip("_")
        clips.append(RavdessClip(p, f"ravdess:{stem}", f["actor"], RAVDESS_EMOTIONS[f["emotion"]],
                                 f["intensity"], f["statement"], actor_split(f["actor"])))
    if not clips:
        raise CorpusError(f"no RAVDESS speech clips (*.flac / *.wav named 03-01-EE-II-SS-RR-AA) found under {root}")
    ids = Counter(c.id for c in clips)
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        raise CorpusError(f"RAVDESS clips found twice under {root}: {dup[:3]} ...; keep one copy of each")
    return clips


def read_fer(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """fer2013.npz -> images [n, 48, 48] uint8, labels [n] int, split names [n], ids [n]."""
    path = data_dir / "fer2013.npz"
    if not path.is_file():
        raise CorpusError(f"{path} does not exist; expected FER2013 as an npz with images, labels, usage (see the data README)")
    try:
        z = np.load(path, allow_pickle=False)
        missing = [k for k in ("images", "labels", "usage") if k not in z.files]
        if missing:
            raise CorpusError(f"{path} lacks the arrays {missing}; it has {z.files}")
        images, labels, usage = z["images"], z["labels"].astype(np.int64), z["usage"].astype(str)
        ids = z["ids"].astype(str) if "ids" in z.files else np.array([f"{i}" for i in range(len(labels))])
        classes = tuple(str(c) for c in z["classes"]) if "classes" in z.files else FER_CLASS_NAMES
    except (OSError, ValueError) as e:
        raise CorpusError(f"{path} could not be read ({e}); is it the FER2013 npz?") from e
    if classes != FER_CLASS_NAMES:
        raise CorpusError(f"{path} lists classes {classes}; expected {FER_CLASS_NAMES} in that order")
    if images.ndim != 3 or images.shape[0] != len(labels) or len(usage) != len(labels):
        raise CorpusError(f"{path}: images {images.shape}, labels {labels.shape}, usage {usage.shape} do not match")
    bad = sorted(set(usage) - set(FER_SPLITS))
    if bad:
        raise CorpusError(f"{path}: usage values {bad} are not FER2013's {sorted(FER_SPLITS)}")
    if labels.min() < 0 or labels.max() >= len(FER_EMOTIONS):
        raise CorpusError(f"{path}: labels must lie in 0..{len(FER_EMOTIONS) - 1}")
    splits = np.array([FER_SPLITS[u] for u in usage])
    return images.astype(np.uint8), labels, splits, np.array([f"fer2013:{i}" for i in ids])


def _subsample(idx: Sequence[int], limit: int | None, rng: np.random.Generator) -> list[int]:
    """At most `limit` of `idx` (a seeded random subset in the original order), all when limit is None."""
    idx = list(idx)
    if limit is None or len(idx) <= limit:
        return idx
    keep = set(rng.choice(len(idx), size=limit, replace=False).tolist())
    return [x for i, x in enumerate(idx) if i in keep]


# ----------------------------------------------------------------------------- extractors
# Every number in the corpus comes from `features.pipeline.ClipExtractor` with the app's defaults:
# transcripts through `extract_arrays(transcript=...)` (text-only input, as the app gets it), RAVDESS
# clips through `extract(path, transcript=sentence)` (an audio file with its transcript, the app's own
# path: decoding, 100 Hz frames, pooling to max_len), FER faces through the vision extractor's crop
# embedding (the step after face detection; FER images are already 48x48 face crops).


def default_extractor(face_weights: str | Path | None = None, vectors: str | None = None) -> Any:
    """The app's ClipExtractor with default settings in the unaligned layout."""
    from features.pipeline import ClipExtractor

    return ClipExtractor.build(
        vectors=vectors, face_weights=None if face_weights is None else str(face_weights), layout="unaligned"
    )


def _check_unaligned(spec: FeatureSpec) -> None:
    for m in MODALITIES:
        if spec[m].layout != "unaligned":
            raise CorpusError(f"the extractor's {m} spec has layout {spec[m].layout!r}; the corpus is unaligned")


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

    h = hashlib.sha1()
    for mod in (features.audio, features.decode):
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
    _WORKER = default_extractor(face_weights, vectors)
    diff = FeatureSpec.from_dict(expected).diff(_WORKER.feature_spec())
    if [d for d in diff if not d.startswith("vision.")]:
        raise CorpusError(f"a worker's extractor differs from the main one: {diff}")


def _extract_speech(job: tuple[str, str]) -> tuple[np.ndarray | None, np.ndarray | None, str | None, float]:
    """(path, sentence) -> (text [L, d_t], audio [T, d_a], reason when unusable, seconds), via ClipExtractor.extract."""
    from features.types import FeatureError

    path, sentence = job
    t0 = time.perf_counter()
    try:
        clip = _WORKER.extract(path, transcript=sentence)
    except FeatureError as e:  # DecodeError included: a broken file is skipped with its reason
        return None, None, f"{type(e).__name__}: {e}", time.perf_counter() - t0
    for m in ("text", "audio"):
        if not clip[m].present:
            return None, None, f"{m} missing: {clip[m].missing_reason}", time.perf_counter() - t0
    return (np.asarray(clip.text.values, np.float32), np.asarray(clip.audio.values, np.float32), None,
            time.perf_counter() - t0)


def extract_ravdess(
    clips: Sequence[RavdessClip], extractor: Any, cache_dir: Path | None, workers: int = 1,
    worker_args: tuple[str | None, str | None] = (None, None), progress: bool = False,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, str], float]:
    """Text (the spoken sentence) and audio of every clip -> ({id: (text, audio)}, {id: reason}, seconds).

    Results are cached per clip under cache_dir/speech-<hash of the text+audio spec>/ (keyed also by the
    file's size and time), so an interrupted or repeated build only computes what is new.
    worker_args: (face_weights, vectors) with which worker processes rebuild the extractor.
    """
    spec = extractor.feature_spec()
    feats, reasons, seconds = {}, {}, 0.0
    cdir = cache_dir / f"speech-{_speech_key(spec)}" if cache_dir is not None else None
    if cdir is not None:
        cdir.mkdir(parents=True, exist_ok=True)

    def cache_file(c: RavdessClip) -> Path:
        st = c.path.stat()
        return cdir / f"{c.id.split(':')[1]}-{st.st_size}-{int(st.st_mtime)}.npz"

    todo = []
    for c in clips:
        if cdir is not None and cache_file(c).is_file():
            z = np.load(cache_file(c), allow_pickle=False)
            if str(z["reason"]):
                reasons[c.id] = str(z["reason"])
            else:
                feats[c.id] = (z["text"], z["audio"])
            continue
        todo.append(c)
    jobs = [(str(c.path), RAVDESS_STATEMENTS[c.statement]) for c in todo]
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
        for c, (t, a, reason, s) in _progress(zip(todo, results), len(todo), "RAVDESS speech", progress):
            seconds += s
            if reason is not None:
                reasons[c.id] = reason
            else:
                feats[c.id] = (t, a)
            if cdir is not None:
                empty = np.zeros((0, 0), np.float32)
                tmp = cdir / f".{os.getpid()}.tmp.npz"
                np.savez(tmp, text=empty if t is None else t, audio=empty if a is None else a, reason=reason or "")
                os.replace(tmp, cache_file(c))
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
    for i in _progress(range(0, len(images), batch), (len(images) + batch - 1) // batch, "FER2013 faces", progress):
        out.append(np.asarray(faces(list(images[i : i + batch])), np.float32))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _progress(it: Iterable, total: int, desc: str, enabled: bool) -> Iterator:
    if not enabled:
        return iter(it)
    from tqdm import tqdm

    return iter(tqdm(it, total=total, desc=desc, file=sys.stderr, mininterval=5.0))


# ----------------------------------------------------------------------------- composites


def draw_composites(
    audio_classes: Sequence[int], text_classes: Sequence[int], face_classes: Sequence[int],
    per_clip: int, rng: np.random.Generator,
) -> tuple[list[tuple[int, int, int]], dict[int, int]]:
    """Index triples (text, audio, face) that share a sentiment class; audio is the scarce part.

    Every audio clip is used `per_clip` times; texts and faces of its class are taken in a seeded
    random order without replacement, reshuffled only when the class pool is exhausted, so the
    composites spread over as many different transcripts and faces as there are. Clips whose class
    has no text or no face are skipped; returns (triples, {class: clips skipped}).
    """
    def pools(classes: Sequence[int]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i, c in enumerate(classes):
            out.setdefault(int(c), []).append(i)
        return out

    t_pool, f_pool = pools(text_classes), pools(face_classes)

    def cycler(pool: list[int]) -> Iterator[int]:
        while True:
            yield from (pool[j] for j in rng.permutation(len(pool)))

    t_iter = {c: cycler(p) for c, p in t_pool.items()}
    f_iter = {c: cycler(p) for c, p in f_pool.items()}
    triples, skipped = [], Counter()
    for a, c in enumerate(audio_classes):
        c = int(c)
        if c not in t_iter or c not in f_iter:
            skipped[c] += 1
            continue
        for _ in range(per_clip):
            triples.append((next(t_iter[c]), a, next(f_iter[c])))
    return triples, dict(skipped)


def make_composites(texts: Sequence[Item], audios: Sequence[Item], faces: Sequence[Item], split: str,
                    per_clip: int, rng: np.random.Generator) -> tuple[list[Item], dict[int, int]]:
    """Composite items of one split: text of a transcript, audio of a RAVDESS clip, vision of a FER face."""
    for name, items in (("text", texts), ("audio", audios), ("vision", faces)):
        wrong = [i.id for i in items if i.split != split]
        if wrong:
            raise ValueError(f"composites of {split}: {name} items from another split, e.g. {wrong[0]}")
    triples, skipped = draw_composites(
        _classes([a.label for a in audios]), _classes([t.label for t in texts]), _classes([f.label for f in faces]),
        per_clip, rng,
    )
    out = []
    for k, (ti, ai, fi) in enumerate(triples):
        t, a, f = texts[ti], audios[ai], faces[fi]
        label = float(np.mean([t.label, a.label, f.label]))
        out.append(Item(
            source="composite", split=split, id=f"composite:{split}:{k:05d}", label=label,
            emotion=f"{a.emotion}/{f.emotion}",
            feats={"text": t.feats["text"], "audio": a.feats["audio"], "vision": f.feats["vision"]},
            parts=(t.id, a.id, f.id),
        ))
    return out, skipped


# ----------------------------------------------------------------------------- packing


def pack(items: Sequence[Item], spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Items -> the arrays of one feature file (back-padded [n, T_m, d_m], lengths, labels, ids + extras).

    T_m is the longest sequence of the modality in these items (0 when no item has it). The extractor
    has already shortened every sequence to the spec's max_len; a longer one means the corpus left the
    app's code path, so it is refused rather than cut here.
    """
    n = len(items)
    out: dict[str, np.ndarray] = {}
    for m in MODALITIES:
        d, cap = spec[m].dim, spec[m].max_len
        seqs = []
        for it in items:
            x = it.feats.get(m)
            x = np.zeros((0, d), np.float32) if x is None else np.asarray(x, np.float32).reshape(-1, d)
            if cap > 0 and len(x) > cap:
                raise ValueError(f"{it.id}: {m} has {len(x)} frames, the spec allows {cap}")
            seqs.append(x)
        lengths = np.array([len(x) for x in seqs], np.int64)
        arr = np.zeros((n, int(lengths.max(initial=0)), d), np.float32)
        for i, x in enumerate(seqs):
            arr[i, : len(x)] = x
        out[m], out[f"{m}_lengths"] = arr, lengths
        # the same per-modality reason column features.extract writes ('' when present)
        out[f"{m}_missing"] = np.array([f"{it.source} has no {m}" if L == 0 else "" for it, L in zip(items, lengths)],
                                       dtype=str)
    out["labels"] = np.array([it.label for it in items], np.float32)
    out["ids"] = np.array([it.id for it in items], dtype=str)
    out["source"] = np.array([it.source for it in items], dtype=str)
    out["teacher_view"] = np.all([out[f"{m}_lengths"] > 0 for m in MODALITIES], axis=0) if n else np.zeros(0, bool)
    out["emotion"] = np.array([it.emotion for it in items], dtype=str)
    out["parts"] = np.array([list(it.parts) for it in items], dtype=str).reshape(n, 3)
    return out


def write_source(out_dir: Path, source: str, splits: Mapping[str, Sequence[Item]], spec: FeatureSpec) -> dict:
    """Write <out_dir>/<source>/{train,valid,test}.npz + feature_spec.json; returns per-split statistics."""
    d = out_dir / source
    d.mkdir(parents=True, exist_ok=True)
    stats = {}
    for split in SPLITS:
        items = list(splits.get(split, ()))
        arrays = pack(items, spec)
        tmp = d / f".{split}.{os.getpid()}.tmp.npz"
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, d / f"{split}.npz")
        cls = Counter(_classes(arrays["labels"]).tolist()) if items else Counter()
        stats[split] = {
            "n": len(items),
            "classes": {CLASS_NAMES[c]: int(cls.get(c, 0)) for c in range(3)},
            "frames_max": {m: int(arrays[m].shape[1]) for m in MODALITIES},
            "frames_mean": {m: round(float(arrays[f"{m}_lengths"].mean()) if items else 0.0, 2) for m in MODALITIES},
            "teacher_view": int(arrays["teacher_view"].sum()),
        }
        if items and source != "composite":
            stats[split]["emotions"] = dict(sorted(Counter(it.emotion for it in items if it.emotion).items()))
    (d / "feature_spec.json").write_text(json.dumps(spec.to_dict(), indent=2))
    return stats


# ----------------------------------------------------------------------------- the build


@dataclass(frozen=True)
class BuildConfig:
    data_dir: Path
    out: Path = Path("data/demo")
    seed: int = 0
    composites_per_clip: int = 3
    limit: int | None = None  # at most this many items per natural source and split (smoke runs)
    workers: int = 1
    cache: bool = True
    face_weights: Path | None = None  # face-expression checkpoint (None: the shipped one)
    vectors: str | None = None  # word-vector file (None: the app's default, GloVe 6B 50-d)
    progress: bool = False


def build(cfg: BuildConfig, extractor: Any = None) -> dict[str, Any]:
    """Build the whole corpus; returns the manifest (also written to <out>/manifest.json).

    extractor: a `features.pipeline.ClipExtractor` (default: the app's, built from cfg.face_weights / cfg.vectors).
    """
    import torch

    torch.set_num_threads(1)  # the machine is shared; extraction is one light process by default
    t_all = time.perf_counter()
    data_dir, out = Path(cfg.data_dir), Path(cfg.out)
    if not data_dir.is_dir():
        raise CorpusError(f"data directory {data_dir} does not exist; pass --data-dir (the folder holding "
                          "mosi/, mosei/, ravdess/ and fer2013.npz) or set AUMDF_SHARED")
    if cfg.composites_per_clip < 1:
        raise CorpusError(f"composites_per_clip must be >= 1, got {cfg.composites_per_clip}")
    if cfg.limit is not None and cfg.limit < 1:
        raise CorpusError(f"limit must be >= 1, got {cfg.limit}")
    rng = np.random.default_rng(cfg.seed)
    timings: dict[str, float] = {}
    skipped: dict[str, Counter] = {s: Counter() for s in NATURAL_SOURCES}
    examples: dict[str, list[str]] = {s: [] for s in NATURAL_SOURCES}

    def skip(source: str, item_id: str, reason: str) -> None:
        # count by the reason's head: its tail (levels in dBFS, words) varies per item
        skipped[source][": ".join(reason.split(": ")[:2])] += 1
        if len(examples[source]) < 5:
            examples[source].append(f"{item_id}: {reason}")

    # read every source first, so a missing or malformed one fails before minutes of extraction
    t0 = time.perf_counter()
    text_rows = {s: read_text_labels(data_dir, s) for s in ("mosi", "mosei")}
    clips = find_ravdess(data_dir)
    images, fer_labels, fer_splits, fer_ids = read_fer(data_dir)
    timings["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ex = extractor if extractor is not None else default_extractor(cfg.face_weights, cfg.vectors)
    spec = ex.feature_spec()
    _check_unaligned(spec)
    timings["load_extractors"] = time.perf_counter() - t0

    items: dict[str, dict[str, list[Item]]] = {s: {sp: [] for sp in SPLITS} for s in SOURCES}

    # text: MOSI / MOSEI transcripts, each a text-only input
    t0 = time.perf_counter()
    for source, rows in text_rows.items():
        for split in SPLITS:
            chosen = _subsample([i for i, r in enumerate(rows) if r.split == split], cfg.limit, rng)
            for i in _progress(chosen, len(chosen), f"{source} {split} text", cfg.progress):
                r = rows[i]
                values, reason = extract_transcript(ex, r.text)
                if values is None:
                    skip(source, r.id, reason)
                    continue
                items[source][split].append(Item(source, split, r.id, r.label, "", _only(spec, text=values)))
    timings["text"] = time.perf_counter() - t0

    # RAVDESS: each clip with the sentence it speaks, as an audio file with its transcript
    t0 = time.perf_counter()
    chosen_clips = []
    for split in SPLITS:
        idx = [i for i, c in enumerate(clips) if c.split == split]
        chosen_clips += [clips[i] for i in _subsample(idx, cfg.limit, rng)]
    cache_dir = out / "cache" if cfg.cache else None
    worker_args = (None if cfg.face_weights is None else str(cfg.face_weights), cfg.vectors)
    speech, speech_missing, speech_seconds = extract_ravdess(
        chosen_clips, ex, cache_dir, cfg.workers, worker_args, cfg.progress
    )
    for c in chosen_clips:
        if c.id in speech_missing:
            skip("ravdess", c.id, speech_missing[c.id])
            continue
        text, audio = speech[c.id]
        feats = _only(spec, text=text, audio=audio)
        items["ravdess"][c.split].append(Item("ravdess", c.split, c.id, VALENCE[c.emotion], c.emotion, feats))
    timings["audio"] = time.perf_counter() - t0
    timings["audio_extractor_cpu"] = speech_seconds

    # vision: FER2013 faces, one frame each
    t0 = time.perf_counter()
    fer_idx = []
    for split in SPLITS:
        fer_idx += _subsample(np.flatnonzero(fer_splits == split).tolist(), cfg.limit, rng)
    fer_idx = sorted(fer_idx)
    emb = embed_faces(images[fer_idx], ex.vision.embed, progress=cfg.progress)
    if len(fer_idx) and emb.shape[1] != spec.vision.dim:
        raise CorpusError(f"face embeddings have {emb.shape[1]} features, the vision spec says {spec.vision.dim}")
    for j, i in enumerate(fer_idx):
        emo = FER_EMOTIONS[int(fer_labels[i])]
        split = str(fer_splits[i])
        items["fer2013"][split].append(
            Item("fer2013", split, str(fer_ids[i]), VALENCE[emo], emo, _only(spec, vision=emb[j : j + 1]))
        )
    timings["vision"] = time.perf_counter() - t0

    # composites, per split from that split's parts only
    t0 = time.perf_counter()
    comp_skipped = {}
    for split in SPLITS:
        texts = items["mosi"][split] + items["mosei"][split]
        comp, sk = make_composites(texts, items["ravdess"][split], items["fer2013"][split], split,
                                   cfg.composites_per_clip, rng)
        items["composite"][split] = comp
        if sk:
            comp_skipped[split] = {CLASS_NAMES[c]: n for c, n in sk.items()}
    timings["composites"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    stats = {s: write_source(out, s, items[s], spec) for s in SOURCES}
    timings["write"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all

    manifest = {
        "format": "aumdf-demo-corpus/1",
        "layout": "one directory per source, each in the project's feature-file layout",
        "sources": list(SOURCES),
        "teacher_sources": ["composite"],
        "student_sources": list(SOURCES),
        "feature_spec": spec.to_dict(),
        "valence": VALENCE,
        "neutral_band": _neutral_band(),
        "class_names": list(CLASS_NAMES),
        "splits": {
            "mosi": "the label.csv mode column (dev -> valid)",
            "mosei": "the label.csv mode column",
            "ravdess": {k: list(v) for k, v in ACTOR_SPLITS.items()},
            "fer2013": FER_SPLITS,
            "composite": "the split shared by its three parts",
        },
        "composite": {
            "label": "mean of the parts' scores (text: dataset label; audio, face: VALENCE[emotion])",
            "per_clip": cfg.composites_per_clip,
            "text_sources": ["mosi", "mosei"],
            "skipped_clips_without_partner": comp_skipped,
        },
        "seed": cfg.seed,
        "limit": cfg.limit,
        "stats": stats,
        "skipped": {s: dict(c) for s, c in skipped.items() if c},
        "skipped_examples": {s: e for s, e in examples.items() if e},
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "workers": cfg.workers,
        "cpu": _cpu_name(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _only(spec: FeatureSpec, **present: np.ndarray) -> dict[str, np.ndarray]:
    """Feature dict with the given modalities and 0-frame arrays for the rest."""
    return {m: np.asarray(present[m], np.float32) if m in present else np.zeros((0, spec[m].dim), np.float32)
            for m in MODALITIES}


def _neutral_band() -> float:
    from aumdf.losses import NEUTRAL_BAND

    return float(NEUTRAL_BAND)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


# ----------------------------------------------------------------------------- reading it back


def teacher_view_mask(ids: Sequence[str]) -> np.ndarray:
    """[b] bool: which samples of a batch have a complete teacher view (the composites), from `Batch.ids`.

    Sample ids start with their source (`composite:`, `mosi:`, ...), so a trainer that mixes sources
    needs no extra array to know where distillation terms apply.
    """
    return np.array([str(i).startswith("composite:") for i in ids], dtype=bool)



@dataclass
class DemoCorpus:
    """A built corpus: per source a `train.data.DatasetSplits`, plus the manifest."""

    root: Path
    manifest: dict[str, Any]
    feature_spec: FeatureSpec
    sources: dict[str, Any]  # source -> DatasetSplits

    def dataset(self, split: str, sources: Sequence[str] = SOURCES):
        """One torch Dataset over `split` of the given sources (items are train.data.Sample; use collate)."""
        unknown = [s for s in sources if s not in self.sources]
        if unknown:
            raise KeyError(f"sources {unknown} are not in this corpus; it has {sorted(self.sources)}")
        parts = [self.sources[s].split(split) for s in sources if len(self.sources[s].split(split))]
        return SourceConcat(parts, split)

    def source_weights(self, split: str, sources: Sequence[str] = SOURCES) -> np.ndarray:
        """[n] per-sample weights (in `dataset(split, sources)` order) under which every source is drawn
        equally often, e.g. for `torch.utils.data.WeightedRandomSampler`: FER2013 (28.7k) and MOSEI (16.3k)
        would otherwise drown the 3.2k composites and 1.1k RAVDESS clips. Weights sum to 1."""
        ns = [len(self.sources[s].split(split)) for s in sources]
        present = [n for n in ns if n]
        if not present:
            return np.zeros(0, np.float64)
        return np.concatenate([np.full(n, 1.0 / (n * len(present))) for n in ns if n])

    def splits(self, sources: Sequence[str] = SOURCES):
        """The given sources as one `train.data.DatasetSplits` (regression), for a trainer written for one.

        Its feature_spec is the corpus's, i.e. the app's. Do not call `.truncated()` on it: the corpus
        already respects the spec's max lengths, and truncation would re-derive max_len from the padded
        width of a source (0 audio frames for MOSI), which no longer matches the app's extractors.
        """
        from train.data import DatasetSplits

        sources = tuple(sources)
        ds = {sp: self.dataset(sp, sources) for sp in SPLITS}
        return DatasetSplits(
            name="demo" if sources == SOURCES else "demo:" + "+".join(sources), task="regression", class_names=(),
            layout="features", source=self.root, feature_spec=self.feature_spec,
            train=ds["train"], valid=ds["valid"], test=ds["test"],
            stats={"sizes": {sp: len(d) for sp, d in ds.items()}, "sources": list(sources)},
        )


class SourceConcat:
    """Several `MultimodalDataset`s as one (items are `train.data.Sample`), with `.labels` like theirs."""

    def __init__(self, parts: Sequence[Any], name: str = ""):
        from torch.utils.data import ConcatDataset

        self._cat = ConcatDataset(parts) if parts else None
        self.parts, self.name = list(parts), name

    def __len__(self) -> int:
        return 0 if self._cat is None else len(self._cat)

    def __getitem__(self, i: int):
        if self._cat is None:
            raise IndexError(i)
        return self._cat[i]

    @property
    def labels(self) -> np.ndarray:
        return np.concatenate([p.labels for p in self.parts]) if self.parts else np.zeros(0, np.float32)

    @property
    def ids(self) -> list[str]:
        return [i for p in self.parts for i in p.arrays.ids]


def load_demo_corpus(root: Path | str = Path("data/demo"), sources: Sequence[str] = SOURCES) -> DemoCorpus:
    """Read a built corpus with the unchanged feature-file reader (`train.data.load_dataset`).

    Every source directory is a regression dataset in the `features` layout; all share one spec.
    """
    from train.data import load_dataset

    root = Path(root)
    mf = root / "manifest.json"
    if not mf.is_file():
        raise CorpusError(f"{mf} does not exist: build the corpus first with "
                          f"`python -m train.demo_corpus --data-dir DIR --out {root}`")
    manifest = json.loads(mf.read_text())
    spec = FeatureSpec.from_dict(manifest["feature_spec"])
    out = {}
    for s in sources:
        # "mosi" only selects the regression reader; the data come from the source's own directory
        splits = load_dataset("mosi", root / s, layout="features")
        if splits.feature_spec.diff(spec):
            raise CorpusError(f"{root / s} has a different feature spec from the manifest: {splits.feature_spec.diff(spec)}")
        out[s] = replace(splits, name=s)
    return DemoCorpus(root, manifest, spec, out)


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m train.demo_corpus",
        description="Build the demo corpus (MOSI/MOSEI text, RAVDESS audio, FER2013 faces, and composites) "
                    "with the project's extractors. See docs/demo_corpus.md.",
    )
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder holding mosi/, mosei/, ravdess/, fer2013.npz (default: $AUMDF_SHARED/data, "
                        "else ../shared/data beside the project)")
    p.add_argument("--out", type=Path, default=Path("data/demo"), help="output folder (default: data/demo)")
    p.add_argument("--seed", type=int, default=0, help="seed of the subsets and of the composite draws")
    p.add_argument("--composites-per-clip", type=int, default=3,
                   help="composites made from each RAVDESS clip (each with another transcript and face)")
    p.add_argument("--limit", type=int, default=None,
                   help="at most N items per natural source and split (smoke runs; default: everything)")
    p.add_argument("--workers", type=int, default=1, help="processes for the RAVDESS audio features")
    p.add_argument("--no-cache", action="store_true", help="recompute audio features even if cached under <out>/cache")
    p.add_argument("--face-weights", type=Path, default=None,
                   help="face-expression checkpoint (default: the shipped checkpoints/face_expression/)")
    p.add_argument("--vectors", default=None,
                   help="word-vector file (default: the app's GloVe 6B 50-d; must match what the app will use)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from features.types import FeatureError

    cfg = BuildConfig(
        data_dir=args.data_dir or default_data_dir(), out=args.out, seed=args.seed,
        composites_per_clip=args.composites_per_clip, limit=args.limit, workers=max(1, args.workers),
        cache=not args.no_cache, face_weights=args.face_weights, vectors=args.vectors, progress=not args.quiet,
    )
    logging.getLogger("gensim").setLevel(logging.WARNING)  # its INFO lines about memory-mapping say nothing here
    try:
        manifest = build(cfg)
    except (CorpusError, FeatureError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(manifest))
    return 0


def summary(manifest: Mapping[str, Any]) -> str:
    """A plain table of the built corpus (counts per split and class, skipped items, seconds)."""
    lines = [f"{'source':10s} {'split':6s} {'n':>7s} {'neg':>6s} {'neu':>6s} {'pos':>6s}  frames max (t/a/v)"]
    for s in manifest["sources"]:
        for split in SPLITS:
            st = manifest["stats"][s][split]
            c = st["classes"]
            fm = st["frames_max"]
            lines.append(f"{s:10s} {split:6s} {st['n']:7d} {c['negative']:6d} {c['neutral']:6d} {c['positive']:6d}  "
                         f"{fm['text']}/{fm['audio']}/{fm['vision']}")
    for s, reasons in manifest.get("skipped", {}).items():
        for r, n in reasons.items():
            lines.append(f"skipped {s}: {n} x {r}")
    secs = manifest["seconds"]
    lines.append("seconds: " + ", ".join(f"{k} {v}" for k, v in secs.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
