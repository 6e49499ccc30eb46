"""Command line: extract features from one clip, or a whole dataset into the project's feature files.

One clip (prints what was found per modality: shape, present or missing and why, time taken):
    python -m features.extract talk.mp4 --transcript "it was great" --json

A dataset (parallel, progress bar, resumable; see docs/features.md for the output format):
    python -m features.extract --clips videos/ --transcripts labels.csv --out data/mine --workers 2

The transcripts CSV needs an id column (`id`, or `video_id` + `clip_id` joined by "_") matching the
clip file names without extension, and a `text` column; `label` and `mode`/`split` are optional.
Per-clip results are kept under OUT/parts/, so an interrupted run continues where it stopped; the
split files OUT/{split}.npz and OUT/feature_spec.json are (re)packed at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from features.spec import MODALITIES, FeatureSpec
from features.types import AudioExtras, ClipFeatures, FeatureError, TextExtras, VisionExtras

MEDIA_EXTS = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".flv", ".mpg", ".mpeg", ".m4v",
              ".wav", ".mp3", ".flac", ".m4a")
SPLIT_NAMES = {"train": "train", "valid": "valid", "val": "valid", "dev": "valid", "validation": "valid", "test": "test"}


# ------------------------------------------------------------------ options
def add_extractor_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("extractors")
    g.add_argument("--layout", choices=["unaligned", "aligned"], default="unaligned")
    g.add_argument("--max-lens", type=int, nargs=3, metavar=("TEXT", "AUDIO", "VISION"), default=None,
                   help="sequence caps (default 25 150 100 unaligned, 50 50 50 aligned)")
    g.add_argument("--vectors", default=None,
                   help="GloVe/word2vec/.kv file (default $AUMDF_WORD_VECTORS, else GloVe 6B 50-d)")
    g.add_argument("--face-embedder", choices=["fer", "onet", "facenet"], default="fer",
                   help="fer: this project's FER2013 network (default); onet: MTCNN's ONet; facenet: needs --face-weights")
    g.add_argument("--face-weights", default=None, help="weights for fer (dir or .safetensors) or facenet (state dict)")
    g.add_argument("--fps", type=float, default=5.0, help="video frames sampled per second (default 5)")
    g.add_argument("--max-side", type=int, default=480, help="longest side of decoded frames (default 480)")
    g.add_argument("--no-asr", action="store_true", help="never run the speech recogniser")
    g.add_argument("--device", default="cpu")


def build_extractor(args: argparse.Namespace):
    from features.pipeline import ClipExtractor

    try:
        return ClipExtractor.build(
            vectors=args.vectors, embedder=args.face_embedder, face_weights=args.face_weights, fps=args.fps,
            device=args.device, layout=args.layout, max_lens=args.max_lens, recognise_speech=not args.no_asr,
            max_side=args.max_side,
        )
    except FeatureError as e:
        if args.face_embedder == "fer" and "face-expression" in str(e):
            raise FeatureError(f"{e} Or use --face-embedder onet, which needs no training.") from e
        raise


def _options(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("layout", "max_lens", "vectors", "face_embedder", "face_weights", "fps", "max_side", "no_asr", "device")
    return {k: getattr(args, k) for k in keys}


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


def read_transcripts(path: Path, id_column: str | None = None, text_column: str = "text") -> list[dict[str, str]]:
    """Rows {id, text, label, split} from a CSV (see the module docstring for the columns)."""
    try:
        with open(path, newline="", encoding="utf8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise FeatureError(f"cannot read the transcripts CSV {path}: {e}") from e
    if not rows:
        raise FeatureError(f"{path} has no rows")
    cols = set(rows[0])
    if id_column is None:
        if "id" in cols:
            id_column = "id"
        elif {"video_id", "clip_id"} <= cols:
            id_column = "video_id+clip_id"
        else:
            raise FeatureError(f"{path}: no id column (expected 'id', or 'video_id' and 'clip_id'); columns: {sorted(cols)}")
    if text_column not in cols:
        raise FeatureError(f"{path}: no {text_column!r} column; columns: {sorted(cols)}")
    out = []
    for r in rows:
        rid = f"{r['video_id']}_{r['clip_id']}" if id_column == "video_id+clip_id" else r[id_column]
        split = (r.get("mode") or r.get("split") or "").strip().lower()
        out.append({"id": rid.strip(), "text": r[text_column] or "", "label": (r.get("label") or "").strip(),
                    "split": SPLIT_NAMES.get(split, split or "all")})
    return out


_WORKER: dict[str, Any] = {}


def _init_worker(options: dict[str, Any]) -> None:
    import torch

    torch.set_num_threads(1)  # one core per worker process; parallelism comes from the workers
    _WORKER["extractor"] = build_extractor(argparse.Namespace(**options))


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
    from features.types import FeatureError as FE

    rid, path, text, part = job
    try:
        clip = _WORKER["extractor"].extract(path, transcript=text or None)
    except FE as e:
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
            if p.stem not in found or found[p.stem].suffix.lower() in (".wav", ".mp3", ".flac", ".m4a"):
                found[p.stem] = p
    return found


def pack(out_dir: Path, rows: list[dict[str, str]], spec: FeatureSpec, class_names: list[str]) -> dict[str, int]:
    """Write OUT/{split}.npz (back-padded arrays, lengths, times, reasons, labels, ids) + feature_spec.json."""
    parts = out_dir / "parts"
    by_split: dict[str, list[tuple[dict, dict]]] = {}
    for r in rows:
        p = parts / f"{_safe(r['id'])}.npz"
        if p.is_file():
            with np.load(p, allow_pickle=False) as z:
                by_split.setdefault(r["split"], []).append((r, {k: z[k] for k in z.files}))
    counts: dict[str, Any] = {}
    summary = _summary([a for items in by_split.values() for _, a in items])
    for split, items in by_split.items():
        n = len(items)
        arrays: dict[str, np.ndarray] = {}
        for m in MODALITIES:
            L, d = spec[m].max_len, spec[m].dim
            vals = np.zeros((n, L, d), np.float32)
            times = np.zeros((n, L, 2), np.float32)
            lengths = np.zeros(n, np.int64)
            for i, (_, a) in enumerate(items):
                v = a[f"{m}_values"][:L]
                vals[i, : len(v)], times[i, : len(v)], lengths[i] = v, a[f"{m}_times"][:L], len(v)
            arrays[m], arrays[f"{m}_times"], arrays[f"{m}_lengths"] = vals, times, lengths
            arrays[f"{m}_missing"] = np.array([str(a[f"{m}_missing"]) for _, a in items])
        labels = []
        for r, _ in items:
            lab = r["label"]
            if class_names:
                labels.append(class_names.index(lab) if lab in class_names else -1)
            else:
                try:
                    labels.append(float(lab))
                except ValueError:
                    labels.append(float("nan"))
        arrays["labels"] = np.array(labels, np.int64 if class_names else np.float32)
        arrays["ids"] = np.array([r["id"] for r, _ in items])
        arrays["durations"] = np.array([float(a["duration"]) for _, a in items], np.float32)
        tmp = out_dir / f".{split}.tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, out_dir / f"{split}.npz")
        counts[split] = n
    meta = spec.to_dict()
    if class_names:
        meta["class_names"] = class_names
    (out_dir / "feature_spec.json").write_text(json.dumps(meta, indent=2))
    return {"splits": counts, **summary}


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


def run_dataset(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    clips_dir, out_dir = Path(args.clips), Path(args.out)
    if not clips_dir.is_dir():
        raise FeatureError(f"--clips {clips_dir} is not a folder")
    rows = read_transcripts(Path(args.transcripts), args.id_column, args.text_column)
    if args.limit:
        rows = rows[: args.limit]
    found = _index_clips(clips_dir)
    skipped: dict[str, str] = {}
    jobs = []
    parts = out_dir / "parts"
    parts.mkdir(parents=True, exist_ok=True)

    # the spec of this run must match the spec of any parts already on disk (resume safety)
    extractor = build_extractor(args)  # also fails early, before any worker starts, on bad options
    spec = extractor.feature_spec()
    spec_file = parts / "feature_spec.json"
    if spec_file.is_file():
        old = FeatureSpec.from_dict(json.loads(spec_file.read_text()))
        diff = old.diff(spec)
        if diff:
            raise FeatureError(f"{out_dir} holds features made with other settings ({'; '.join(diff)}); "
                               "use another --out, or delete its parts/ folder to start over")
    spec_file.write_text(json.dumps(spec.to_dict(), indent=2))

    done = 0
    for r in rows:
        path = found.get(r["id"])
        part = parts / f"{_safe(r['id'])}.npz"
        if path is None:
            skipped[r["id"]] = "no clip file with this name in --clips"
        elif part.is_file():
            done += 1
        else:
            jobs.append((r["id"], str(path), r["text"], str(part)))
    listed = {r["id"] for r in rows}
    unlisted = sorted(s for s in found if s not in listed)
    print(f"{len(rows)} rows, {len(found)} clips found, {done} already extracted, {len(jobs)} to do, "
          f"{len(skipped)} without a clip", file=sys.stderr)

    t0 = time.perf_counter()
    if jobs:
        bar = tqdm(total=len(jobs), desc="extracting", unit="clip", file=sys.stderr)
        if args.workers <= 1:
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
            with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"),
                                     initializer=_init_worker, initargs=(_options(args),)) as pool:
                futures = [pool.submit(_extract_one, j) for j in jobs]
                for fut in as_completed(futures):
                    rid, why = fut.result()
                    if why:
                        skipped[rid] = why
                    bar.update(1)
        bar.close()
    labels = [r["label"] for r in rows if r["label"]]
    class_names = []
    if labels and any(not _is_number(x) for x in labels):
        class_names = sorted(set(labels))
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
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m features.extract", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("clip", nargs="?", help="one audio or video file")
    p.add_argument("--transcript", default=None, help="what is said in the clip (else speech recognition)")
    p.add_argument("--json", action="store_true", help="print the per-modality report as JSON")
    g = p.add_argument_group("dataset mode")
    g.add_argument("--clips", help="folder of clips (searched recursively)")
    g.add_argument("--transcripts", help="CSV with id, text[, label, mode]")
    g.add_argument("--out", help="output folder: {split}.npz + feature_spec.json (+ parts/, skipped.json)")
    g.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    g.add_argument("--limit", type=int, default=0, help="only the first N rows (a trial run)")
    g.add_argument("--id-column", default=None)
    g.add_argument("--text-column", default="text")
    add_extractor_args(p)
    args = p.parse_args(argv)
    try:
        if args.clips or args.transcripts or args.out:
            missing = [f"--{k}" for k in ("clips", "transcripts", "out") if not getattr(args, k)]
            if missing or args.clip:
                p.error("dataset mode needs --clips, --transcripts and --out (and no CLIP argument)"
                        + (f"; missing {', '.join(missing)}" if missing else ""))
            return run_dataset(args)
        if not args.clip:
            p.error("give a CLIP file, or --clips/--transcripts/--out for a dataset")
        extractor = build_extractor(args)
        clip = extractor.extract(args.clip, transcript=args.transcript)
        s = summarize(clip)
        if args.json:
            s["feature_spec"] = extractor.feature_spec().to_dict()
            print(json.dumps(s, indent=2))
        else:
            _print_human(s)
        return 0
    except FeatureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
