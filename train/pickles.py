"""The public pickle layouts researchers already hold: MMSA (`aligned_50.pkl`, `unaligned_50.pkl`) and
MulT (`mosi_data.pkl`, `*_noalign.pkl`, `iemocap_data.pkl`). See docs/training.md ("Data layouts").

Each reader returns one back-padded `SplitArrays` per split. How the lengths are known, per layout:
  * MMSA unaligned: `audio_lengths` / `vision_lengths` as stored; text from the BERT mask row
    `text_bert[:, 1]` when present, else inferred as below.
  * MMSA aligned: one word axis; its length from `text_bert[:, 1]` when present, else inferred.
  * MulT: the files carry no lengths. A frame is padding when its whole feature row is exactly 0;
    the valid span runs from the first to the last non-zero row (all-zero rows inside it stay valid
    frames). The span is moved to the front, which also undoes the front-padding of the public
    aligned files. In aligned files the text's span is used for all three modalities (they share
    the word axis, and an audio/vision row may legitimately be 0 at a valid word).
Non-finite values (the public MOSEI audio holds -inf) are replaced by 0 and counted in `stats`.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from features.feature_files import SPLITS, DataError, SplitArrays
from features.spec import MODALITIES

log = logging.getLogger(__name__)


def sanitize(x: np.ndarray) -> tuple[np.ndarray, int]:
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


def read_mmsa(path: Path, name: str, task: str, aligned: bool, stats: dict) -> dict[str, SplitArrays]:
    """An MMSA pickle (sentiment regression) -> {split: SplitArrays}; non-finite counts go to stats."""
    if task != "regression":
        raise DataError(f"the MMSA layout holds sentiment regression (MOSI/MOSEI); {name} needs the MulT "
                        f"layout or the project's feature files")
    data = _open_pickle(path)
    out = {}
    for split in SPLITS:
        d, where = data[split], f"{path.name}[{split!r}]"
        if "text" not in d and "text_bert" in d:
            raise DataError(f"{where} holds only BERT token ids (`text_bert`), no word-vector `text` features. "
                            "AUMDF consumes per-word feature vectors: use an MMSA pickle that has `text` "
                            "(GloVe or BERT features), a MulT pickle, or extract features with features/")
        _need(d, (*MODALITIES, "regression_labels"), where)
        if not aligned:
            _need(d, ("audio_lengths", "vision_lengths"), where + " (unaligned)")
        feats, counts = {}, {}
        for m in MODALITIES:
            feats[m], counts[m] = sanitize(d[m])
            if feats[m].ndim != 3:
                raise DataError(f"{where}[{m!r}] has shape {feats[m].shape}; expected [N, T, d]")
        n, t_l = feats["text"].shape[:2]
        if "text_bert" in d and np.asarray(d["text_bert"]).shape[-1] == t_l:
            text_len = np.asarray(d["text_bert"])[:, 1].sum(axis=-1).astype(np.int64)
            source = {"text": "`text_bert[:, 1]` (the BERT attention-mask row)"}
        else:
            text_len = infer_span(feats["text"])[1]
            source = {"text": "the non-zero frames of `text`"}
        lengths = {"text": text_len}
        if aligned:
            lengths["audio"] = lengths["vision"] = text_len
            source["audio"] = source["vision"] = source["text"] + " (aligned: one length per sample)"
        else:
            for m in ("audio", "vision"):
                lengths[m] = np.asarray(d[f"{m}_lengths"], dtype=np.int64).reshape(-1)
                source[m] = f"`{m}_lengths`"
        stats["length_source"] = source  # named when a modality loads empty (train.data.load_dataset)
        for m in MODALITIES:
            t = feats[m].shape[1]
            over = int((lengths[m] > t).sum())
            if over:  # MMSA stores pre-truncation lengths for a few long clips
                stats.setdefault("clipped_lengths", {}).setdefault(split, {})[m] = over
            lengths[m] = np.clip(lengths[m], 0, t)
        labels = np.asarray(d["regression_labels"], dtype=np.float32).reshape(-1)
        out[split] = checked(SplitArrays(feats, lengths, labels, _ids(d.get("id"), len(labels))), where)
        stats["nonfinite"][split] = counts
    return out


def read_mult(path: Path, name: str, class_names: tuple[str, ...], aligned: bool, stats: dict) -> dict[str, SplitArrays]:
    """A MulT pickle -> {split: SplitArrays}: one score per sample, or (class_names given) the [N, C, 2]
    one-hot emotions of IEMOCAP, where samples without exactly one positive emotion are left out."""
    data = _open_pickle(path)
    out = {}
    for split in SPLITS:
        d, where = data[split], f"{path.name}[{split!r}]"
        _need(d, (*MODALITIES, "labels"), where)
        feats, counts = {}, {}
        for m in MODALITIES:
            feats[m], counts[m] = sanitize(d[m])
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
        if not class_names:
            if raw.size != n:
                raise DataError(f"{where}['labels'] has shape {raw.shape}; {name} expects one score per "
                                f"sample ([N, 1, 1]). Is this the {name} file?")
            labels = raw.reshape(-1)
        else:
            if raw.shape[1:] != (len(class_names), 2):
                raise DataError(f"{where}['labels'] has shape {raw.shape}; {name} expects "
                                f"[N, {len(class_names)}, 2] (one 2-way one-hot per emotion in the order {class_names})")
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
        out[split] = checked(arr, where)
        stats["nonfinite"][split] = counts
    return out


def checked(a: SplitArrays, where: str) -> SplitArrays:
    if len(a.labels) == 0:
        raise DataError(f"{where} has no samples")
    if a.labels.dtype.kind == "f" and not np.all(np.isfinite(a.labels)):
        raise DataError(f"{where}: {int((~np.isfinite(a.labels)).sum())} labels are not finite")
    return a


