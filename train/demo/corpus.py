"""The demo corpus: real MOSI/MOSEI transcripts, RAVDESS speech and FER2013 faces turned into model
inputs with the project's own extractors, for the shipped default checkpoint.

    python -m train.demo.corpus --data-dir ../shared/data --out data/demo
    python -m train.distill --dataset demo --data-dir data/demo ...      # an ordinary dataset from then on

No dataset with real text, audio and video of the same clip can be obtained here (CMU-MOSI's audio
and video are not public in raw form). What is real is each modality on its own:

  source     modalities it really has        label (sentiment score on -3..+3)   split
  mosi       text (transcript)               the dataset's own score             its `mode` column
  mosei      text (transcript)               the dataset's own score             its `mode` column
  ravdess    audio + its spoken sentence     VALENCE[emotion]                    by actor (ACTOR_SPLITS)
  fer2013    vision (one face, one frame)    VALENCE[emotion]                    by `usage` (FER_SPLITS)
  composite  text + audio + vision           mean of the three parts' scores     the parts' common split

A *composite* joins a transcript, a RAVDESS clip and a FER face of the same split and the same
sentiment class (negative / neutral / positive, `aumdf.metrics.sentiment_class`). It is the only
complete sample, so it is what the teacher learns from (and the only place a teacher view exists for
distillation); the student learns from composites plus the naturally incomplete samples. Because the
class regions are intervals, the mean of three same-class scores has that class too. Optionally
(`--mixed-composites`) a share of the training composites draws the text's and the face's class
independently, and (`--speech-views`) training clips gain augmented renderings (train/demo/speech_views.py).

Output: a corpus in the project's feature-file format (`features.feature_files`): one feature folder
per source, `<out>/<source>/{train,valid,test}.npz` + `feature_spec.json`, and `<out>/manifest.json`
(the sources in order, the spec, counts, class balance, skipped items with reasons, valence table,
timings). A source per folder keeps the padded arrays small: a text-only MOSEI file has audio and vision
arrays with 0 frames instead of 16k zero-filled audio tracks. Each split carries, beside the standard
arrays, the per-sample columns `source`, `teacher_view` (all modalities present), `emotion` ('' for
transcripts), `parts` [n, 3] (ids of the text, audio and face used, '' where absent) and `{m}_missing`.
`train.data.load_dataset("demo", <out>)` reads it like any other dataset: the teacher's samples are the
`teacher_view` column, a source is a filter on the `source` column.

The feature specification is exactly what the app's `features.pipeline.ClipExtractor` returns for
the default settings (unaligned), and every array is computed by those same extractors
(train/demo/extraction.py), so a model trained here is accepted by the app. See docs/demo_corpus.md.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

import numpy as np

from aumdf.metrics import NEUTRAL_BAND, sentiment_class
from aumdf.cli import arg, parse_config
from features.feature_files import SPLITS, DataError, SplitArrays, pad, write_folder, write_manifest
from features.spec import MODALITIES, FeatureSpec
from train.demo.extraction import (
    app_extractor, check_unaligned, extract_ravdess, extract_transcript, face_sequence_embeddings, progress_bar,
    view_id,
)
from train.demo.sources import (
    ACTOR_SPLITS, CLASS_NAMES, FER_EMOTIONS, FER_SPLITS, VALENCE, default_data_dir, find_ravdess, read_fer2013,
    read_text_labels,
)

SOURCES: tuple[str, ...] = ("mosi", "mosei", "ravdess", "fer2013", "composite")
NATURAL_SOURCES: tuple[str, ...] = SOURCES[:-1]
FORMAT = "aumdf-demo-corpus/1"


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
        return int(sentiment_class([self.label])[0])


def _subsample(idx: Sequence[int], limit: int | None, rng: np.random.Generator) -> list[int]:
    """At most `limit` of `idx` (a seeded random subset in the original order), all when limit is None."""
    idx = list(idx)
    if limit is None or len(idx) <= limit:
        return idx
    keep = set(rng.choice(len(idx), size=limit, replace=False).tolist())
    return [x for i, x in enumerate(idx) if i in keep]


def only(spec: FeatureSpec, **present: np.ndarray) -> dict[str, np.ndarray]:
    """Feature dict with the given modalities and 0-frame arrays for the rest."""
    return {m: np.asarray(present[m], np.float32) if m in present else np.zeros((0, spec[m].dim), np.float32)
            for m in MODALITIES}


# ----------------------------------------------------------------------------- composites


def draw_composites(
    audio_classes: Sequence[int], text_classes: Sequence[int], face_classes: Sequence[int],
    per_clip: int, rng: np.random.Generator, mixed: float = 0.0,
) -> tuple[list[tuple[int, int, int]], dict[int, int]]:
    """Index triples (text, audio, face) that share a sentiment class; audio is the scarce part.

    Every audio clip is used `per_clip` times; texts and faces of its class are taken in a seeded
    random order without replacement, reshuffled only when the class pool is exhausted, so the
    composites spread over as many different transcripts and faces as there are. Clips whose class
    has no text or no face are skipped; returns (triples, {class: clips skipped}).

    mixed: the share of triples whose text class and face class are each drawn uniformly from the
    classes that have texts (faces), independently of the clip's: the parts then disagree, and a
    label that is their mean can only be predicted from all three (0 draws nothing extra from rng).
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
            ct, cf = c, c
            if mixed and rng.random() < mixed:
                ct, cf = (int(rng.choice(sorted(it))) for it in (t_iter, f_iter))
            triples.append((next(t_iter[ct]), a, next(f_iter[cf])))
    return triples, dict(skipped)


def make_composites(texts: Sequence[Item], audios: Sequence[Item], faces: Sequence[Item], split: str,
                    per_clip: int, rng: np.random.Generator, mixed: float = 0.0,
                    renderings: Mapping[str, Sequence[Item]] | None = None) -> tuple[list[Item], dict[int, int]]:
    """Composite items of one split: text of a transcript, audio of a RAVDESS clip, vision of a FER face.

    mixed: share of composites whose parts' classes are drawn independently (`draw_composites`).
    renderings: {clip id: [the clip's item, its augmented views...]}; the k-th composite of a clip takes
    rendering k mod their number, so the views reach the teacher without adding composites.
    """
    for name, items in (("text", texts), ("audio", audios), ("vision", faces)):
        wrong = [i.id for i in items if i.split != split]
        if wrong:
            raise ValueError(f"composites of {split}: {name} items from another split, e.g. {wrong[0]}")
    triples, skipped = draw_composites(
        sentiment_class([a.label for a in audios]), sentiment_class([t.label for t in texts]), sentiment_class([f.label for f in faces]),
        per_clip, rng, mixed,
    )
    out, uses = [], Counter()
    for k, (ti, ai, fi) in enumerate(triples):
        t, a, f = texts[ti], audios[ai], faces[fi]
        views = (renderings or {}).get(a.id) or [a]
        uses[a.id] += 1
        a = views[(uses[a.id] - 1) % len(views)]
        label = float(np.mean([t.label, a.label, f.label]))
        out.append(Item(
            source="composite", split=split, id=f"composite:{split}:{k:05d}", label=label,
            emotion=f"{a.emotion}/{f.emotion}",
            feats={"text": t.feats["text"], "audio": a.feats["audio"], "vision": f.feats["vision"]},
            parts=(t.id, a.id, f.id),
        ))
    return out, skipped


# ----------------------------------------------------------------------------- packing


def pack(items: Sequence[Item], spec: FeatureSpec) -> SplitArrays:
    """Items -> one split of a feature folder: back-padded [n, T_m, d_m] arrays, lengths, labels, ids and
    the per-sample columns (source, teacher_view, emotion, parts, {m}_missing).

    T_m is the longest sequence of the modality in these items (0 when no item has it). The extractor
    has already shortened every sequence to the spec's max_len; a longer one means the corpus left the
    app's code path, so it is refused rather than cut here.
    """
    n = len(items)
    feats, lengths, columns = {}, {}, {}
    for m in MODALITIES:
        d, cap = spec[m].dim, spec[m].max_len
        seqs = [np.asarray(it.feats.get(m, np.zeros((0, d))), np.float32).reshape(-1, d) for it in items]
        for it, x in zip(items, seqs):
            if cap > 0 and len(x) > cap:
                raise ValueError(f"{it.id}: {m} has {len(x)} frames, the spec allows {cap}")
        feats[m], lengths[m] = pad(seqs, d)
        # the same per-modality reason column train.extract writes ('' when present)
        columns[f"{m}_missing"] = np.array([f"{it.source} has no {m}" if L == 0 else "" for it, L in zip(items, lengths[m])],
                                           dtype=str)
    columns["source"] = np.array([it.source for it in items], dtype=str)
    columns["teacher_view"] = np.all([lengths[m] > 0 for m in MODALITIES], axis=0) if n else np.zeros(0, bool)
    columns["emotion"] = np.array([it.emotion for it in items], dtype=str)
    columns["parts"] = np.array([list(it.parts) for it in items], dtype=str).reshape(n, 3)
    return SplitArrays(feats, lengths, np.array([it.label for it in items], np.float32), [it.id for it in items],
                       columns)


def write_source(out_dir: Path, source: str, splits: Mapping[str, Sequence[Item]], spec: FeatureSpec) -> dict:
    """Write <out_dir>/<source>/ as a feature folder; returns per-split statistics."""
    arrays = {split: pack(list(splits.get(split, ())), spec) for split in SPLITS}
    write_folder(out_dir / source, arrays, spec, compressed=True)
    stats = {}
    for split, a in arrays.items():
        n = len(a)
        cls = Counter(sentiment_class(a.labels).tolist()) if n else Counter()
        stats[split] = {
            "n": n,
            "classes": {CLASS_NAMES[c]: int(cls.get(c, 0)) for c in range(3)},
            "frames_max": {m: int(a.features[m].shape[1]) for m in MODALITIES},
            "frames_mean": {m: round(float(a.lengths[m].mean()) if n else 0.0, 2) for m in MODALITIES},
            "teacher_view": int(a.columns["teacher_view"].sum()),
        }
        if n and source != "composite":
            stats[split]["emotions"] = dict(sorted(Counter(e for e in a.columns["emotion"].tolist() if e).items()))
    return stats


# ----------------------------------------------------------------------------- the build


@dataclass(frozen=True)
class BuildConfig:
    data_dir: Path | None = arg(None, "folder holding mosi/, mosei/, ravdess/, fer2013.npz (default: "
                                      "$AUMDF_SHARED/data, else ../shared/data beside the project)")
    out: Path = arg(Path("data/demo"), "output folder")
    seed: int = arg(0, "seed of the subsets and of the composite draws")
    composites_per_clip: int = arg(3, "composites made from each RAVDESS clip (each with another transcript and face)")
    limit: int | None = arg(None, "at most N items per natural source and split (smoke runs; default: everything)")
    workers: int = arg(1, "processes for the RAVDESS audio features")
    cache: bool = arg(True, "reuse the speech features and face embeddings cached under <out>/cache (--no-cache "
                            "recomputes them)")
    face_weights: Path | None = arg(None, "face-expression checkpoint (default: the shipped checkpoints/face_expression/)")
    vectors: str | None = arg(None, "word-vector file (default: the app's GloVe 6B 50-d; must match what the app "
                                    "will use)")
    audio_features: Literal["covarep", "whisper"] = arg("covarep", "RAVDESS audio as the 74-d COVAREP-style frames "
                                                        "or as Whisper base encoder states (features.whisper_audio)")
    speech_views: int = arg(0, "augmented renderings added per training RAVDESS clip (train.demo.speech_views: new "
                                "silence around the speech, room, channel, level, noise); valid and test stay as recorded")
    mixed_composites: float = arg(0.0, "share of training composites whose text and face classes are drawn "
                                       "independently of the clip's (valid and test composites always agree)")
    face_frames: int = arg(1, "frames per FER2013 face: the still plus jittered views of it "
                              "(train.demo.face_sequence), pooled by the model like the app's tracked crops")
    quiet: bool = arg(False, "no progress bars")


class _Skipped:
    """Items left out, counted per source by the head of their reason (its tail, e.g. levels in dBFS, varies)."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter] = {s: Counter() for s in NATURAL_SOURCES}
        self.examples: dict[str, list[str]] = {s: [] for s in NATURAL_SOURCES}

    def __call__(self, source: str, item_id: str, reason: str) -> None:
        self.counts[source][": ".join(reason.split(": ")[:2])] += 1
        if len(self.examples[source]) < 5:
            self.examples[source].append(f"{item_id}: {reason}")


def _text_items(ex: Any, spec: FeatureSpec, source: str, rows: Sequence[Any], cfg: BuildConfig,
                rng: np.random.Generator, skip: _Skipped) -> dict[str, list[Item]]:
    """MOSI / MOSEI transcripts, each a text-only input, per split."""
    out: dict[str, list[Item]] = {sp: [] for sp in SPLITS}
    for split in SPLITS:
        chosen = _subsample([i for i, r in enumerate(rows) if r.split == split], cfg.limit, rng)
        for i in progress_bar(chosen, len(chosen), f"{source} {split} text", not cfg.quiet):
            r = rows[i]
            values, reason = extract_transcript(ex, r.text)
            if values is None:
                skip(source, r.id, reason)
                continue
            out[split].append(Item(source, split, r.id, r.label, "", only(spec, text=values)))
    return out


def _speech_items(ex: Any, spec: FeatureSpec, clips: Sequence[Any], cfg: BuildConfig, rng: np.random.Generator,
                  skip: _Skipped) -> tuple[dict[str, list[Item]], dict[str, list[Item]], float]:
    """RAVDESS: each clip with the sentence it speaks, as an audio file with its transcript, and
    `cfg.speech_views` augmented views of each training clip -> (items per split, {clip id: [its item,
    its views]}, CPU s). The views are items of the train split too (ids `<clip id>~view<k>`)."""
    chosen = []
    for split in SPLITS:
        idx = [i for i, c in enumerate(clips) if c.split == split]
        chosen += [clips[i] for i in _subsample(idx, cfg.limit, rng)]
    worker_args = (None if cfg.face_weights is None else str(cfg.face_weights), cfg.vectors)
    views = {c.id: cfg.speech_views for c in chosen if c.split == "train"}
    speech, missing, seconds = extract_ravdess(chosen, ex, Path(cfg.out) / "cache" if cfg.cache else None,
                                               cfg.workers, worker_args, not cfg.quiet, views, cfg.seed)
    out: dict[str, list[Item]] = {sp: [] for sp in SPLITS}
    renderings: dict[str, list[Item]] = {}
    for c in chosen:
        for k in range(1 + views.get(c.id, 0)):
            rid = view_id(c.id, k)
            if rid in missing:
                skip("ravdess", rid, missing[rid])
                continue
            text, audio = speech[rid]
            item = Item("ravdess", c.split, rid, VALENCE[c.emotion], c.emotion, only(spec, text=text, audio=audio))
            out[c.split].append(item)
            if c.id not in missing:
                renderings.setdefault(c.id, []).append(item)
    return out, renderings, seconds


def _face_items(ex: Any, spec: FeatureSpec, fer: Any, cfg: BuildConfig, rng: np.random.Generator
                ) -> dict[str, list[Item]]:
    """FER2013 faces, each `cfg.face_frames` frames (the still, then jittered views), embedded like crops
    from a video. The views have their own seeded generator: subsets and composites do not move."""
    splits = fer.splits
    idx = sorted(i for split in SPLITS for i in _subsample(np.flatnonzero(splits == split).tolist(), cfg.limit, rng))
    n = cfg.face_frames
    emb = face_sequence_embeddings(fer.images[idx], n, (cfg.seed, 13), spec, ex.vision.embed,
                                   Path(cfg.out) / "cache" if cfg.cache else None, progress=not cfg.quiet)
    if len(idx) and emb.shape[1] != spec.vision.dim:
        raise DataError(f"face embeddings have {emb.shape[1]} features, the vision spec says {spec.vision.dim}")
    out: dict[str, list[Item]] = {sp: [] for sp in SPLITS}
    for j, i in enumerate(idx):
        emo, split = FER_EMOTIONS[int(fer.labels[i])], str(splits[i])
        out[split].append(Item("fer2013", split, str(fer.ids[i]), VALENCE[emo], emo,
                               only(spec, vision=emb[j * n : (j + 1) * n])))
    return out


def _check(cfg: BuildConfig, data_dir: Path) -> None:
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist; pass --data-dir (the folder holding "
                        "mosi/, mosei/, ravdess/ and fer2013.npz) or set AUMDF_SHARED")
    if cfg.composites_per_clip < 1:
        raise DataError(f"composites_per_clip must be >= 1, got {cfg.composites_per_clip}")
    if cfg.limit is not None and cfg.limit < 1:
        raise DataError(f"limit must be >= 1, got {cfg.limit}")
    if cfg.speech_views < 0:
        raise DataError(f"speech_views must be >= 0, got {cfg.speech_views}")
    if not 0.0 <= cfg.mixed_composites <= 1.0:
        raise DataError(f"mixed_composites must be in [0, 1], got {cfg.mixed_composites}")
    if cfg.face_frames < 1:
        raise DataError(f"face_frames must be >= 1, got {cfg.face_frames}")


def build(cfg: BuildConfig, extractor: Any = None) -> dict[str, Any]:
    """Build the whole corpus; returns the manifest (also written to <out>/manifest.json).

    extractor: a `features.pipeline.ClipExtractor` (default: the app's, built from cfg.face_weights / cfg.vectors).
    """
    import torch

    torch.set_num_threads(1)  # the machine is shared; extraction is one light process by default
    t_all = time.perf_counter()
    data_dir, out = Path(cfg.data_dir or default_data_dir()), Path(cfg.out)
    _check(cfg, data_dir)
    rng, skip, timings = np.random.default_rng(cfg.seed), _Skipped(), {}
    # read every source first, so a missing or malformed one fails before minutes of extraction
    t0 = time.perf_counter()
    text_rows = {s: read_text_labels(data_dir, s) for s in ("mosi", "mosei")}
    clips = find_ravdess(data_dir)
    fer = read_fer2013(data_dir / "fer2013.npz")
    timings["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ex = extractor if extractor is not None else app_extractor(cfg.face_weights, cfg.vectors, cfg.audio_features)
    spec = ex.feature_spec()
    check_unaligned(spec)
    timings["load_extractors"] = time.perf_counter() - t0
    items: dict[str, dict[str, list[Item]]] = {}
    t0 = time.perf_counter()
    for source, rows in text_rows.items():
        items[source] = _text_items(ex, spec, source, rows, cfg, rng, skip)
    timings["text"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    items["ravdess"], renderings, timings["audio_extractor_cpu"] = _speech_items(ex, spec, clips, cfg, rng, skip)
    timings["audio"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    items["fer2013"] = _face_items(ex, spec, fer, cfg, rng)
    timings["vision"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    items["composite"], comp_skipped = {}, {}
    for split in SPLITS:  # per split, from that split's parts only
        clean = [i for i in items["ravdess"][split] if i.id in renderings]  # one item per clip, not per view
        comp, sk = make_composites(items["mosi"][split] + items["mosei"][split], clean, items["fer2013"][split],
                                   split, cfg.composites_per_clip, rng,
                                   cfg.mixed_composites if split == "train" else 0.0, renderings)
        items["composite"][split] = comp
        if sk:
            comp_skipped[split] = {CLASS_NAMES[c]: n for c, n in sk.items()}
    timings["composites"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    stats = {s: write_source(out, s, items[s], spec) for s in SOURCES}
    timings["write"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    return write_manifest(out, SOURCES, spec, **_manifest_info(cfg, stats, skip, comp_skipped, timings))


def _manifest_info(cfg: BuildConfig, stats: dict, skip: _Skipped, comp_skipped: dict, timings: dict) -> dict:
    """What manifest.json records beside the sources and the spec."""
    return {
        "format": FORMAT,
        "layout": "one feature folder per source (features.feature_files), listed under sources",
        "teacher_sources": ["composite"],
        "student_sources": list(SOURCES),
        "valence": VALENCE,
        "neutral_band": float(NEUTRAL_BAND),
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
            "mixed_share_train": cfg.mixed_composites,
            "text_sources": ["mosi", "mosei"],
            "skipped_clips_without_partner": comp_skipped,
        },
        "seed": cfg.seed,
        "speech_views_per_train_clip": cfg.speech_views,
        "limit": cfg.limit,
        "stats": stats,
        "skipped": {s: dict(c) for s, c in skip.counts.items() if c},
        "skipped_examples": {s: e for s, e in skip.examples.items() if e},
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "workers": cfg.workers,
        "cpu": _cpu_name(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


# ----------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_config(BuildConfig, argv, prog="python -m train.demo.corpus",
                       description="Build the demo corpus (MOSI/MOSEI text, RAVDESS audio, FER2013 faces, and "
                                   "composites) with the project's extractors. See docs/demo_corpus.md.")
    from features.types import FeatureError

    logging.getLogger("gensim").setLevel(logging.WARNING)  # its INFO lines about memory-mapping say nothing here
    try:
        manifest = build(cfg)
    except (DataError, FeatureError) as e:
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
