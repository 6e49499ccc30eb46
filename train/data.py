"""Datasets as data: each is a registry entry (task, classes, the files of each layout) read by one of
a few readers; nothing downstream branches on a dataset's name. See docs/training.md ("Data layouts").

    splits = load_dataset("mosi", "data/mosi", layout="auto")
    loader = DataLoader(splits.train, batch_size=32, shuffle=True, collate_fn=collate)
    batch = next(iter(loader))          # aumdf.types.Batch with explicit masks and lengths
    splits.feature_spec                 # features.spec.FeatureSpec, dimensions read from the data
    splits.train.column("source")       # a per-sample column, e.g. the demo corpus's source of each sample

Layouts and their readers:
  mmsa-aligned, mmsa-unaligned, mult-aligned, mult-unaligned   the public pickles (train.pickles)
  features   the project's feature folder (features.feature_files; written by `python -m train.extract`)
  corpus     several feature folders with one spec listed in manifest.json (the demo corpus,
             `python -m train.demo.corpus`); a split is the folders' splits in the manifest's order

Two per-sample columns mean something to training: `teacher_view` (bool; absent = True) marks the
samples the teacher learns from and distils on (`with_every_teacher_view` sets it for every sample), and
`source` (absent = the folder name, or none) lets `source_weights` draw every source equally often.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from aumdf.types import Batch
from features.feature_files import SPLITS, DataError, FeatureFolder, SplitArrays, read_corpus, read_folder
from features.spec import MODALITIES, FeatureSpec, ModalitySpec
from train.pickles import checked, read_mmsa, read_mult, sanitize

log = logging.getLogger(__name__)

__all__ = ["DataError", "SplitArrays", "SPLITS", "LAYOUTS", "DATASETS", "DatasetInfo", "Sample", "MultimodalDataset",
           "DatasetSplits", "collate", "load_dataset", "source_weights", "expected_files", "iemocap_class"]

LAYOUTS: tuple[str, ...] = ("auto", "mmsa-aligned", "mmsa-unaligned", "mult-aligned", "mult-unaligned", "features",
                            "corpus")
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


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: str  # "regression" | "classification"
    class_names: tuple[str, ...]  # classification only
    files: Mapping[str, str]  # layout -> file name inside data_dir
    where: str  # where researchers obtain the files
    paper_table: str = ""  # the paper's table of its modality-subset results, for report titles


_MMSA_WHERE = "the MMSA feature release (github.com/thuiar/MMSA, README 'Datasets': aligned_50.pkl / unaligned_50.pkl)"
_MULT_WHERE = "the MulT release (github.com/yaohungt/Multimodal-Transformer, README 'Data Download')"
_OWN_WHERE = "the project's extractor (`python -m train.extract`, see docs/features.md) run on your own videos"
_FEATURES = {"features": "feature_spec.json"}

DATASETS: dict[str, DatasetInfo] = {
    "mosi": DatasetInfo(
        "mosi", "regression", (),
        {"mmsa-aligned": "aligned_50.pkl", "mmsa-unaligned": "unaligned_50.pkl",
         "mult-aligned": "mosi_data.pkl", "mult-unaligned": "mosi_data_noalign.pkl", **_FEATURES},
        f"{_MMSA_WHERE}; or {_MULT_WHERE}; or {_OWN_WHERE}", "Table 3",
    ),
    "mosei": DatasetInfo(
        "mosei", "regression", (),
        {"mmsa-aligned": "aligned_50.pkl", "mmsa-unaligned": "unaligned_50.pkl",
         "mult-aligned": "mosei_senti_data.pkl", "mult-unaligned": "mosei_senti_data_noalign.pkl", **_FEATURES},
        f"{_MMSA_WHERE}; or {_MULT_WHERE}; or {_OWN_WHERE}", "Table 4",
    ),
    "iemocap": DatasetInfo(
        "iemocap", "classification", IEMOCAP_CLASSES,
        {"mult-aligned": "iemocap_data.pkl", "mult-unaligned": "iemocap_data_noalign.pkl", **_FEATURES},
        f"{_MULT_WHERE} (IEMOCAP itself is licensed by USC SAIL: sail.usc.edu/iemocap); or {_OWN_WHERE}", "Table 5",
    ),
    # MOSI/MOSEI transcripts, RAVDESS speech, FER2013 faces and composites: the shipped checkpoint's data
    "demo": DatasetInfo(
        "demo", "regression", (), {"corpus": "manifest.json"},
        "`python -m train.demo.corpus --out data/demo` (docs/demo_corpus.md)",
    ),
}

# `auto` takes the first layout whose file exists, in this order (aligned first: the paper's main setting).
_AUTO_ORDER = ("features", "corpus", "mmsa-aligned", "mult-aligned", "mmsa-unaligned", "mult-unaligned")


# ------------------------------------------------------------------ the torch side


@dataclass
class Sample:
    features: dict[str, np.ndarray]  # m -> [L_m, d_m] (valid frames only)
    label: float | int
    id: str
    teacher_view: bool = True


class MultimodalDataset(Dataset):
    """A torch Dataset over one split, made of one or more `SplitArrays` parts read as one (a corpus's
    sources), optionally only some of their rows. Items are `Sample`s; batch them with `collate`."""

    def __init__(self, parts: SplitArrays | Sequence[SplitArrays], name: str = "", rows: np.ndarray | None = None,
                 every_teacher_view: bool = False):
        self.parts = [parts] if isinstance(parts, SplitArrays) else list(parts)
        self.name = name
        self._offsets = np.cumsum([0, *(len(p) for p in self.parts)])
        self.rows = np.arange(self._offsets[-1]) if rows is None else np.asarray(rows, np.int64)
        self.every_teacher_view = every_teacher_view
        self._teacher_view = (np.ones(len(self.rows), bool) if every_teacher_view
                              else self.column("teacher_view", fill=True).astype(bool))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Sample:
        g = int(self.rows[i])
        k = int(np.searchsorted(self._offsets, g, side="right")) - 1
        a, r = self.parts[k], g - int(self._offsets[k])
        feats = {m: a.features[m][r, : int(a.lengths[m][r])] for m in MODALITIES}
        return Sample(feats, a.labels[r].item(), a.ids[r], bool(self._teacher_view[i]))

    def column(self, name: str, fill: Any = None) -> np.ndarray:
        """[n] a per-sample column in item order ("labels", "ids" or any stored column); parts that lack it
        give `fill` (None: a KeyError naming the column)."""
        cols = []
        for p in self.parts:
            if name in ("labels", "ids"):
                cols.append(np.asarray(getattr(p, name)))
            elif name in p.columns:
                cols.append(p.columns[name])
            elif fill is not None:
                cols.append(np.full(len(p), fill))
            else:
                raise KeyError(f"column {name!r} is not in {self.name or 'this dataset'}; it has "
                               f"{sorted({k for q in self.parts for k in q.columns})}")
        if not cols:
            return np.zeros(0, np.float32 if name == "labels" else object)
        return np.concatenate(cols)[self.rows]

    def where(self, keep: np.ndarray) -> "MultimodalDataset":
        """The items where keep ([n] bool, in item order) is True, as a dataset over the same parts."""
        keep = np.asarray(keep, bool)
        if keep.shape != (len(self),):
            raise ValueError(f"keep has shape {keep.shape}; expected ({len(self)},)")
        return MultimodalDataset(self.parts, self.name, self.rows[keep], self.every_teacher_view)

    @property
    def labels(self) -> np.ndarray:
        return self.column("labels")

    @property
    def ids(self) -> list[str]:
        return [str(i) for i in self.column("ids")]

    @property
    def teacher_view(self) -> np.ndarray:
        """[n] bool: the samples with a complete view for the teacher (all True where no column says otherwise,
        or where the dataset was made with every_teacher_view)."""
        return self._teacher_view

    def modality_subsets(self) -> list[tuple[str, ...]]:
        """The distinct sets of modalities present in the items (each in MODALITIES order), largest first."""
        if not len(self):
            return []
        present = np.stack([np.concatenate([np.asarray(p.lengths[m]) for p in self.parts])[self.rows] > 0
                            for m in MODALITIES], axis=1)
        subsets = {tuple(m for m, on in zip(MODALITIES, row) if on) for row in np.unique(present, axis=0)}
        return sorted(subsets, key=lambda s: (-len(s), [MODALITIES.index(m) for m in s]))

    def with_every_teacher_view(self) -> "MultimodalDataset":
        """The same items, each counting as its own teacher view as recorded, whatever its `teacher_view` column."""
        return MultimodalDataset(self.parts, self.name, self.rows, every_teacher_view=True)


def source_weights(ds: MultimodalDataset, power: float = 0.0) -> np.ndarray | None:
    """[n] per-sample draw weights (summing to 1) for `WeightedRandomSampler`: source s is drawn with a share
    proportional to n_s ** power (0: every `source` equally often; 1: as often as its size, a plain uniform
    draw; 0.5 between the two). None when the dataset has a single source (uniform draws need no weights).
    On the demo corpus, FER2013 (28.7k) and MOSEI (16.3k) would otherwise drown the composites."""
    if not 0.0 <= power <= 1.0:
        raise ValueError(f"source balance power must be in [0, 1], got {power}")
    src = ds.column("source", fill="")
    names, inverse, counts = np.unique(src, return_inverse=True, return_counts=True)
    if len(names) <= 1:
        return None
    share = counts.astype(np.float64) ** power
    share /= share.sum()
    return share[inverse] / counts[inverse]


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
        """Keep at most max_lens (text, audio, vision) frames per modality (0 = keep all); the spec's
        max_len becomes the smaller of its own and the cap, so already shorter data keep their spec."""
        ds = {s: MultimodalDataset([_truncate(p, max_lens) for p in d.parts], d.name, d.rows, d.every_teacher_view)
              for s, d in ((s, self.split(s)) for s in SPLITS)}
        spec = FeatureSpec(**{m: _capped(self.feature_spec[m], t) for m, t in zip(MODALITIES, max_lens)})
        return replace(self, feature_spec=spec, train=ds["train"], valid=ds["valid"], test=ds["test"])

    def with_every_teacher_view(self) -> "DatasetSplits":
        """Every sample of every split as its own teacher view (train.distill --teacher-samples recorded)."""
        return replace(self, **{s: self.split(s).with_every_teacher_view() for s in SPLITS})

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
    view = torch.tensor([s.teacher_view for s in samples], dtype=torch.bool)
    return Batch.from_lengths(feats, lengths, labels=labels, ids=[s.id for s in samples], teacher_view=view)


# ------------------------------------------------------------------ the project's feature folders


def _labelled(folder: FeatureFolder, info: DatasetInfo, stats: dict, prefix: str = "") -> dict[str, SplitArrays]:
    """A feature folder's splits with labels in the dataset's terms: float scores, or class indices mapped by
    name onto info.class_names. Unlabelled samples (NaN score, class -1 or outside the dataset's classes)
    are left out and counted in stats["unlabelled"]; non-finite features become 0."""
    remap = None
    if info.task == "classification":
        names = folder.class_names or info.class_names
        if names != info.class_names:  # e.g. classes in another order, or "excited" listed apart: map by name
            remap = np.array([IEMOCAP_LABELS.get(n.strip().lower(), -1) for n in names], dtype=np.int64)
            if (remap < 0).all():
                raise DataError(f"{folder.root}: none of the class_names {names} is one of {info.class_names}")
    out = {}
    for split, a in folder.splits.items():
        feats, counts = {}, {}
        for m in MODALITIES:
            feats[m], counts[m] = sanitize(a.features[m])
        lengths = {m: np.clip(a.lengths[m], 0, feats[m].shape[1]) for m in MODALITIES}
        if info.task == "regression":
            labels = a.labels.astype(np.float32)
            keep = np.isfinite(labels)
        else:
            labels = a.labels.astype(np.int64)
            if remap is not None:
                labels = np.where((labels >= 0) & (labels < len(remap)), remap[np.clip(labels, 0, len(remap) - 1)], -1)
            keep = (labels >= 0) & (labels < len(info.class_names))
        arrays = SplitArrays(feats, lengths, labels, a.ids, a.columns)
        if not keep.all():
            stats.setdefault("unlabelled", {})[prefix + split] = int((~keep).sum())
            arrays = arrays.select(keep)
        out[split] = arrays
        stats["nonfinite"][prefix + split] = counts
    return out


def _read_features(folder: Path, info: DatasetInfo, stats: dict) -> tuple[dict[str, list[SplitArrays]], FeatureSpec]:
    f = read_folder(folder)
    return {s: [checked(a, f"{folder / s}.npz")] for s, a in _labelled(f, info, stats).items()}, f.spec


def _read_corpus(root: Path, info: DatasetInfo, stats: dict) -> tuple[dict[str, list[SplitArrays]], FeatureSpec]:
    manifest, folders = read_corpus(root)
    parts: dict[str, list[SplitArrays]] = {s: [] for s in SPLITS}
    for source, folder in folders.items():
        for split, a in _labelled(folder, info, stats, prefix=f"{source}/").items():
            if "source" not in a.columns:  # the folder names the source of its samples
                a.columns["source"] = np.full(len(a), source)
            parts[split].append(a)
    for split, ps in parts.items():
        if sum(len(p) for p in ps) == 0:
            raise DataError(f"{root}: no {split} samples in any source; rebuild the corpus")
    stats["sources"] = {s: {src: len(p) for src, p in zip(folders, ps)} for s, ps in parts.items()}
    return parts, FeatureSpec.from_dict(manifest["feature_spec"])


# ------------------------------------------------------------------ entry point


def expected_files(name: str) -> dict[str, str]:
    """layout -> file name, for messages and docs."""
    files = dict(_info(name).files)
    if "features" in files:
        files["features"] = "train.npz, valid.npz, test.npz, feature_spec.json"
    return files


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


def _resolve(info: DatasetInfo, data_dir: Path, layout: str) -> tuple[Path, str]:
    """(the file to read, its layout): a pickle given directly, or the first present layout in data_dir."""
    if data_dir.is_file():  # a pickle given directly
        matches = [lay for lay, f in info.files.items() if f == data_dir.name]
        if layout == "auto":
            if not matches:
                raise DataError(f"cannot tell the layout of {data_dir} from its name; pass --layout "
                                f"(one of {LAYOUTS[1:]})")
            layout = matches[0]
        return data_dir, layout
    if layout == "auto":
        present = [lay for lay in _AUTO_ORDER if lay in info.files and (data_dir / info.files[lay]).exists()]
        if not present:
            raise DataError(_missing_message(info, data_dir, layout))
        layout = present[0]
    if layout not in info.files:
        raise DataError(f"{info.name} is not published in the {layout} layout; use one of {sorted(info.files)}")
    path = data_dir / info.files[layout]
    if not path.exists():
        raise DataError(_missing_message(info, data_dir, layout))
    return path, layout


def load_dataset(
    name: str,
    data_dir: Path | str | None = None,
    layout: str = "auto",
    max_lens: tuple[int, int, int] | None = None,
    allow_empty: bool = True,
) -> DatasetSplits:
    """Read the dataset `name` (a key of DATASETS) from `data_dir` (default `data/<name>/`).

    layout: one of LAYOUTS; "auto" takes the first present of the dataset's layouts in the order features,
    corpus, mmsa-aligned, mult-aligned, mmsa-unaligned, mult-unaligned. `data_dir` may also be a pickle file
    (layout then from its name). max_lens: keep at most this many frames per modality (text, audio,
    vision); 0 or None keeps all. A modality empty for most samples of a split is logged as a warning;
    one empty for every sample of a split raises DataError unless `allow_empty` (see `_say_empty`).
    """
    info = _info(name)
    if layout not in LAYOUTS:
        raise DataError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    path, layout = _resolve(info, Path(data_dir) if data_dir is not None else Path("data") / name, layout)
    stats: dict[str, Any] = {"nonfinite": {}}
    if layout == "features":
        parts, spec = _read_features(path.parent, info, stats)
    elif layout == "corpus":
        parts, spec = _read_corpus(path.parent, info, stats)
    else:
        aligned = layout.endswith("-aligned")
        if layout.startswith("mmsa"):
            arrays = read_mmsa(path, info.name, info.task, aligned, stats)
        else:
            arrays = read_mult(path, info.name, info.class_names, aligned, stats)
        parts, spec = {s: [a] for s, a in arrays.items()}, _spec_from(arrays["train"], layout, path.name)
    for split, ps in parts.items():
        for a in ps:
            for m in MODALITIES:
                if a.features[m].shape[2] != spec[m].dim:
                    raise DataError(f"{split} {m} has {a.features[m].shape[2]} features, the spec says {spec[m].dim}")
    total_bad = sum(v for c in stats["nonfinite"].values() for v in c.values())
    if total_bad:
        log.warning("%s: replaced %d non-finite feature values by 0 (%s)", path, total_bad, stats["nonfinite"])
    stats["empty_modalities"] = {s: {m: int(sum((a.lengths[m] == 0).sum() for a in ps)) for m in MODALITIES}
                                 for s, ps in parts.items()}
    stats["sizes"] = {s: sum(len(a) for a in ps) for s, ps in parts.items()}
    _say_empty(path, stats, allow_empty)
    ds = {s: MultimodalDataset(ps, s) for s, ps in parts.items()}
    splits = DatasetSplits(name=name, task=info.task, class_names=info.class_names, layout=layout, source=path,
                           feature_spec=spec, train=ds["train"], valid=ds["valid"], test=ds["test"], stats=stats)
    return splits.truncated(max_lens) if max_lens else splits


def _say_empty(path: Path, stats: dict[str, Any], allow_empty: bool) -> None:
    """Say out loud when a modality loads empty: a warning when it is empty for over half of a split's samples,
    naming the field its lengths came from; DataError when it is empty for all of them, unless `allow_empty`
    (an all-zero `text_bert` mask row once silently gave every sample an empty text)."""
    source = stats.get("length_source", {})
    for split, counts in stats["empty_modalities"].items():
        n = stats["sizes"][split]
        for m, k in counts.items():
            if not n or 2 * k <= n:
                continue
            msg = (f"{path.name}: {m} is empty for {k}/{n} samples of the {split} split "
                   f"(lengths from {source.get(m, 'the reader of this layout')})")
            if k == n and not allow_empty:
                raise DataError(msg + "; training would go on without it. Check the file, or pass "
                                      "--allow-empty-modality to train on the other modalities.")
            log.warning(msg)


def _spec_from(a: SplitArrays, layout: str, file_name: str) -> FeatureSpec:
    family = layout.split("-")[0]
    lay = "aligned" if layout.endswith("-aligned") else "unaligned"
    return FeatureSpec(**{
        m: ModalitySpec(name=m, dim=int(a.features[m].shape[2]), layout=lay, max_len=int(a.features[m].shape[1]),
                        extractor=f"{family}-pickle", settings={"file": file_name})
        for m in MODALITIES
    })


def _capped(s: ModalitySpec, cap: int) -> ModalitySpec:
    max_len = min(s.max_len, cap) if cap and s.max_len else (cap or s.max_len)
    return ModalitySpec(s.name, s.dim, s.layout, max_len, s.extractor, s.settings)


def _truncate(a: SplitArrays, max_lens: Sequence[int]) -> SplitArrays:
    feats, lengths = {}, {}
    for m, t in zip(MODALITIES, max_lens):
        if t and t < a.features[m].shape[1]:
            feats[m] = a.features[m][:, :t]
            lengths[m] = np.minimum(a.lengths[m], t)
        else:
            feats[m], lengths[m] = a.features[m], a.lengths[m]
    return SplitArrays(feats, lengths, a.labels, a.ids, a.columns)
