"""The project's feature files: the one writer and the one reader of the on-disk format.

`python -m train.extract --out DIR`, the demo-corpus builder (`train.demo.corpus`) and
`train.data` all go through this module. A feature folder holds

  feature_spec.json     `FeatureSpec.to_dict()` plus an optional "class_names" list
  {train,valid,test}.npz, each with
    text, audio, vision                 [n, T_m, d_m] float32, back-padded (T_m may be 0)
    text_lengths, audio_lengths, ...    [n] int64, valid frames of each sample
    labels                              [n] float32 score, or int64 index into class_names
                                        (NaN / -1: unlabelled)
    ids                                 [n] str
    any other array with n rows         a per-sample column, kept as it is by the reader, e.g.
                                        {m}_missing [n] str (why a modality is absent), {m}_times
                                        [n, T_m, 2], durations [n], source [n] str, teacher_view [n]
                                        bool, emotion [n] str, parts [n, 3] str

A *corpus* is a folder of such folders that share one spec: `manifest.json` names them under
"sources" (in order) and carries the spec under "feature_spec"; one split of the corpus is the
sources' splits in that order. The demo corpus is one (docs/demo_corpus.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from features.spec import MODALITIES, FeatureSpec

SPLITS: tuple[str, str, str] = ("train", "valid", "test")
SPEC_FILE = "feature_spec.json"
MANIFEST_FILE = "manifest.json"
_STANDARD = frozenset({*MODALITIES, *(f"{m}_lengths" for m in MODALITIES), "labels", "ids"})


class DataError(ValueError):
    """Data missing or malformed; the message says what was expected and what to do."""


@dataclass
class SplitArrays:
    """One split, back-padded. features[m]: [n, T_m, d_m] float32; lengths[m]: [n] int64 in [0, T_m];
    labels [n]; ids [n]; columns: per-sample arrays with n rows (source, emotion, times, ...)."""

    features: dict[str, np.ndarray]
    lengths: dict[str, np.ndarray]
    labels: np.ndarray
    ids: list[str]
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.labels)
        for m in MODALITIES:
            x, L = self.features[m], self.lengths[m]
            if x.ndim != 3 or x.shape[0] != n or L.shape != (n,):
                raise DataError(f"{m}: features {x.shape} / lengths {L.shape} do not match {n} labels")
        if len(self.ids) != n:
            raise DataError(f"{len(self.ids)} ids for {n} labels")
        for k, v in self.columns.items():
            if len(v) != n:
                raise DataError(f"column {k!r} has {len(v)} rows for {n} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, keep: np.ndarray) -> "SplitArrays":
        """The rows where `keep` ([n] bool) is True, or the rows at `keep` (int indices), columns included."""
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64)
        return SplitArrays({m: self.features[m][idx] for m in MODALITIES},
                           {m: self.lengths[m][idx] for m in MODALITIES},
                           self.labels[idx], [self.ids[i] for i in idx],
                           {k: v[idx] for k, v in self.columns.items()})


def pad(seqs: Sequence[np.ndarray], dim: int, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sequences [L_i, dim] -> (back-padded [n, width, dim] float32, lengths [n] int64).

    width: the padded length (longer sequences are cut to it); None pads to the longest sequence.
    """
    lengths = np.array([len(x) for x in seqs], np.int64)
    if width is None:
        width = int(lengths.max(initial=0))
    lengths = np.minimum(lengths, width)
    out = np.zeros((len(seqs), width, dim), np.float32)
    for i, x in enumerate(seqs):
        out[i, : lengths[i]] = np.asarray(x, np.float32).reshape(-1, dim)[: lengths[i]]
    return out, lengths


# ------------------------------------------------------------------ one split


def write_split(path: Path | str, arrays: SplitArrays, compressed: bool = False) -> Path:
    """Write one split's npz atomically (an interrupted write never leaves half a file)."""
    path = Path(path)
    reserved = _STANDARD & set(arrays.columns)
    if reserved:
        raise ValueError(f"columns {sorted(reserved)} clash with the standard arrays")
    data = {**{m: arrays.features[m] for m in MODALITIES},
            **{f"{m}_lengths": arrays.lengths[m] for m in MODALITIES},
            "labels": arrays.labels, "ids": np.array(arrays.ids, dtype=str), **arrays.columns}
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    (np.savez_compressed if compressed else np.savez)(tmp, **data)
    os.replace(tmp, path)
    return path


def load_npz(path: Path | str, required: Sequence[str], absent: str, what: str) -> dict[str, np.ndarray]:
    """Every array of an npz file (no pickles), after checking the `required` keys. DataError messages:
    `absent` when there is no file, `what` (what the file should be) when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} {absent}")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DataError(f"{path} could not be read ({e}); expected {what}") from e
    missing = sorted(set(required) - set(data))
    if missing:
        raise DataError(f"{path.name} lacks the keys {missing}; it has {sorted(data)}")
    return data


def read_split(path: Path | str) -> SplitArrays:
    """Read one split's npz: the standard arrays plus every per-sample column."""
    data = load_npz(path, sorted(_STANDARD), "is missing: a feature folder needs train, valid and test splits (give the "
                    "transcripts CSV a split/mode column when extracting)", "an npz written by the feature extractor")
    n = len(data["labels"])
    columns = {k: v for k, v in data.items() if k not in _STANDARD and v.ndim >= 1 and len(v) == n}
    return SplitArrays({m: data[m] for m in MODALITIES}, {m: data[f"{m}_lengths"].astype(np.int64) for m in MODALITIES},
                       data["labels"], [str(i) for i in data["ids"]], columns)


# ------------------------------------------------------------------ a folder


@dataclass
class FeatureFolder:
    """A feature folder as read: its spec, class names (classification) and splits."""

    root: Path
    spec: FeatureSpec
    class_names: tuple[str, ...]
    splits: dict[str, SplitArrays]


def write_folder(folder: Path | str, splits: Mapping[str, SplitArrays], spec: FeatureSpec,
                 class_names: Sequence[str] = (), compressed: bool = False) -> Path:
    """Write feature_spec.json and one npz per split (the inverse of `read_folder`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, arrays in splits.items():
        write_split(folder / f"{split}.npz", arrays, compressed)
    meta = spec.to_dict()
    if class_names:
        meta["class_names"] = list(class_names)
    (folder / SPEC_FILE).write_text(json.dumps(meta, indent=2))
    return folder


def read_spec(folder: Path | str) -> tuple[FeatureSpec, tuple[str, ...]]:
    """feature_spec.json -> (spec, class_names)."""
    path = Path(folder) / SPEC_FILE
    try:
        meta = json.loads(path.read_text())
        return FeatureSpec.from_dict(meta), tuple(meta.get("class_names", ()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path} is missing or not a feature specification ({e})") from e


def read_folder(folder: Path | str, splits: Sequence[str] = SPLITS) -> FeatureFolder:
    """Read a feature folder; every split's dimensions are checked against the spec."""
    folder = Path(folder)
    spec, class_names = read_spec(folder)
    out = {s: read_split(folder / f"{s}.npz") for s in splits}
    for s, a in out.items():
        for m in MODALITIES:
            if a.features[m].shape[2] != spec[m].dim:
                raise DataError(f"{folder / s}.npz: {m} has {a.features[m].shape[2]} features, the spec says "
                                f"{spec[m].dim}")
    return FeatureFolder(folder, spec, class_names, out)


# ------------------------------------------------------------------ a corpus of folders


def write_manifest(root: Path | str, sources: Sequence[str], spec: FeatureSpec, **info: Any) -> dict[str, Any]:
    """Write <root>/manifest.json: the source folders in order, their shared spec, and anything else in info."""
    manifest = {**info, "sources": list(sources), "feature_spec": spec.to_dict()}
    Path(root, MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    return manifest


def read_manifest(root: Path | str) -> dict[str, Any]:
    """<root>/manifest.json of a corpus (a DataError naming the build command when absent)."""
    path = Path(root) / MANIFEST_FILE
    if not path.is_file():
        raise DataError(f"{path} does not exist: build the corpus first (for the demo corpus "
                        f"`python -m train.demo.corpus --out {root}`)")
    try:
        manifest = json.loads(path.read_text())
        manifest["sources"], FeatureSpec.from_dict(manifest["feature_spec"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path} is not a corpus manifest with sources and feature_spec ({e})") from e
    return manifest


def read_corpus(root: Path | str, sources: Sequence[str] | None = None) -> tuple[dict[str, Any], dict[str, FeatureFolder]]:
    """A corpus -> (manifest, {source: FeatureFolder}) in the manifest's order; every source must carry
    the manifest's spec."""
    root = Path(root)
    manifest = read_manifest(root)
    spec = FeatureSpec.from_dict(manifest["feature_spec"])
    names = list(manifest["sources"]) if sources is None else list(sources)
    unknown = [s for s in names if s not in manifest["sources"]]
    if unknown:
        raise DataError(f"sources {unknown} are not in the corpus at {root}; it has {manifest['sources']}")
    folders = {s: read_folder(root / s) for s in names}
    for s, f in folders.items():
        diff = f.spec.diff(spec)
        if diff:
            raise DataError(f"{root / s} has a different feature spec from the manifest: {diff}")
    return manifest, folders
