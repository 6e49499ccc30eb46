"""Command line: extract features from one clip, or a whole dataset into the project's feature files.

One clip (prints what was found per modality: shape, present or missing and why, time taken):
    python -m train.extract talk.mp4 --transcript "it was great" --json

A dataset (parallel, progress bar, resumable; see docs/features.md for the output format):
    python -m train.extract --clips videos/ --transcripts labels.csv --out data/mine --workers 2

The transcripts CSV (features.transcripts) needs an id column (`id`, or `video_id` + `clip_id` joined
by "_") matching the clip file names without extension, and a `text` column; `label` and
`mode`/`split` are optional. Per-clip results are kept under OUT/parts/, so an interrupted run
continues where it stopped; the feature folder (features.feature_files: OUT/{split}.npz and
OUT/feature_spec.json) is (re)packed at the end.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from aumdf.cli import arg, parse_config
from features.decode import AUDIO_EXTS
from features.feature_files import DataError, SplitArrays, pad, write_folder
from aumdf.progress import bar as progress_bar
from features.spec import MODALITIES, FeatureSpec
from features.transcripts import TranscriptRow, read_transcripts
from features.types import AudioExtras, ClipFeatures, FeatureError, TextExtras, VisionExtras

MEDIA_EXTS = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".flv", ".mpg", ".mpeg", ".m4v",
              ".wav", ".mp3", ".flac", ".m4a")
_EXTRACTORS = "extractors"
_DATASET = "dataset mode"


# ------------------------------------------------------------------ options
@dataclass
class ExtractorOptions:
    """How the extractors are built (ClipExtractor.build); also what the worker processes rebuild them from."""

    layout: Literal["unaligned", "aligned"] = arg("unaligned", "unaligned (each modality its own frames) or aligned "
                                                               "(one frame per word)", group=_EXTRACTORS)
    max_lens: tuple[int, int, int] | None = arg(None, "sequence caps (default 25 150 100 unaligned, 50 50 50 aligned)",
                                                metavar=("TEXT", "AUDIO", "VISION"), group=_EXTRACTORS)
    vectors: str | None = arg(None, "GloVe/word2vec/.kv file (default $AUMDF_WORD_VECTORS, else GloVe 6B 50-d)",
                              group=_EXTRACTORS)
    face_embedder: Literal["fer", "onet", "facenet"] = arg(
        "fer", "fer: this project's FER2013 network; onet: MTCNN's ONet; facenet: needs --face-weights",
        group=_EXTRACTORS)
    face_weights: str | None = arg(None, "weights for fer (dir or .safetensors) or facenet (state dict)",
                                   group=_EXTRACTORS)
    fps: float = arg(5.0, "video frames sampled per second", group=_EXTRACTORS)
    max_side: int = arg(480, "longest side of decoded frames", group=_EXTRACTORS)
    asr: bool = arg(True, "run the speech recogniser when no transcript is given (--no-asr: never)", group=_EXTRACTORS)
    asr_model: str | None = arg(None, "your own faster-whisper model folder (default $AUMDF_ASR_MODEL, else Whisper "
                                      "base)", group=_EXTRACTORS)
    device: str = arg("cpu", "cpu | cuda | cuda:N", group=_EXTRACTORS)


@dataclass
class ExtractConfig(ExtractorOptions):
    clip: str | None = arg(None, "one audio or video file", positional=True)
    transcript: str | None = arg(None, "what is said in the clip (else speech recognition)")
    json: bool = arg(False, "print the per-modality report as JSON")
    clips: str | None = arg(None, "folder of clips (searched recursively)", group=_DATASET)
    transcripts: str | None = arg(None, "CSV with id, text[, label, mode]", group=_DATASET)
    out: str | None = arg(None, "output folder: {split}.npz + feature_spec.json (+ parts/, skipped.json)", group=_DATASET)
    workers: int = arg(min(2, os.cpu_count() or 1), "worker processes", group=_DATASET)
    limit: int = arg(0, "only the first N rows (a trial run)", group=_DATASET)
    id_column: str | None = arg(None, "id column (default id, else video_id + clip_id)", group=_DATASET)
    text_column: str = arg("text", "transcript column", group=_DATASET)
    progress: bool = arg(True, "a progress bar with rate and ETA (never when stderr is not a terminal or $CI is set)",
                         group=_DATASET)

    def options(self) -> ExtractorOptions:
        return ExtractorOptions(**{f.name: getattr(self, f.name) for f in fields(ExtractorOptions)})


def build_extractor(o: ExtractorOptions):
    from features.pipeline import ClipExtractor

    try:
        return ClipExtractor.build(
            vectors=o.vectors, embedder=o.face_embedder, face_weights=o.face_weights, fps=o.fps, device=o.device,
            layout=o.layout, max_lens=o.max_lens, recognise_speech=o.asr, max_side=o.max_side, asr_model=o.asr_model,
        )
    except FeatureError as e:
        if o.face_embedder == "fer" and "face-expression" in str(e):
            raise FeatureError(f"{e} Or use --face-embedder onet, which needs no training.") from e
        raise


# ------------------------------------------------------------------ one clip
def summarize(clip: ClipFeatures) -> dict[str, Any]:
    """JSON-friendly account of one clip: per modality shape, presence, reason, seconds, a few facts."""
    info = clip.info
    out: dict[str, Any] = {"path": info.path, "duration_s": round(clip.duration, 3), "layout": info.layout,
                           "transcript": clip.transcript, "modalities": {}}
    for m, f in clip.items():
        d: dict[str, Any] = {"present": f.present, "shape": list(f.values.shape), "missing_reason": f.missing_reason,
                             "seconds": round(f.seconds, 3)}
        e = f.extras
        if isinstance(e, TextExtras) and e.tokens:
            d.update(tokens=e.tokens, oov=e.oov, oov_count=e.oov_count, timing=e.timing, source=e.source)
        elif isinstance(e, AudioExtras) and e.voiced is not None:
            f0 = e.f0[e.voiced]
            d["voiced_fraction"] = round(float(np.mean(e.voiced)), 3)
            d["median_f0_hz"] = round(float(np.median(f0)), 1) if len(f0) else None
        elif isinstance(e, VisionExtras) and e.n_frames:
            d["sampled_frames"], d["face_fraction"] = int(e.n_frames), round(float(e.face_fraction), 3)
        for k in ("pooled_from", "truncated_from", "alignment"):
            if getattr(e, k) is not None:
                d[k] = getattr(e, k)
        out["modalities"][m] = d
    rec = info.recognition
    if rec is not None:
        out["recognised"] = rec.text
        out["recognition"] = {"language": rec.language, "reason": rec.reason, "model": rec.model}
    out["warnings"] = info.warnings
    out["decode_seconds"] = {a: round(b, 3) for a, b in info.decode_seconds.items()}
    for k in ("recognise_seconds", "align_seconds", "seconds"):
        if getattr(info, k) is not None:
            out[k] = round(getattr(info, k), 3)
    return out


def _print_human(s: dict[str, Any]) -> None:
    print(f"{s['path']}  ({s['duration_s']} s, {s['layout']}, {s.get('seconds', 0):.2f} s in total)")
    for m, d in s["modalities"].items():
        state = f"present {tuple(d['shape'])}" if d["present"] else f"MISSING: {d['missing_reason']}"
        print(f"  {m:<7} {state:<40} {d['seconds']:.2f} s")
    if s.get("recognised") is not None:
        print(f"  recognised: {s['recognised']!r}")
    for w in s.get("warnings") or []:
        print(f"  warning: {w}")


# ------------------------------------------------------------------ dataset
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:150]


_WORKER: dict[str, Any] = {}


def _init_worker(options: dict[str, Any]) -> None:
    import torch

    torch.set_num_threads(1)  # one core per worker process; parallelism comes from the workers
    _WORKER["extractor"] = build_extractor(ExtractorOptions(**options))


def _clip_arrays(clip: ClipFeatures) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for m, f in clip.items():
        arrays[f"{m}_values"] = f.values.astype(np.float32)
        arrays[f"{m}_times"] = f.times.astype(np.float32)
        arrays[f"{m}_missing"] = np.array(f.missing_reason or "")
        arrays[f"{m}_seconds"] = np.array(f.seconds, np.float32)
    arrays["duration"] = np.array(clip.duration, np.float32)
    arrays["text_oov"] = np.array(clip.text.extras.oov, dtype=str)
    arrays["text_tokens"] = np.array(len(clip.text.extras.tokens))
    return arrays


def _extract_one(job: tuple[str, str, str, str]) -> tuple[str, str | None]:
    """(id, clip path, transcript, part path) -> (id, None) on success or (id, why it was skipped)."""
    rid, path, text, part = job
    try:
        clip = _WORKER["extractor"].extract(path, transcript=text or None)
    except FeatureError as e:
        return rid, str(e)
    except Exception as e:  # keep the batch going; the file and the error are reported
        return rid, f"unexpected {e.__class__.__name__}: {e}"
    tmp = part + f".{os.getpid()}.tmp.npz"
    np.savez(tmp, **_clip_arrays(clip))
    os.replace(tmp, part)
    return rid, None


def _index_clips(clips_dir: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in sorted(clips_dir.rglob("*")):
        if p.is_file() and p.suffix.lower() in MEDIA_EXTS:
            # a video beats an audio-only file of the same name (it carries all three modalities)
            if p.stem not in found or found[p.stem].suffix.lower() in AUDIO_EXTS:
                found[p.stem] = p
    return found


def pack(out_dir: Path, rows: list[TranscriptRow], spec: FeatureSpec, class_names: list[str]) -> dict[str, Any]:
    """Write the feature folder (features.feature_files): per split the arrays padded to the spec's max_len,
    lengths, labels, ids and the columns {m}_times, {m}_missing, durations; returns counts and a summary."""
    parts = out_dir / "parts"
    by_split: dict[str, list[tuple[TranscriptRow, dict]]] = {}
    for r in rows:
        p = parts / f"{_safe(r.id)}.npz"
        if p.is_file():
            with np.load(p, allow_pickle=False) as z:
                by_split.setdefault(r.split, []).append((r, {k: z[k] for k in z.files}))
    summary = _summary([a for items in by_split.values() for _, a in items])
    splits = {}
    for split, items in by_split.items():
        feats, lengths, columns = {}, {}, {}
        for m in MODALITIES:
            L = spec[m].max_len
            feats[m], lengths[m] = pad([a[f"{m}_values"] for _, a in items], spec[m].dim, width=L)
            columns[f"{m}_times"] = pad([a[f"{m}_times"] for _, a in items], 2, width=L)[0]
            columns[f"{m}_missing"] = np.array([str(a[f"{m}_missing"]) for _, a in items])
        columns["durations"] = np.array([float(a["duration"]) for _, a in items], np.float32)
        labels = np.array([_label(r.label, class_names) for r, _ in items], np.int64 if class_names else np.float32)
        splits[split] = SplitArrays(feats, lengths, labels, [r.id for r, _ in items], columns)
    write_folder(out_dir, splits, spec, class_names)
    return {"splits": {s: len(a) for s, a in splits.items()}, **summary}


def _label(label: str, class_names: list[str]) -> float | int:
    """A CSV label as the feature file stores it: a class index (-1 unknown) or a score (NaN when absent)."""
    if class_names:
        return class_names.index(label) if label in class_names else -1
    try:
        return float(label)
    except ValueError:
        return float("nan")


def _summary(parts: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """Missing modalities (count and most common reasons) and out-of-vocabulary words over all clips."""
    from collections import Counter

    missing = {}
    for m in MODALITIES:
        reasons = Counter(str(a[f"{m}_missing"]) for a in parts if str(a[f"{m}_missing"]))
        missing[m] = {"count": sum(reasons.values()), "reasons": dict(reasons.most_common(5))}
    oov = Counter(t for a in parts if "text_oov" in a for t in a["text_oov"].tolist())
    tokens = sum(int(a["text_tokens"]) for a in parts if "text_tokens" in a)
    return {"missing": missing,
            "oov": {"words": sum(oov.values()), "of_tokens": tokens, "most_common": dict(oov.most_common(20))}}


def _plan(cfg: ExtractConfig, rows: list[TranscriptRow], found: dict[str, Path], parts: Path
          ) -> tuple[list[tuple[str, str, str, str]], dict[str, str], int]:
    """(jobs still to do, rows skipped with why, rows already extracted)."""
    jobs, skipped, done = [], {}, 0
    for r in rows:
        path, part = found.get(r.id), parts / f"{_safe(r.id)}.npz"
        if path is None:
            skipped[r.id] = "no clip file with this name in --clips"
        elif part.is_file():
            done += 1
        else:
            jobs.append((r.id, str(path), r.text, str(part)))
    return jobs, skipped, done


def _check_resume(out_dir: Path, parts: Path, spec: FeatureSpec) -> None:
    """The spec of this run must match the spec of any parts already on disk (resume safety)."""
    spec_file = parts / "feature_spec.json"
    if spec_file.is_file():
        diff = FeatureSpec.from_dict(json.loads(spec_file.read_text())).diff(spec)
        if diff:
            raise FeatureError(f"{out_dir} holds features made with other settings ({'; '.join(diff)}); "
                               "use another --out, or delete its parts/ folder to start over")
    spec_file.write_text(json.dumps(spec.to_dict(), indent=2))


def _run_jobs(jobs: list[tuple[str, str, str, str]], cfg: ExtractConfig, extractor: Any, skipped: dict[str, str]) -> None:
    bar = progress_bar(len(jobs), "extracting", unit="clip", enabled=cfg.progress)
    if cfg.workers <= 1:
        _WORKER["extractor"] = extractor
        for job in jobs:
            rid, why = _extract_one(job)
            if why:
                skipped[rid] = why
            bar.update(1)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn, not fork: forked torch/OpenMP state can deadlock the workers
        with ProcessPoolExecutor(cfg.workers, mp_context=mp.get_context("spawn"),
                                 initializer=_init_worker, initargs=(asdict(cfg.options()),)) as pool:
            for fut in as_completed([pool.submit(_extract_one, j) for j in jobs]):
                rid, why = fut.result()
                if why:
                    skipped[rid] = why
                bar.update(1)
    bar.close()


def run_dataset(cfg: ExtractConfig) -> int:
    clips_dir, out_dir = Path(cfg.clips), Path(cfg.out)
    if not clips_dir.is_dir():
        raise FeatureError(f"--clips {clips_dir} is not a folder")
    rows = read_transcripts(Path(cfg.transcripts), cfg.id_column, cfg.text_column)
    if cfg.limit:
        rows = rows[: cfg.limit]
    found = _index_clips(clips_dir)
    parts = out_dir / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    extractor = build_extractor(cfg.options())  # also fails early, before any worker starts, on bad options
    spec = extractor.feature_spec()
    _check_resume(out_dir, parts, spec)
    jobs, skipped, done = _plan(cfg, rows, found, parts)
    listed = {r.id for r in rows}
    unlisted = sorted(s for s in found if s not in listed)
    print(f"{len(rows)} rows, {len(found)} clips found, {done} already extracted, {len(jobs)} to do, "
          f"{len(skipped)} without a clip", file=sys.stderr)
    t0 = time.perf_counter()
    if jobs:
        _run_jobs(jobs, cfg, extractor, skipped)
    labels = [r.label for r in rows if r.label]
    class_names = sorted(set(labels)) if labels and any(not _is_number(x) for x in labels) else []
    packed = pack(out_dir, rows, spec, class_names)
    (out_dir / "skipped.json").write_text(json.dumps(skipped, indent=2))
    report = {
        "out": str(out_dir), **packed, "extracted_now": len(jobs) - sum(1 for j in jobs if j[0] in skipped),
        "seconds": round(time.perf_counter() - t0, 1), "skipped": skipped, "clips_not_in_csv": unlisted,
    }
    print(json.dumps(report, indent=2))
    return 0


def _is_number(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


# ------------------------------------------------------------------ entry point
def _check_mode(cfg: ExtractConfig, parser) -> None:
    if cfg.clips or cfg.transcripts or cfg.out:
        missing = [f"--{k}" for k in ("clips", "transcripts", "out") if not getattr(cfg, k)]
        if missing or cfg.clip:
            parser.error("dataset mode needs --clips, --transcripts and --out (and no CLIP argument)"
                         + (f"; missing {', '.join(missing)}" if missing else ""))
    elif not cfg.clip:
        parser.error("give a CLIP file, or --clips/--transcripts/--out for a dataset")


def main(argv: list[str] | None = None) -> int:
    cfg = parse_config(ExtractConfig, argv, check=_check_mode, prog="python -m train.extract",
                       description=__doc__.split("\n")[0], epilog=__doc__)
    try:
        if cfg.clips:
            return run_dataset(cfg)
        extractor = build_extractor(cfg.options())
        clip = extractor.extract(cfg.clip, transcript=cfg.transcript)
        s = summarize(clip)
        if cfg.json:
            s["feature_spec"] = extractor.feature_spec().to_dict()
            print(json.dumps(s, indent=2))
        else:
            _print_human(s)
        return 0
    except (FeatureError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
