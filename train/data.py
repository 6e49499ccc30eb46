"""Datasets researchers already hold, read as they are: MMSA pickles, MulT pickles, and the
project's own feature files. See docs/training.md ("Data layouts") for the schemas and where to get them.

    splits = load_dataset("mosi", "data/mosi", layout="auto")
    loader = DataLoader(splits.train, batch_size=32, shuffle=True, collate_fn=collate)
    batch = next(iter(loader))          # aumdf.types.Batch with explicit masks and lengths
    splits.feature_spec                 # features.spec.FeatureSpec, dimensions read from the data

Inside this module every split is held back-padded: `features[m]` [n, T_m, d_m] float32 with frames
`[:lengths[m][i]]` valid. How the lengths are known, per layout:
  * MMSA unaligned: `audio_lengths` / `vision_lengths` as stored; text from the BERT mask row
    `text_bert[:, 1]` when present, else inferred as below.
  * MMSA aligned: one word axis; its length from `text_bert[:, 1]` when present, else inferred.
  * MulT: the files carry no lengths. A frame is padding when its whole feature row is exactly 0;
    the valid span runs from the first to the last non-zero row (all-zero rows inside it stay valid
    frames). The span is moved to the front, which also undoes the front-padding of the public
    aligned files. In aligned files the text's span is used for all three modalities (they share
    the word axis, and an audio/vision row may legitimately be 0 at a valid word).
  * the project's feature files: lengths are stored.
Non-finite values (the public MOSEI audio holds -inf) are replaced by 0 and counted in `stats`.
"""

from __future__ import annotations

import json
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from aumdf.types import Batch
from features.spec import MODALITIES, FeatureSpec, ModalitySpec

log = logging.getLogger(__name__)

SPLITS: tuple[str, str, str] = ("train", "valid", "test")
LAYOUTS: tuple[str, ...] = ("auto", "mmsa-aligned", "mmsa-unaligned", "mult-aligned", "mult-unaligned", "features")
# The class axis of IEMOCAP, in the order of the MulT label tensor [N, 4, 2] (eval_iemocap's `emos`).
IEMOCAP_CLASSES: tuple[str, ...] = ("neutral", "happy", "sad", "angry")


# Emotion names as annotated in IEMOCAP -> class index. "excited" counts as happy, the convention
# of the 4-class IEMOCAP literature the paper follows; use it when writing feature files from raw labels.
IEMOCAP_LABELS: dict[str, int] = {"neutral": 0, "neu": 0, "happy": 1, "hap": 1, "excited": 1, "exc": 1,
                                  "sad": 2, "angry": 3, "ang": 3, "anger": 3, "sadness": 2, "happiness": 1}


def iemocap_class(label: str) -> int:
    """An IEMOCAP emotion label (full name or the corpus' 3-letter code) -> index into IEMOCAP_CLASSES."""
    key = label.strip().lower()
    if key not in IEMOCAP_LABELS:
        raise DataError(f"IEMOCAP label {label!r} is none of the 4 classes {IEMOCAP_CLASSES} (excited counts as "
                        "happy); leave such utterances out, as the 4-class protocol does")
    return IEMOCAP_LABELS[key]


class DataError(ValueError):
    """Data missing or malformed; the message says what was expected and what to do."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: str  # "regression" | "classification"
    class_names: tuple[str, ...]  # classification only
    files: Mapping[str, str]  # layout -> file name inside data_dir
    where: str  # where researchers obtain the files


_MMSA_WHERE = "the MMSA feature release (github.com/thuiar/MMSA, README 'Datasets': aligned_50.pkl / unaligned_50.pkl)"
_MULT_WHERE = "the MulT release (github.com/yaohungt/Multimodal-Transformer, README 'Data Download')"
_OWN_WHERE = "the project's extractor (`python -m features.extract`, see docs/features.md) run on your own videos"

DATASETS: dict[str, DatasetInfo] = {
    "mosi": DatasetInfo(
        "mosi", "regression", (),
        {"mmsa-aligned": "aligned_50.pkl", "mmsa-unaligned": "unaligned_50.pkl",
         "mult-aligned": "mosi_data.pkl", "mult-unaligned": "mosi_data_noalign.pkl"},
        f"{_MMSA_WHERE}; or {_MULT_WHERE}; or {_OWN_WHERE}",
    ),
    "mosei": DatasetInfo(
        "mosei", "regression", (),
        {"mmsa-aligned": "aligned_50.pkl", "mmsa-unaligned": "unaligned_50.pkl",
         "mult-aligned": "mosei_senti_data.pkl", "mult-unaligned": "mosei_senti_data_noalign.pkl"},
        f"{_MMSA_WHERE}; or {_MULT_WHERE}; or {_OWN_WHERE}",
    ),
    "iemocap": DatasetInfo(
        "iemocap", "classification", IEMOCAP_CLASSES,
        {"mult-aligned": "iemocap_data.pkl", "mult-unaligned": "iemocap_data_noalign.pkl"},
        f"{_MULT_WHERE} (IEMOCAP itself is licensed by USC SAIL: sail.usc.edu/iemocap); or {_OWN_WHERE}",
    ),
}

# `auto` takes the first layout whose file exists, in this order (aligned first: the paper's main setting).
_AUTO_ORDER = ("features", "mmsa-aligned", "mult-aligned", "mmsa-unaligned", "mult-unaligned")


# ------------------------------------------------------------------ containers


@dataclass
class SplitArrays:
    """One split, back-padded. features[m]: [n, T_m, d_m] float32; lengths[m]: [n] int64 in [0, T_m]."""

    features: dict[str, np.ndarray]
    lengths: dict[str, np.ndarray]
    labels: np.ndarray  # [n] float32 (score) or int64 (class index)
    ids: list[str]

    def __post_init__(self) -> None:
        n = len(self.labels)
        for m in MODALITIES:
            x, L = self.features[m], self.lengths[m]
            if x.ndim != 3 or x.shape[0] != n or L.shape != (n,):
                raise DataError(f"{m}: features {x.shape} / lengths {L.shape} do not match {n} labels")
        if len(self.ids) != n:
            raise DataError(f"{len(self.ids)} ids for {n} labels")


@dataclass
class Sample:
    features: dict[str, np.ndarray]  # m -> [L_m, d_m] (valid frames only)
    label: float | int
    id: str


class MultimodalDataset(Dataset):
    """A torch Dataset over one split; items are `Sample`s, batch them with `collate`."""

    def __init__(self, arrays: SplitArrays, name: str = ""):
        self.arrays = arrays
        self.name = name

    def __len__(self) -> int:
        return len(self.arrays.labels)

    def __getitem__(self, i: int) -> Sample:
        a = self.arrays
        feats = {m: a.features[m][i, : int(a.lengths[m][i])] for m in MODALITIES}
        return Sample(feats, a.labels[i].item(), a.ids[i])

    @property
    def labels(self) -> np.ndarray:
        return self.arrays.labels


@dataclass
class DatasetSplits:
    name: str
    task: str
    class_names: tuple[str, ...]
    layout: str
    source: Path
    feature_spec: FeatureSpec
    train: MultimodalDataset
    valid: MultimodalDataset
    test: MultimodalDataset
    stats: dict[str, Any] = field(default_factory=dict)

    def truncated(self, max_lens: Sequence[int]) -> "DatasetSplits":
        """Keep at most max_lens (text, audio, vision) frames per modality (0 = keep all); spec updated."""
        arrays = {s: _truncate(self.split(s).arrays, max_lens) for s in SPLITS}
        spec = FeatureSpec(**{m: _with_max_len(self.feature_spec[m], arrays["train"].features[m].shape[1])
                              for m in MODALITIES})
        return DatasetSplits(self.name, self.task, self.class_names, self.layout, self.source, spec,
                             *(MultimodalDataset(arrays[s], s) for s in SPLITS), stats=self.stats)

    def split(self, name: str) -> MultimodalDataset:
        if name not in SPLITS:
            raise KeyError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, name)


def collate(samples: Sequence[Sample]) -> Batch:
    """Pad a list of samples to the longest of each modality in the batch -> Batch (masks from lengths)."""
    if not samples:
        raise ValueError("cannot collate an empty batch")
    feats, lengths = {}, {}
    for m in MODALITIES:
        ls = [s.features[m].shape[0] for s in samples]
        d = samples[0].features[m].shape[1]
        x = np.zeros((len(samples), max(1, max(ls)), d), dtype=np.float32)  # t >= 1 even if all absent
        for j, s in enumerate(samples):
            x[j, : ls[j]] = s.features[m]
        feats[m] = torch.from_numpy(x)
        lengths[m] = torch.tensor(ls, dtype=torch.long)
    first = samples[0].label
    dtype = torch.long if isinstance(first, (int, np.integer)) and not isinstance(first, bool) else torch.float32
    labels = torch.tensor([s.label for s in samples], dtype=dtype)
    return Batch.from_lengths(feats, lengths, labels=labels, ids=[s.id for s in samples])


# ------------------------------------------------------------------ helpers


def _sanitize(x: np.ndarray) -> tuple[np.ndarray, int]:
    """float32 copy with non-finite values set to 0, and how many there were."""
    x = np.asarray(x, dtype=np.float32)
    bad = ~np.isfinite(x)
    n = int(bad.sum())
    if n:
        x = x.copy() if not x.flags.writeable else x
        x[bad] = 0.0
    return x, n


def infer_span(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x: [n, T, d] -> (start [n], length [n]): the span from the first to the last row that is not all 0."""
    nz = np.any(x != 0, axis=-1)  # n T
    t = x.shape[1]
    has = nz.any(axis=1)
    first = np.argmax(nz, axis=1)
    last = t - 1 - np.argmax(nz[:, ::-1], axis=1)
    length = np.where(has, last - first + 1, 0)
    return np.where(has, first, 0).astype(np.int64), length.astype(np.int64)


def left_justify(x: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Move each sample's span [start, start+length) to the front; zero the rest. x: [n, T, d]."""
    if not np.any(start):
        return x
    t = x.shape[1]
    idx = np.clip(start[:, None] + np.arange(t)[None, :], 0, t - 1)  # n T
    out = np.take_along_axis(x, idx[:, :, None], axis=1)
    out[np.arange(t)[None, :] >= length[:, None]] = 0.0
    return out


def _ids(raw: Any, n: int) -> list[str]:
    if raw is None:
        return [str(i) for i in range(n)]
    arr = np.asarray(raw)

    def s(v: Any) -> str:
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)

    if arr.ndim == 2:  # MulT: (video, start, end) per sample
        return ["_".join(s(v) for v in row) for row in arr]
    return [s(v) for v in arr.reshape(-1)]


def _open_pickle(path: Path) -> dict:
    try:
        try:
            with open(path, "rb") as f:
                data = pickle.load(f)
        except UnicodeDecodeError:  # pickles written by Python 2 hold byte strings
            with open(path, "rb") as f:
                data = pickle.load(f, encoding="latin1")
    except Exception as e:  # a truncated download or a different file under the expected name
        raise DataError(f"{path} could not be read as a pickle ({type(e).__name__}: {e}); "
                        "re-download it or check that it is the right file") from e
    if not isinstance(data, Mapping):
        raise DataError(f"{path} holds a {type(data).__name__}; expected a dict with splits {SPLITS}")
    missing = [s for s in SPLITS if s not in data]
    if missing:
        raise DataError(f"{path} lacks the splits {missing}; it has {sorted(map(str, data))}. "
                        f"Expected a dict with {SPLITS}, each a dict of arrays")
    return data


def _need(d: Mapping, keys: Iterable[str], where: str) -> None:
    missing = [k for k in keys if k not in d]
    if missing:
        raise DataError(f"{where} lacks the keys {missing}; it has {sorted(map(str, d))}")


# ------------------------------------------------------------------ readers


def _read_mmsa(path: Path, info: DatasetInfo, aligned: bool, stats: dict) -> dict[str, SplitArrays]:
    if info.task != "regression":
        raise DataError(f"the MMSA layout holds sentiment regression (MOSI/MOSEI); {info.name} needs the MulT "
                        f"layout or the project's feature files")
    data = _open_pickle(path)
    out = {}
    for split in SPLITS:
        d, where = data[split], f"{path.name}[{split!r}]"
        if "text" not in d and "text_bert" in d:
            raise DataError(f"{where} holds only BERT token ids (`text_bert`), no word-vector `text` features. "
                            "AUMDF consumes per-word feature vectors: use an MMSA pickle that has `text` "
                            "(GloVe or BERT features), a MulT pickle, or extract features with features/")
        _need(d, ("text", "audio", "vision", "regression_labels"), where)
        if not aligned:
            _need(d, ("audio_lengths", "vision_lengths"), where + " (unaligned)")
        feats, counts = {}, {}
        for m in MODALITIES:
            feats[m], counts[m] = _sanitize(d[m])
            if feats[m].ndim != 3:
                raise DataError(f"{where}[{m!r}] has shape {feats[m].shape}; expected [N, T, d]")
        n, t_l = feats["text"].shape[:2]
        if "text_bert" in d and np.asarray(d["text_bert"]).shape[-1] == t_l:
            text_len = np.asarray(d["text_bert"])[:, 1].sum(axis=-1).astype(np.int64)
        else:
            text_len = infer_span(feats["text"])[1]
        lengths = {"text": text_len}
        if aligned:
            lengths["audio"] = lengths["vision"] = text_len
        else:
            for m in ("audio", "vision"):
                lengths[m] = np.asarray(d[f"{m}_lengths"], dtype=np.int64).reshape(-1)
        for m in MODALITIES:
            t = feats[m].shape[1]
            over = int((lengths[m] > t).sum())
            if over:  # MMSA stores pre-truncation lengths for a few long clips
                stats.setdefault("clipped_lengths", {}).setdefault(split, {})[m] = over
            lengths[m] = np.clip(lengths[m], 0, t)
        labels = np.asarray(d["regression_labels"], dtype=np.float32).reshape(-1)
        out[split] = _checked(SplitArrays(feats, lengths, labels, _ids(d.get("id"), len(labels))), where)
        stats["nonfinite"][split] = counts
    return out


def _read_mult(path: Path, info: DatasetInfo, aligned: bool, stats: dict) -> dict[str, SplitArrays]:
    data = _open_pickle(path)
    out = {}
    for split in SPLITS:
        d, where = data[split], f"{path.name}[{split!r}]"
        _need(d, ("text", "audio", "vision", "labels"), where)
        feats, counts = {}, {}
        for m in MODALITIES:
            feats[m], counts[m] = _sanitize(d[m])
            if feats[m].ndim != 3:
                raise DataError(f"{where}[{m!r}] has shape {feats[m].shape}; expected [N, T, d]")
        spans = {m: infer_span(feats[m]) for m in MODALITIES}
        if aligned:
            ts = {m: feats[m].shape[1] for m in MODALITIES}
            if len(set(ts.values())) != 1:
                raise DataError(f"{where}: an aligned file needs one time axis, got lengths {ts}; "
                                "is this the unaligned (_noalign) file? pass --layout mult-unaligned")
            spans = {m: spans["text"] for m in MODALITIES}
        lengths = {}
        for m in MODALITIES:
            feats[m] = left_justify(feats[m], *spans[m])
            lengths[m] = spans[m][1]
        raw = np.asarray(d["labels"], dtype=np.float32)
        n = raw.shape[0]
        keep = np.ones(n, dtype=bool)
        if info.task == "regression":
            if raw.size != n:
                raise DataError(f"{where}['labels'] has shape {raw.shape}; {info.name} expects one score per "
                                f"sample ([N, 1, 1]). Is this the {info.name} file?")
            labels = raw.reshape(-1)
        else:
            if raw.shape[1:] != (len(info.class_names), 2):
                raise DataError(f"{where}['labels'] has shape {raw.shape}; IEMOCAP expects [N, 4, 2] "
                                f"(one 2-way one-hot per emotion in the order {IEMOCAP_CLASSES})")
            positive = raw[:, :, 1] > raw[:, :, 0]  # n 4
            keep = positive.sum(axis=1) == 1
            labels = np.argmax(positive, axis=1).astype(np.int64)
            if not keep.all():
                stats.setdefault("dropped_ambiguous_labels", {})[split] = int((~keep).sum())
                log.warning("%s: %d samples without exactly one positive emotion were left out", where, (~keep).sum())
        ids = _ids(d.get("id"), n)
        arr = SplitArrays(
            {m: feats[m][keep] for m in MODALITIES},
            {m: lengths[m][keep] for m in MODALITIES},
            labels[keep],
            [i for i, k in zip(ids, keep) if k],
        )
        out[split] = _checked(arr, where)
        stats["nonfinite"][split] = counts
    return out


def _checked(a: SplitArrays, where: str) -> SplitArrays:
    if len(a.labels) == 0:
        raise DataError(f"{where} has no samples")
    if a.labels.dtype.kind == "f" and not np.all(np.isfinite(a.labels)):
        raise DataError(f"{where}: {int((~np.isfinite(a.labels)).sum())} labels are not finite")
    return a


def _read_features(data_dir: Path, info: DatasetInfo, stats: dict) -> tuple[dict[str, SplitArrays], FeatureSpec]:
    """The project's own feature files (written by `python -m features.extract --out DIR`, see
    docs/features.md, or by `write_features`): `<data_dir>/{train,valid,test}.npz` + `feature_spec.json`.

    Each npz holds `text`, `audio`, `vision` [n, T_m, d_m] (back-padded), `text_lengths`,
    `audio_lengths`, `vision_lengths` [n], `labels` [n] (float score, or int index into
    `class_names` for classification) and `ids` [n] str; other keys (times, missing reasons) are
    ignored here. `feature_spec.json` is `FeatureSpec.to_dict()` plus an optional `class_names` list.
    Unlabelled samples (NaN score, class index -1 or a class outside the dataset's) are left out and
    counted in stats["unlabelled"].
    """
    spec_path = data_dir / "feature_spec.json"
    try:
        meta = json.loads(spec_path.read_text())
        spec = FeatureSpec.from_dict(meta)
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{spec_path} is missing or not a feature specification ({e})") from e
    remap = None
    if info.task == "classification":
        names = tuple(meta.get("class_names", info.class_names))
        if names != info.class_names:  # e.g. classes in another order, or "excited" listed apart: map by name
            remap = np.array([IEMOCAP_LABELS.get(n.strip().lower(), -1) for n in names], dtype=np.int64)
            if (remap < 0).all():
                raise DataError(f"{spec_path}: none of the class_names {names} is one of {info.class_names}")
    out = {}
    for split in SPLITS:
        p = data_dir / f"{split}.npz"
        if not p.is_file():
            raise DataError(f"{p} is missing: the feature files need train, valid and test splits "
                            f"(give the transcripts CSV a split/mode column when extracting)")
        try:
            z = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{p} could not be read ({e}); expected an npz written by the feature extractor") from e
        where = p.name
        keys = [*MODALITIES, *(f"{m}_lengths" for m in MODALITIES), "labels", "ids"]
        _need(z, keys, where)
        feats, counts = {}, {}
        for m in MODALITIES:
            feats[m], counts[m] = _sanitize(z[m])
        lengths = {m: np.clip(z[f"{m}_lengths"].astype(np.int64), 0, feats[m].shape[1]) for m in MODALITIES}
        if info.task == "regression":
            labels = z["labels"].astype(np.float32)
            keep = np.isfinite(labels)
        else:
            labels = z["labels"].astype(np.int64)
            if remap is not None:
                labels = np.where((labels >= 0) & (labels < len(remap)), remap[np.clip(labels, 0, len(remap) - 1)], -1)
            keep = (labels >= 0) & (labels < len(info.class_names))
        ids = [str(i) for i in z["ids"]]
        if not keep.all():
            stats.setdefault("unlabelled", {})[split] = int((~keep).sum())
            feats = {m: feats[m][keep] for m in MODALITIES}
            lengths = {m: lengths[m][keep] for m in MODALITIES}
            labels, ids = labels[keep], [i for i, k in zip(ids, keep) if k]
        out[split] = _checked(SplitArrays(feats, lengths, labels, ids), where)
        stats["nonfinite"][split] = counts
    return out, spec


def write_features(data_dir: Path | str, splits: Mapping[str, SplitArrays], spec: FeatureSpec,
                   class_names: Sequence[str] = ()) -> Path:
    """Write splits in the project's feature-file layout (the inverse of the `features` reader)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    meta = spec.to_dict()
    if class_names:
        meta["class_names"] = list(class_names)
    (data_dir / "feature_spec.json").write_text(json.dumps(meta, indent=2))
    for split, a in splits.items():
        np.savez(
            data_dir / f"{split}.npz",
            **{m: a.features[m] for m in MODALITIES},
            **{f"{m}_lengths": a.lengths[m] for m in MODALITIES},
            labels=a.labels,
            ids=np.array(a.ids, dtype=str),
        )
    return data_dir


# ------------------------------------------------------------------ entry point


def expected_files(name: str) -> dict[str, str]:
    """layout -> file name, for messages and docs."""
    info = _info(name)
    return {**info.files, "features": "train.npz, valid.npz, test.npz, feature_spec.json"}


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[name]


def _missing_message(info: DatasetInfo, data_dir: Path, layout: str) -> str:
    files = expected_files(info.name)
    wanted = files if layout == "auto" else {layout: files[layout]}
    lines = "\n".join(f"  {lay:15s} {data_dir / f}" for lay, f in wanted.items())
    return (f"no {info.name} data found for layout {layout!r} in {data_dir}.\n"
            f"Put one of these there (or pass --data-dir / --layout):\n{lines}\n"
            f"Obtain them from {info.where}. Nothing is downloaded automatically.")


def load_dataset(
    name: str,
    data_dir: Path | str | None = None,
    layout: str = "auto",
    max_lens: tuple[int, int, int] | None = None,
) -> DatasetSplits:
    """Read `name` ("mosi" | "mosei" | "iemocap") from `data_dir` (default `data/<name>/`).

    layout: one of LAYOUTS; "auto" takes the first present of features, mmsa-aligned, mult-aligned,
    mmsa-unaligned, mult-unaligned. `data_dir` may also be a pickle file (layout then from its name).
    max_lens: keep at most this many frames per modality (text, audio, vision); 0 or None keeps all.
    """
    info = _info(name)
    if layout not in LAYOUTS:
        raise DataError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    data_dir = Path(data_dir) if data_dir is not None else Path("data") / name
    if data_dir.is_file():  # a pickle given directly
        matches = [lay for lay, f in info.files.items() if f == data_dir.name]
        if layout == "auto":
            if not matches:
                raise DataError(f"cannot tell the layout of {data_dir} from its name; pass --layout "
                                f"(one of {LAYOUTS[1:]})")
            layout = matches[0]
        path = data_dir
    else:
        if layout == "auto":
            present = [lay for lay in _AUTO_ORDER
                       if (lay == "features" or lay in info.files) and _path_for(info, data_dir, lay).exists()]
            if not present:
                raise DataError(_missing_message(info, data_dir, layout))
            layout = present[0]
        path = _path_for(info, data_dir, layout)
        if not path.exists():
            raise DataError(_missing_message(info, data_dir, layout))

    stats: dict[str, Any] = {"nonfinite": {}}
    aligned = layout.endswith("-aligned")
    if layout == "features":
        arrays, spec = _read_features(path.parent, info, stats)
    else:
        family = layout.split("-")[0]
        reader = _read_mmsa if family == "mmsa" else _read_mult
        arrays = reader(path, info, aligned, stats)
        spec = _spec_from(arrays["train"], layout, path.name)
    for split, a in arrays.items():
        for m in MODALITIES:
            if a.features[m].shape[2] != spec[m].dim:
                raise DataError(f"{split} {m} has {a.features[m].shape[2]} features, the spec says {spec[m].dim}")
    if max_lens:
        arrays = {s: _truncate(a, max_lens) for s, a in arrays.items()}
        spec = FeatureSpec(**{m: _with_max_len(spec[m], arrays["train"].features[m].shape[1]) for m in MODALITIES})
    total_bad = sum(v for c in stats["nonfinite"].values() for v in c.values())
    if total_bad:
        log.warning("%s: replaced %d non-finite feature values by 0 (%s)", path, total_bad, stats["nonfinite"])
    empty = {s: {m: int((a.lengths[m] == 0).sum()) for m in MODALITIES} for s, a in arrays.items()}
    stats["empty_modalities"] = empty
    stats["sizes"] = {s: len(a.labels) for s, a in arrays.items()}
    return DatasetSplits(
        name=name, task=info.task, class_names=info.class_names, layout=layout, source=path,
        feature_spec=spec,
        train=MultimodalDataset(arrays["train"], "train"),
        valid=MultimodalDataset(arrays["valid"], "valid"),
        test=MultimodalDataset(arrays["test"], "test"),
        stats=stats,
    )


def _path_for(info: DatasetInfo, data_dir: Path, layout: str) -> Path:
    if layout == "features":
        return data_dir / "feature_spec.json"
    if layout not in info.files:
        raise DataError(f"{info.name} is not published in the {layout} layout; use one of "
                        f"{sorted(info.files) + ['features']}")
    return data_dir / info.files[layout]


def _spec_from(a: SplitArrays, layout: str, file_name: str) -> FeatureSpec:
    family = layout.split("-")[0]
    lay = "aligned" if layout.endswith("-aligned") else "unaligned"
    return FeatureSpec(**{
        m: ModalitySpec(name=m, dim=int(a.features[m].shape[2]), layout=lay, max_len=int(a.features[m].shape[1]),
                        extractor=f"{family}-pickle", settings={"file": file_name})
        for m in MODALITIES
    })


def _with_max_len(s: ModalitySpec, max_len: int) -> ModalitySpec:
    return ModalitySpec(s.name, s.dim, s.layout, max_len, s.extractor, s.settings)


def _truncate(a: SplitArrays, max_lens: Sequence[int]) -> SplitArrays:
    feats, lengths = {}, {}
    for m, t in zip(MODALITIES, max_lens):
        if t and t < a.features[m].shape[1]:
            feats[m] = a.features[m][:, :t]
            lengths[m] = np.minimum(a.lengths[m], t)
        else:
            feats[m], lengths[m] = a.features[m], a.lengths[m]
    return SplitArrays(feats, lengths, a.labels, a.ids)
