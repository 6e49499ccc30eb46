"""The raw sources of the demo corpus, read as they are shipped (see the data README): MOSI/MOSEI
transcripts with sentiment scores, RAVDESS speech clips, FER2013 faces; and the valence table that puts
the acted emotions on the MOSI sentiment scale. `train.demo.corpus` builds the corpus from them;
`train.face_expression` trains the face network on the same FER2013 reader.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from features.face_expression import CLASSES as FER_CLASS_NAMES
from features.feature_files import SPLITS, DataError, load_npz
from features.transcripts import read_transcripts

REPO = Path(__file__).resolve().parents[1]
CLASS_NAMES: tuple[str, str, str] = ("negative", "neutral", "positive")  # aumdf.metrics.sentiment_class 0, 1, 2

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
RAVDESS_STATEMENTS: dict[int, str] = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}
# RAVDESS by actor: 18 actors learn, 2 choose epochs, 4 are held out; each group is half male (odd
# numbers) and half female (even), so no split is one voice type.
ACTOR_SPLITS: dict[str, tuple[int, ...]] = {
    "train": tuple(range(1, 19)),
    "valid": (19, 20),
    "test": (21, 22, 23, 24),
}
FER_SPLITS: dict[str, str] = {"Training": "train", "PublicTest": "valid", "PrivateTest": "test"}
_RAVDESS_NAME = re.compile(r"(?:^|_)(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
AUDIO_SUFFIXES = (".flac", ".wav")


def default_data_dir() -> Path:
    """$AUMDF_SHARED/data, else the `shared/data` folder beside the project."""
    env = os.environ.get("AUMDF_SHARED")
    return (Path(env) if env else REPO.parent / "shared") / "data"


# ----------------------------------------------------------------------------- transcripts


@dataclass(frozen=True)
class TextRow:
    source: str
    split: str
    id: str  # "<source>:<the CSV's id>"
    text: str
    label: float


def read_text_labels(data_dir: Path, source: str) -> list[TextRow]:
    """<source>/label.csv (features.transcripts' format) with a split for every row and scores in [-3, 3]."""
    path = data_dir / source / "label.csv"
    if not path.is_file():
        raise DataError(f"{path} does not exist; expected the {source.upper()} transcripts with labels "
                        f"(see the data README). Pass --data-dir pointing at the folder that holds {source}/")
    rows = []
    for i, r in enumerate(read_transcripts(path)):
        where = f"{path} row {i + 2}"
        if r.split not in SPLITS:
            raise DataError(f"{where}: split (mode) {r.split!r} is not one of train, valid/dev/val, test")
        try:
            label = float(r.label)
        except ValueError as e:
            raise DataError(f"{where}: label {r.label!r} is not a number") from e
        if not np.isfinite(label) or abs(label) > 3.0 + 1e-6:
            raise DataError(f"{where}: label {label} is outside the sentiment scale [-3, 3]")
        rows.append(TextRow(source, r.split, f"{source}:{r.id}", r.text, label))
    return rows


# ----------------------------------------------------------------------------- RAVDESS


@dataclass(frozen=True)
class RavdessClip:
    path: Path
    id: str  # "ravdess:" + the file stem without any prefix, e.g. "ravdess:03-01-05-02-01-01-12"
    actor: int
    emotion: str
    intensity: int
    statement: int
    split: str


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
    raise DataError(f"RAVDESS actor {actor} is not in any split {ACTOR_SPLITS}")


def find_ravdess(data_dir: Path) -> list[RavdessClip]:
    """Every speech clip under ravdess/ (any sub-folder layout: Actor_NN/ or one folder with NN_ prefixes)."""
    root = data_dir / "ravdess"
    if not root.is_dir():
        raise DataError(f"{root} does not exist; expected RAVDESS speech clips named like "
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
        raise DataError(f"no RAVDESS speech clips (*.flac / *.wav named 03-01-EE-II-SS-RR-AA) found under {root}")
    ids = Counter(c.id for c in clips)
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        raise DataError(f"RAVDESS clips found twice under {root}: {dup[:3]} ...; keep one copy of each")
    return clips


# ----------------------------------------------------------------------------- FER2013


@dataclass
class FER2013:
    """fer2013.npz as read. images [n, 48, 48] uint8 grey; labels [n] int64 (index into FER_CLASS_NAMES);
    usage [n] FER's own split names; ids [n] "fer2013:<id>"; splits [n] train | valid | test (FER_SPLITS)."""

    path: Path
    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    ids: np.ndarray

    @property
    def splits(self) -> np.ndarray:
        return np.array([FER_SPLITS[u] for u in self.usage])


def read_fer2013(path: Path | str) -> FER2013:
    """The one reader of fer2013.npz (images, labels, usage; optional ids and classes)."""
    path = Path(path)
    z = load_npz(path, ("images", "labels", "usage"), "does not exist (FER2013 not found): expected an npz with images, "
                 "labels, usage (see the data README). Pass --data (--data-dir) or set AUMDF_SHARED to the folder holding "
                 "data/fer2013.npz", "the FER2013 npz")
    images, labels, usage = z["images"], z["labels"].astype(np.int64), z["usage"].astype(str)
    ids = z["ids"].astype(str) if "ids" in z else np.arange(len(labels)).astype(str)
    classes = tuple(str(c) for c in z["classes"]) if "classes" in z else FER_CLASS_NAMES
    if classes != FER_CLASS_NAMES:
        raise DataError(f"{path} lists classes {classes}; expected {FER_CLASS_NAMES} in that order")
    if images.ndim != 3 or images.shape[1:] != (48, 48) or not len(images) == len(labels) == len(usage):
        raise DataError(f"{path}: expected images [n, 48, 48] with n labels and n usage strings, got images "
                        f"{images.shape}, labels {labels.shape}, usage {usage.shape}")
    bad = sorted(set(usage) - set(FER_SPLITS))
    if bad:
        raise DataError(f"{path}: usage values {bad} are not FER2013's {sorted(FER_SPLITS)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(FER_CLASS_NAMES)):
        raise DataError(f"{path}: labels must lie in [0, {len(FER_CLASS_NAMES)}), got [{labels.min()}, {labels.max()}]")
    return FER2013(path, images.astype(np.uint8), labels, usage, np.array([f"fer2013:{i}" for i in ids]))
