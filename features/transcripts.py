"""The transcripts CSV: one row per clip with its id, what is said, and optionally a label and a split.

    id,text,label,mode                         (CMU-MOSI's label.csv)
    video_id,clip_id,text,label,mode           (CMU-MOSEI's label.csv: the id is video_id + "_" + clip_id)

The one reader of this format: `train.extract` (dataset mode) and the demo-corpus builder use it.
The split column is `mode` or `split`; dev/val/validation mean valid; without one the split is "all".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from features.feature_files import DataError

SPLIT_NAMES: dict[str, str] = {"train": "train", "valid": "valid", "val": "valid", "dev": "valid",
                               "validation": "valid", "test": "test"}


@dataclass(frozen=True)
class TranscriptRow:
    id: str
    text: str
    label: str  # as written ('' when the CSV has no label); the caller parses it
    split: str  # train | valid | test, another value as written, or "all" when the CSV has no split column


def read_transcripts(path: Path | str, id_column: str | None = None, text_column: str = "text") -> list[TranscriptRow]:
    """Every row of a transcripts CSV. id_column None: `id`, else `video_id` and `clip_id` joined by "_"."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise DataError(f"cannot read the transcripts CSV {path}: {e}") from e
    if not rows:
        raise DataError(f"{path} has no rows")
    cols = set(rows[0])
    if id_column is None:
        if "id" in cols:
            id_column = "id"
        elif {"video_id", "clip_id"} <= cols:
            id_column = "video_id+clip_id"
        else:
            raise DataError(f"{path}: no id column (expected 'id', or 'video_id' and 'clip_id'); columns: {sorted(cols)}")
    elif id_column not in cols:
        raise DataError(f"{path}: no {id_column!r} column; columns: {sorted(cols)}")
    if text_column not in cols:
        raise DataError(f"{path}: no {text_column!r} column; columns: {sorted(cols)}")
    out = []
    for r in rows:
        rid = f"{r['video_id']}_{r['clip_id']}" if id_column == "video_id+clip_id" else r[id_column]
        split = (r.get("mode") or r.get("split") or "").strip().lower()
        out.append(TranscriptRow(rid.strip(), r[text_column] or "", (r.get("label") or "").strip(),
                                 SPLIT_NAMES.get(split, split or "all")))
    return out
