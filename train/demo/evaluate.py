"""Held-out report of a checkpoint trained on the demo corpus (docs/demo_corpus.md), teacher beside student.

    python -m train.demo.evaluate --checkpoint checkpoints/default [--data-dir data/demo] [--out DIR]

Each real source is scored on its own test split with only the modality it really has (the others are
switched off with `aumdf.rprm.keep_only`, exactly as the app does when a modality is absent):

  source    data                          given to the model   metrics
  mosi      mosi/test.npz (685)           text                 aumdf.metrics.regression_metrics; paper anchor Table 3 {l}
  mosei     mosei/test.npz (4653)         text                 regression_metrics; paper anchor Table 4 {l}
  ravdess   ravdess/test.npz (actors 21-24) audio              sentiment-class accuracy and macro-F1
  fer2013   fer2013/test.npz (PrivateTest)  vision             sentiment-class accuracy and macro-F1

Sentiment classes are the model's own (`aumdf.metrics.sentiment_class`: negative <= -0.5 < neutral <
+0.5 <= positive) applied to the prediction and to the sample's valence score. Beside each score: a
data-only baseline (the train-mean score for MOSI/MOSEI, the train-majority class for RAVDESS/FER2013).

The 7-subset grid (Tables 3-5's layout) is computed on the test samples with a teacher view, the
*composites*: a transcript, a RAVDESS clip and a FER face of one sentiment class joined by the corpus builder. They are the only samples with
all three modalities; they were never recorded together, so the grid measures how the model combines
independent cues, not real speakers' cross-modal behaviour.

Sense checks, on held-out data only: the mean predicted score per emotion of the RAVDESS test clips
(audio only) and the FER PrivateTest faces (vision only), with happy > angry and happy > sad; and a few
review sentences written for this check (not dataset transcripts) run through the app's own text path
(`ClipExtractor.extract_arrays(transcript=...)` -> `aumdf.inputs.batch_from_features` -> model).

Output (default <checkpoint>/eval/): demo_eval.json and demo_eval.md. `python -m train.demo.model_card`
turns them into the checkpoint's MODEL_CARD.md.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from aumdf import metrics as M
from aumdf.checkpoint import CheckpointError, LoadedCheckpoint, load_checkpoint
from aumdf.inputs import batch_from_features
from aumdf.metrics import NEUTRAL_BAND, sentiment_class
from aumdf.predictor import resolve_checkpoints
from aumdf.rprm import SUBSETS, keep_only, subset_name
from aumdf.cli import arg, parse_config
from aumdf.progress import bar as progress_bar
from features.types import FeatureError
from train.data import DatasetSplits, MultimodalDataset, collate, load_dataset
from train.engine import predict, resolve_device
from train.io import write_json
from train.demo.sources import ACTOR_SPLITS, CLASS_NAMES, FER_SPLITS

FORMAT = "aumdf-demo-eval/1"
JSON_NAME, MD_NAME = "demo_eval.json", "demo_eval.md"
# which modality each natural source really has: the only one the model is given
SOURCE_MODALITIES: dict[str, tuple[str, ...]] = {
    "mosi": ("text",), "mosei": ("text",), "ravdess": ("audio",), "fer2013": ("vision",),
}
REGRESSION_SOURCES = ("mosi", "mosei")
CLASS_SOURCES = ("ravdess", "fer2013")
# The paper's AUMDF row for text only (SPEC §6). Its features: 300-d GloVe, trained on full MOSI / MOSEI
# with all three real modalities; it does not say whether its binary F1 is has-0 or non-0.
PAPER_TEXT_ONLY: dict[str, dict[str, Any]] = {
    "mosi": {"table": "Table 3", "subset": "{l}", "mae": 0.762, "f1": 0.8131},
    "mosei": {"table": "Table 4", "subset": "{l}", "mae": 0.742, "f1": 0.7276},
}
PAPER_NOTE = ("The paper used 300-d GloVe word vectors and trained on the full MOSI (MOSEI) training set with "
              "real text, audio and video of the same clips; this checkpoint uses the app's 50-d GloVe (6B), "
              "at most 25 words, and is trained on the demo corpus. The paper does not say whether its binary "
              "F1 is has-0 or non-0, so both are shown.")
# Written for this check, not taken from any dataset: unambiguous review sentences.
SENSE_SENTENCES: dict[str, tuple[str, ...]] = {
    "negative": (
        "This was the worst movie I have ever seen, a boring and painful waste of time.",
        "The acting was terrible and the story made no sense at all.",
        "I hated it and I regret paying for it.",
    ),
    "positive": (
        "This was a wonderful movie, beautiful and moving from start to finish.",
        "The acting was excellent and I loved every minute of it.",
        "A great film that I would happily recommend to everyone.",
    ),
}
SENSE_EMOTIONS = ("happy", "surprised", "neutral", "calm", "fearful", "sad", "disgust", "angry")


# ------------------------------------------------------------------ loading


def load_pair(path: Path | str) -> dict[str, LoadedCheckpoint]:
    """DIR with teacher/ and student/ (or a single checkpoint folder) -> {"teacher"?, "student"}."""
    student_dir, teacher_dir = resolve_checkpoints(path)
    out = {}
    if teacher_dir is not None:
        out["teacher"] = load_checkpoint(teacher_dir, map_location="cpu")
    out["student"] = load_checkpoint(student_dir, map_location="cpu")
    for role, ck in out.items():
        if ck.config.task != "regression":
            raise CheckpointError(f"the {role} at {ck.path} is a {ck.config.task} model; the demo corpus is "
                                  "scored as sentiment regression")
    return out


def _check_spec(models: dict[str, LoadedCheckpoint], corpus: DatasetSplits) -> None:
    for role, ck in models.items():
        diff = ck.feature_spec.diff(corpus.feature_spec)
        if diff:
            raise CheckpointError(f"the {role} at {ck.path} was trained on other features than the corpus at "
                                  f"{corpus.source.parent}:\n  " + "\n  ".join(diff) + "\nRebuild the corpus with "
                                  "the checkpoint's extractors (python -m train.demo.corpus) or evaluate a matching one.")


def of_source(ds: MultimodalDataset, source: str) -> MultimodalDataset:
    """The samples of one source (a filter on the `source` column)."""
    return ds.where(ds.column("source") == source)


# ------------------------------------------------------------------ scoring


def predict_subset(model, ds, subset: Sequence[str], device: torch.device, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, collate_fn=collate)
    return predict(model, loader, device, transform=lambda b, i: keep_only(b, subset))


def class_report(pred_scores: np.ndarray, true_scores: np.ndarray) -> dict[str, float]:
    """Sentiment-class accuracy and macro-F1 of predicted vs labelled scores, plus MAE and Corr of the scores."""
    p, t = sentiment_class(pred_scores), sentiment_class(true_scores)
    cm = M.classification_metrics(p, t, CLASS_NAMES)
    return {"accuracy": cm["accuracy"], "macro_f1": cm["macro_f1"],
            **{f"f1_{c}": cm[f"f1_{c}"] for c in CLASS_NAMES},
            "mae": M.mae(pred_scores, true_scores), "corr": M.corr(pred_scores, true_scores)}


def majority_baseline(train_scores: np.ndarray, test_scores: np.ndarray) -> dict[str, Any]:
    """Always predict the train split's most frequent class."""
    counts = np.bincount(sentiment_class(train_scores), minlength=len(CLASS_NAMES))
    k = int(counts.argmax())
    t = sentiment_class(test_scores)
    cm = M.classification_metrics(np.full(len(t), k), t, CLASS_NAMES)
    return {"predictor": f"train majority ({CLASS_NAMES[k]})", "accuracy": cm["accuracy"], "macro_f1": cm["macro_f1"]}


def mean_by(values: np.ndarray, groups: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean and count of `values` per group name, in SENSE_EMOTIONS order (others after)."""
    names = [e for e in SENSE_EMOTIONS if e in set(groups)] + sorted(set(groups) - set(SENSE_EMOTIONS))
    return {g: {"n": int((groups == g).sum()), "mean_score": float(values[groups == g].mean())} for g in names}


def _mean_of(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}


def text_extractor(spec, vectors: str | None = None):
    """The app's clip extractor rebuilt from the checkpoint's spec (only its text part is used here): sentences
    must reach the model exactly as they do in the app, so the text spec must match."""
    from features.pipeline import ClipExtractor

    return ClipExtractor.from_spec(spec, vectors=vectors, check=("text",))


@torch.inference_mode()
def score_sentences(models: dict[str, LoadedCheckpoint], extractor, sentences: dict[str, Sequence[str]],
                    device: torch.device) -> list[dict[str, Any]]:
    """Each sentence, text only, through the app's path -> [{"text", "expected", role: score, ...}]."""
    spec = next(iter(models.values())).feature_spec
    nets = {role: ck.model.to(device).eval() for role, ck in models.items()}  # once, not per sentence
    rows = []
    for expected, texts in sentences.items():
        for text in texts:
            clip = extractor.extract_arrays(transcript=text)
            if not clip.text.present:
                raise ValueError(f"sense-check sentence {text!r} gave no text features ({clip.text.missing_reason})")
            batch = batch_from_features(clip, spec, device=device, pad=False)
            row = {"text": text, "expected": expected, "words": int(clip.text.values.shape[0])}
            for role, net in nets.items():
                row[role] = float(net(batch).prediction.float().cpu().reshape(-1)[0])
            rows.append(row)
    return rows


def _sense_checks(res: dict[str, Any], roles: Sequence[str]) -> list[dict[str, Any]]:
    """The issue's plain checks as pass/fail lines (on held-out data)."""
    out = []
    for source, what in (("ravdess", "speech"), ("fer2013", "face")):
        for role in roles:
            by = res["sense"][f"{source}_by_emotion"][role]
            for other in ("angry", "sad"):
                if "happy" in by and other in by:
                    h, o = by["happy"]["mean_score"], by[other]["mean_score"]
                    out.append({"check": f"happy {what} scores above {other} {what} ({source} {res['split']}, {role})",
                                "passed": bool(h > o), "detail": f"{h:+.3f} vs {o:+.3f}"})
    for role in roles:
        for expected, sign in (("negative", -1), ("positive", +1)):
            vals = [r[role] for r in res["sense"]["sentences"] if r["expected"] == expected]
            if vals:
                ok = all(sign * v > 0 for v in vals)
                out.append({"check": f"every clearly {expected} review sentence scores {'below' if sign < 0 else 'above'} "
                                     f"zero ({role})", "passed": bool(ok),
                            "detail": ", ".join(f"{v:+.3f}" for v in vals)})
    return out


# ------------------------------------------------------------------ the report


def _source_entry(models: dict[str, LoadedCheckpoint], corpus: DatasetSplits, source: str, split: str,
                  dev: torch.device, batch_size: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One natural source scored with only its own modality -> (entry, mean score per emotion or None)."""
    subset = SOURCE_MODALITIES[source]
    test, train_labels = of_source(corpus.split(split), source), of_source(corpus.train, source).labels
    if len(test) == 0:
        raise ValueError(f"the corpus at {corpus.source.parent} has no {split} samples of {source}; rebuild it")
    entry: dict[str, Any] = {"modalities": list(subset), "n": len(test), "metrics": {}}
    preds = {r: predict_subset(ck.model, test, subset, dev, batch_size)[0] for r, ck in models.items()}
    labels = np.asarray(test.labels, np.float64)
    if source in REGRESSION_SOURCES:
        entry["metrics"] = {r: M.regression_metrics(p, labels) for r, p in preds.items()}
        entry["baseline"] = {"predictor": "train mean",
                             **M.regression_metrics(np.full(len(labels), float(np.mean(train_labels))), labels)}
        return entry, None
    entry["metrics"] = {r: class_report(p, labels) for r, p in preds.items()}
    entry["baseline"] = majority_baseline(np.asarray(train_labels), labels)
    entry["class_counts"] = {c: int(n) for c, n in zip(CLASS_NAMES, np.bincount(sentiment_class(labels), minlength=3))}
    emotions = np.array([str(e) for e in test.column("emotion")])
    return entry, {r: mean_by(p, emotions) for r, p in preds.items()}


def _composite_grid(models: dict[str, LoadedCheckpoint], corpus: DatasetSplits, split: str, dev: torch.device,
                    batch_size: int) -> dict[str, Any]:
    """The 7 test-time subsets on the held-out samples that have all three modalities (the composites)."""
    ds = corpus.split(split)
    comp = ds.where(ds.teacher_view)
    if len(comp) == 0:
        raise ValueError(f"the corpus at {corpus.source.parent} has no {split} composites; rebuild it")
    labels = np.asarray(comp.labels, np.float64)
    grid: dict[str, Any] = {"n": len(comp), "subsets": {}, "average": {}}
    for r, ck in models.items():
        rows = {subset_name(s): M.regression_metrics(predict_subset(ck.model, comp, s, dev, batch_size)[0], labels)
                for s in SUBSETS}
        grid["subsets"][r], grid["average"][r] = rows, _mean_of(list(rows.values()))
    return grid


def evaluate_demo(
    checkpoint: Path | str,
    data_dir: Path | str = "data/demo",
    out: Path | str | None = None,
    split: str = "test",
    batch_size: int = 256,
    device: str = "cpu",
    extractor: Any | None = None,
    vectors: str | None = None,
    sentences: dict[str, Sequence[str]] = SENSE_SENTENCES,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Score teacher and student on the corpus's held-out data; write demo_eval.json/.md to `out`
    (default <checkpoint>/eval/). `extractor`: a ClipExtractor for the sentences (default: the app's
    text extractor, `text_extractor(spec, vectors)`). `show_progress`: a bar over the stages (one per
    source, the composite grid, the sentences)."""
    t0 = time.perf_counter()
    dev = resolve_device(device)
    models = load_pair(checkpoint)
    roles = list(models)
    corpus = load_dataset("demo", data_dir)
    _check_spec(models, corpus)
    res: dict[str, Any] = {
        "format": FORMAT, "checkpoint": str(checkpoint), "data_dir": str(data_dir), "split": split,
        "models": {r: {"path": str(ck.path), "d_model": ck.config.d_model,
                       "parameters": sum(p.numel() for p in ck.model.parameters()),
                       "best_epoch": ck.metadata.get("best_epoch")} for r, ck in models.items()},
        "neutral_band": NEUTRAL_BAND, "class_names": list(CLASS_NAMES),
        "paper": {"text_only": PAPER_TEXT_ONLY, "note": PAPER_NOTE},
        "sources": {}, "sense": {}, "seconds": {},
    }
    stages = progress_bar(len(SOURCE_MODALITIES) + 2, "evaluating", unit="stage", enabled=show_progress)
    for source in SOURCE_MODALITIES:  # natural sources, each with its own modality only
        t = time.perf_counter()
        res["sources"][source], by_emotion = _source_entry(models, corpus, source, split, dev, batch_size)
        if by_emotion is not None:
            res["sense"][f"{source}_by_emotion"] = by_emotion
        res["seconds"][source] = round(time.perf_counter() - t, 2)
        stages.update(1)
    t = time.perf_counter()
    res["composite_grid"] = _composite_grid(models, corpus, split, dev, batch_size)
    res["seconds"]["composite_grid"] = round(time.perf_counter() - t, 2)
    stages.update(1)
    t = time.perf_counter()  # sentences through the app's text path
    student_spec = models["student"].feature_spec
    ex = extractor if extractor is not None else text_extractor(student_spec, vectors)
    diff = student_spec.text.diff(ex.feature_spec().text)
    if diff:
        raise CheckpointError("the extractor's text features differ from the checkpoint's:\n  " + "\n  ".join(diff))
    res["sense"]["sentences"] = score_sentences(models, ex, sentences, dev)
    res["sense"]["checks"] = _sense_checks(res, roles)
    res["seconds"]["sentences"] = round(time.perf_counter() - t, 2)
    stages.update(1)
    stages.close()
    res["seconds"]["total"] = round(time.perf_counter() - t0, 2)
    out = Path(out) if out else Path(checkpoint) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / JSON_NAME, res)
    (out / MD_NAME).write_text(render_markdown(res))
    res["written"] = [str(out / JSON_NAME), str(out / MD_NAME)]
    return res


# ------------------------------------------------------------------ Markdown


def _f(x: Any, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return f"{100 * x:.2f}" if pct else f"{x:.3f}"


REG_COLS = (("MAE", "mae", False), ("Corr", "corr", False), ("Acc-2 has-0", "acc2_has0", True),
            ("F1 has-0", "f1_has0", True), ("Acc-2 non-0", "acc2_non0", True), ("F1 non-0", "f1_non0", True),
            ("Acc-7", "acc7", True))
CLASS_COLS = (("Acc (3 classes)", "accuracy", True), ("macro-F1", "macro_f1", True),
              ("F1 neg", "f1_negative", True), ("F1 neu", "f1_neutral", True), ("F1 pos", "f1_positive", True),
              ("MAE", "mae", False), ("Corr", "corr", False))


def _table(rows: list[tuple[str, dict]], cols) -> list[str]:
    head = "| " + " | ".join(["", *(c[0] for c in cols)]) + " |"
    sep = "|---|" + "---:|" * len(cols)
    return [head, sep, *("| " + " | ".join([name, *(_f(m.get(k), pct) for _, k, pct in cols)]) + " |"
                         for name, m in rows)]


def split_names(split: str) -> dict[str, str]:
    """source -> what its `split` is called: "MOSI test", "RAVDESS actors 21–24", "FER2013 PrivateTest"."""
    actors = ACTOR_SPLITS[split]
    usage = next(u for u, s in FER_SPLITS.items() if s == split)
    return {"mosi": f"MOSI {split}", "mosei": f"MOSEI {split}",
            "ravdess": f"RAVDESS actors {actors[0]}–{actors[-1]}" if len(actors) > 1 else f"RAVDESS actor {actors[0]}",
            "fer2013": f"FER2013 {usage}"}


def source_titles(split: str) -> dict[str, str]:
    """source -> its split and the modality it is scored on: "MOSI test, text only"."""
    names = split_names(split)
    return {s: f"{names[s]}, {' + '.join(m)} only" for s, m in SOURCE_MODALITIES.items()}


def source_tables(res: dict[str, Any]) -> list[str]:
    """Markdown lines: one table per real source (teacher, student, baseline rows)."""
    roles, lines, titles = list(res["models"]), [], source_titles(res["split"])
    for source, entry in res["sources"].items():
        title = titles.get(source, source) + ("" if source in REGRESSION_SOURCES else ": sentiment class")
        lines += [f"#### {title} (n = {entry['n']})", ""]
        cols = REG_COLS if source in REGRESSION_SOURCES else CLASS_COLS
        rows = [(r, entry["metrics"][r]) for r in roles]
        rows.append((f"baseline: {entry['baseline']['predictor']}", entry["baseline"]))
        if source in res["paper"]["text_only"]:
            p = res["paper"]["text_only"][source]
            rows.append((f"paper AUMDF, {p['table']} {p['subset']} (F1 variant unstated)",
                         {"mae": p["mae"], "f1_has0": p["f1"], "f1_non0": p["f1"]}))
        lines += _table(rows, cols)
        if "class_counts" in entry:
            lines += ["", f"Classes ({res['split']} split): " + ", ".join(f"{c} {n}" for c, n in entry["class_counts"].items())]
        lines.append("")
    lines += [f"Paper anchors: {res['paper']['note']}", ""]
    return lines


def grid_table(res: dict[str, Any]) -> list[str]:
    g, lines = res["composite_grid"], []
    cols = tuple(c for c in REG_COLS if c[1] not in ("acc2_non0", "f1_non0"))
    for r in res["models"]:
        lines += [f"#### {r}", ""]
        rows = [(s, m) for s, m in g["subsets"][r].items()] + [("Average", g["average"][r])]
        lines += _table(rows, cols) + [""]
    return lines


def sense_lines(res: dict[str, Any]) -> list[str]:
    roles, s, lines, names = list(res["models"]), res["sense"], [], split_names(res["split"])
    for key, title in (("ravdess_by_emotion", f"{names['ravdess']} clips, audio only"),
                       ("fer2013_by_emotion", f"{names['fer2013']} faces, vision only")):
        by = s[key]
        emos = list(by[roles[0]])
        lines += [f"Mean predicted score by emotion — {title}:", "",
                  "| emotion | n | " + " | ".join(roles) + " |", "|---|---:|" + "---:|" * len(roles)]
        lines += [f"| {e} | {by[roles[0]][e]['n']} | " + " | ".join(f"{by[r][e]['mean_score']:+.3f}" for r in roles) + " |"
                  for e in emos]
        lines.append("")
    lines += ["Review sentences written for this check (not dataset transcripts), text only, through the app's "
              "text extractor:", "", "| expected | sentence | " + " | ".join(roles) + " |",
              "|---|---|" + "---:|" * len(roles)]
    lines += [f"| {r['expected']} | {r['text']} | " + " | ".join(f"{r[x]:+.3f}" for x in roles) + " |"
              for r in s["sentences"]]
    lines += ["", "| check | result | scores |", "|---|---|---|"]
    lines += [f"| {c['check']} | {'pass' if c['passed'] else '**fail**'} | {c['detail']} |" for c in s["checks"]]
    return lines + [""]


def render_markdown(res: dict[str, Any]) -> str:
    roles = " and ".join(res["models"])
    out = [f"# Demo-corpus evaluation — {res['checkpoint']} ({roles}), {res['split']} split", "",
           "### Real held-out data, each source with only its own modality", ""]
    out += source_tables(res)
    out += [f"### 7-subset grid on held-out composites (n = {res['composite_grid']['n']})", "",
            "Composites join a real transcript, a real RAVDESS clip and a real FER face of the same sentiment class; "
            "the three were never recorded together.", ""]
    out += grid_table(res)
    out += ["### Sense checks (held-out data)", ""] + sense_lines(res)
    out.append("Seconds: " + ", ".join(f"{k} {v}" for k, v in res["seconds"].items()))
    return "\n".join(out) + "\n"


def load_result(path: Path | str) -> dict[str, Any]:
    """Read demo_eval.json (a file, or the folder holding it)."""
    p = Path(path)
    p = p / JSON_NAME if p.is_dir() else p
    if not p.is_file():
        raise FileNotFoundError(f"{p} does not exist: run `python -m train.demo.evaluate --checkpoint DIR` first")
    res = json.loads(p.read_text())
    if res.get("format") != FORMAT:
        raise ValueError(f"{p} is not a demo-corpus evaluation ({FORMAT}); got format {res.get('format')!r}")
    return res


# ------------------------------------------------------------------ command line


@dataclass
class DemoEvalConfig:
    checkpoint: str = arg(help="a folder with teacher/ and student/ (or one checkpoint folder)")
    data_dir: str = arg("data/demo", "the built demo corpus (python -m train.demo.corpus)")
    out: str | None = arg(None, "output folder (default <checkpoint>/eval/)")
    split: str = arg("test", "the split scored", choices=("valid", "test"))
    batch_size: int = arg(256, "samples per batch")
    device: str = arg("cpu", "auto | cpu | cuda | cuda:N")
    vectors: str | None = arg(None, "word vectors of the checkpoint (default $AUMDF_WORD_VECTORS, else GloVe 6B 50-d)")
    threads: int = arg(0, "torch.set_num_threads; 0 keeps the default")
    progress: bool = arg(True, "a progress bar over the stages (never when stderr is not a terminal or $CI is set)")


def main(argv: Sequence[str] | None = None) -> None:
    a = parse_config(DemoEvalConfig, argv, prog="python -m train.demo.evaluate", description=__doc__.split("\n\n")[0])
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        res = evaluate_demo(a.checkpoint, a.data_dir, a.out, a.split, a.batch_size, a.device, vectors=a.vectors,
                            show_progress=a.progress)
    except (ValueError, CheckpointError, FeatureError, FileNotFoundError) as e:  # DataError is a ValueError
        raise SystemExit(f"error: {e}")
    for c in res["sense"]["checks"]:
        print(f"{'pass' if c['passed'] else 'FAIL'}  {c['check']}: {c['detail']}")
    print(f"done in {res['seconds']['total']:.1f}s; wrote " + ", ".join(res["written"]))


if __name__ == "__main__":
    main()
