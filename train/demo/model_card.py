"""Write a checkpoint's MODEL_CARD.md from its demo-corpus evaluation and its own metadata.

    python -m train.demo.evaluate --checkpoint checkpoints/default                  # -> checkpoints/default/eval/
    python -m train.demo.model_card --checkpoint checkpoints/default --run runs/demo/default

Reads <checkpoint>/eval/demo_eval.json (train/demo/evaluate.py), the teacher's and student's config.json
(model size, best epoch, the training configuration), and, when present, the training run's metrics.json
and train_config.json (in --run, default the checkpoint folder itself: `train.distill` writes them beside
teacher/ and student/) and the corpus's manifest.json (sample counts). The app's model-card tab shows the
file (`Predictor.card_file` finds it). Nothing in the card is typed by hand: rerun both commands after
retraining.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

from aumdf.checkpoint import CheckpointError, read_checkpoint_config
from aumdf.metrics import sentiment_class
from aumdf.predictor import resolve_checkpoints
from aumdf.cli import arg, command_line, parse_config
from features.feature_files import DataError, read_manifest
from features.spec import MODALITIES
from train.config import TrainConfig
from train.demo.evaluate import grid_table, load_result, sense_lines, source_tables, source_titles
from train.io import read_json
from train.demo.sources import ACTOR_SPLITS, CLASS_NAMES, VALENCE

CARD_NAME = "MODEL_CARD.md"
# Per source: what it is, and its terms of use. RAVDESS's licence is the binding one for the weights.
DATA_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("CMU-MOSI", "transcripts of English YouTube opinion monologues with sentiment scores in [-3, 3]",
     "research use (CMU Multimodal SDK terms)"),
    ("CMU-MOSEI", "transcripts of English YouTube opinion monologues with sentiment scores in [-3, 3]",
     "research use (CMU Multimodal SDK terms)"),
    ("RAVDESS", "acted English speech of 24 actors, two neutral sentences in 8 emotions",
     "CC BY-NC-SA 4.0 (Livingstone & Russo, 2018): non-commercial, share alike"),
    ("FER2013", "48 × 48 grey face photos in 7 expressions (also the training data of the face-expression network)",
     "research use (ICML 2013 representation-learning challenge data)"),
    ("GloVe 6B 50-d", "word vectors for the text features", "Public Domain Dedication and License (PDDL)"),
)
# flags that say nothing about the model (machine, logging, paths of the moment)
_NOT_IN_COMMAND = {"progress", "resume", "name", "device", "num_workers", "seeds"}


def training_command(train_config: dict[str, Any]) -> str:
    """The `python -m train.distill` line that reproduces a saved TrainConfig (flags that differ from the
    defaults; keys this version does not know are left out)."""
    known = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig.from_dict({k: v for k, v in train_config.items() if k in known})
    return command_line(cfg, "python -m train.distill", skip=_NOT_IN_COMMAND)


def _fmt_seconds(s: float) -> str:
    s = float(s)
    return f"{s / 3600:.1f} h" if s >= 5400 else f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"


def _counts_table(manifest: dict[str, Any] | None) -> list[str]:
    if not manifest or "stats" not in manifest:
        return ["(the corpus's manifest.json was not found; sample counts are in docs/demo_corpus.md)", ""]
    lines = ["| source | train | valid | test |", "|---|---:|---:|---:|"]
    for s in manifest.get("sources", []):
        st = manifest["stats"].get(s, {})
        name = "composite (composites)" if s == "composite" else s
        lines.append(f"| {name} | " + " | ".join(str(st.get(sp, {}).get("n", "–")) for sp in ("train", "valid", "test")) + " |")
    return lines + [""]


LIMITS: list[str] = ["## Limits", "",
    "- Trained on acted speech (RAVDESS: two fixed, neutral sentences), posed or in-the-wild face photos "
    "(FER2013: single 48 × 48 frames) and opinion transcripts: real clips where the three co-occur were "
    "never seen. Cross-modal interplay of real speakers is not learnt.",
    "- The MOSI/MOSEI numbers are not comparable with the paper's: 50-d instead of 300-d GloVe, transcripts "
    "cut at 25 words, and the model was trained on the demo corpus, not on MOSI alone with its real audio "
    "and video.",
    "- RAVDESS's sentences carry no sentiment, so for speech the model can only use the voice; FER2013's "
    "sentiment is a fixed mapping of 7 expression labels onto a valence score, not a rating of sentiment.",
    "- English only; speakers, accents, lighting and cameras unlike the training data are not validated.",
    "- A research demo of sentiment from expression, voice and words: not an assessment of a person, and not "
    "for decisions about people. Non-commercial use only (RAVDESS's licence).", ""]


def render_card(res: dict[str, Any], models: dict[str, tuple[Any, Any, dict]], metrics: dict[str, Any] | None,
                train_config: dict[str, Any] | None, manifest: dict[str, Any] | None,
                teacher_run: "TeacherRun | None" = None) -> str:
    """The card as Markdown. models: role -> (AUMDFConfig, FeatureSpec, metadata) from read_checkpoint_config."""
    tc = train_config or models["student"][2].get("train_config") or {}
    out = ["# AUMDF default checkpoint — model card", "",
           "Multimodal sentiment (a score from −3 strongly negative to +3 strongly positive) from words, voice and "
           "face, that keeps working when a modality is missing: a teacher trained without frame loss and a "
           "student distilled from it under random frame and modality loss (AUMDF). The app uses the student; "
           "the teacher is shown beside it.", "",
           "**Licence of the weights: non-commercial use only** (CC BY-NC-SA 4.0, inherited from RAVDESS; "
           "MOSI, MOSEI and FER2013 are research-use data).", ""]
    teacher_tc = (teacher_run.train_config if teacher_run else tc) or {}
    out += _model_section(res, models) + _data_section(res, manifest, _who_learns_what(teacher_tc, tc))
    out += _training_section(tc, metrics, teacher_run)
    out += _evaluation_section(res) + LIMITS
    out.append(f"Generated by `python -m train.demo.model_card` from `{Path(res['checkpoint']).name}/eval/demo_eval.json` "
               f"(evaluation took {_fmt_seconds(res['seconds']['total'])}).")
    return "\n".join(out) + "\n"


def _model_section(res: dict[str, Any], models: dict[str, tuple[Any, Any, dict]]) -> list[str]:
    roles = list(res["models"])
    spec = models["student"][1]
    out = []
    out += ["## Model", "", "| | " + " | ".join(roles) + " |", "|---|" + "---|" * len(roles)]
    out.append("| d_model / heads / MMT layers | " + " | ".join(
        f"{models[r][0].d_model} / {models[r][0].n_heads} / {models[r][0].n_layers}" for r in roles) + " |")
    out.append("| parameters | " + " | ".join(f"{res['models'][r]['parameters']:,}" for r in roles) + " |")
    out.append("| best epoch (validation MAE) | " + " | ".join(str(models[r][2].get("best_epoch", "–")) for r in roles) + " |")
    out += ["", "Features (the app's own extractors; a checkpoint refuses any others): " + "; ".join(
        f"{m} {spec[m].extractor} {spec[m].dim}-d, at most {spec[m].max_len} frames" for m in MODALITIES)
        + ".", ""]
    return out


def _data_section(res: dict[str, Any], manifest: dict[str, Any] | None, who_learns_what: str) -> list[str]:
    out = []
    out += ["## Training data", "",
            "The demo corpus (docs/demo_corpus.md): every modality is real, but no public dataset has real text, audio "
            "and video of the same clip, so each source contributes the modality it really has.", "",
            "| data | what | terms |", "|---|---|---|"]
    out += [f"| {n} | {w} | {t} |" for n, w, t in DATA_SOURCES]
    out += ["", "Samples per split (composites included):", ""] + _counts_table(manifest)
    test_actors = ", ".join(str(a) for a in ACTOR_SPLITS["test"])
    out += [f"Splits: MOSI/MOSEI their standard ones; RAVDESS by actor (actors {test_actors} held out); FER2013 by "
            "usage (PrivateTest held out). The face-expression network was trained on FER2013 Training only.", ""]
    out += ["### Emotion → sentiment score (RAVDESS and FER2013)", "",
            "| emotion | score | class |", "|---|---:|---|"]
    out += [f"| {e} | {v:+.2f} | {CLASS_NAMES[c]} |" for (e, v), c in zip(VALENCE.items(), sentiment_class(list(VALENCE.values())))]
    out += ["", f"Classes are the model's own bins: negative ≤ −{res['neutral_band']}, neutral in between, "
            f"positive ≥ +{res['neutral_band']}. The order follows the valence axis of Russell's circumplex model of "
            "affect; see docs/demo_corpus.md for each choice.", ""]
    out += ["### Composites", "",
            "**Composites** are the only samples with all three modalities: a real MOSI/MOSEI transcript, a real "
            "RAVDESS clip and a real FER2013 face of the same split and the same sentiment class, labelled with the "
            "mean of the three scores. The three parts were never recorded together: composites teach how each "
            "modality relates to sentiment and that agreeing cues reinforce each other, not how real speakers "
            "combine words, voice and face (sarcasm, a smile that contradicts the words). " + who_learns_what, ""]
    return out


def _who_learns_what(teacher_tc: dict[str, Any], student_tc: dict[str, Any]) -> str:
    """Which samples the teacher learnt from (its run's --teacher-samples) and where the student was distilled."""
    teacher = ("The teacher learns from every sample as recorded: composites with all three modalities, each "
               "single-modality sample with the one its source has, without frame drop"
               if teacher_tc.get("teacher_samples") == "recorded" else "The teacher learns from composites only")
    distilled = ("every sample" if student_tc.get("teacher_samples") == "recorded" else "composites")
    return (f"{teacher}; the student from composites and every single-modality sample under frame drop and "
            f"modality absence, with the distillation terms applied to {distilled}.")


def _run_time(tc: dict[str, Any], metrics: dict[str, Any] | None) -> str | None:
    """'23.1 min (8 teacher + 10 student epochs of 3200 samples)' for a run, None if its time is not recorded."""
    if not metrics or "wall_s" not in metrics:
        return None
    teacher_epochs = f"{tc.get('teacher_epochs') or tc.get('epochs')} teacher"
    phases = (f"{tc.get('epochs')} student epochs" if tc.get("teacher")
              else f"{teacher_epochs} epochs" if tc.get("teacher_only")
              else f"{teacher_epochs} + {tc.get('epochs')} student epochs")
    per = f" of {tc['samples_per_epoch']} samples" if tc.get("samples_per_epoch") else ""
    return f"{_fmt_seconds(metrics['wall_s'])} ({phases}{per})"


@dataclass(frozen=True)
class TeacherRun:
    """The run that trained an existing teacher (`--teacher DIR`): DIR's parent folder and what it recorded."""

    folder: Path
    train_config: dict[str, Any] | None
    metrics: dict[str, Any] | None

    @classmethod
    def of(cls, train_config: dict[str, Any] | None) -> "TeacherRun | None":
        if not train_config or not train_config.get("teacher"):
            return None
        folder = Path(train_config["teacher"]).parent
        return cls(folder, read_json(folder / "train_config.json"), read_json(folder / "metrics.json"))

    def lines(self) -> list[str]:
        kept = ("it trained the teacher only" if (self.train_config or {}).get("teacher_only")
                else "its own student was not kept")
        out = [f"The teacher comes from an earlier run (`{self.folder}`; {kept}):", ""]
        if not self.train_config:
            return out + [f"(its train_config.json was not found under {self.folder})", ""]
        t_time = _run_time(self.train_config, self.metrics)
        return out + ["```", training_command(self.train_config), "```", "",
                      f"That run took {t_time}." if t_time else "That run's time was not recorded.", ""]


def _training_section(tc: dict[str, Any], metrics: dict[str, Any] | None,
                      teacher_run: TeacherRun | None = None) -> list[str]:
    """The command(s) that trained the pair; a student distilled from an existing teacher also shows the run
    that trained that teacher (`TeacherRun`)."""
    out = ["## Training", ""]
    if not tc:
        return out + ["(no training configuration recorded)", ""]
    if teacher_run is not None:
        out += teacher_run.lines() + ["The student was then distilled from that teacher:", ""]
    out += ["```", training_command(tc), "```", ""]
    time = _run_time(tc, metrics)
    if time:
        out += [f"Training time: {time}, {tc.get('threads') or 'default'} CPU thread(s) requested.", ""]
    else:
        out += ["Training time: not recorded (no metrics.json beside the checkpoint; pass --run with the training "
                "run's folder).", ""]
    return out


def _evaluation_section(res: dict[str, Any]) -> list[str]:
    out = []
    out += ["## Evaluation on held-out real data (teacher beside student)", "",
            "Each source's test split, with only the modality that source really has (the others are switched off "
            "as in the app). MOSI/MOSEI: the field's regression metrics; RAVDESS/FER2013: accuracy of the "
            "negative/neutral/positive class of the predicted score against the emotion's class.", ""]
    out += [ln.replace("#### ", "### ") for ln in source_tables(res)]
    out += [f"### 7-subset grid on held-out composites (n = {res['composite_grid']['n']})", "",
            "Each subset of {l: text, a: audio, v: vision} given to the model, on composites of the test split. "
            "These are composites, not real multimodal clips: read them as a check of how the model combines "
            "independent cues, not as a benchmark.", ""]
    out += [ln.replace("#### ", "**") + "**" if ln.startswith("#### ") else ln for ln in grid_table(res)]
    out += ["### Sense checks", ""] + sense_lines(res)
    return out


def summary_markdown(res: dict[str, Any]) -> str:
    """A short teacher-beside-student table of every held-out report, for the README (`--summary`)."""
    roles = list(res["models"])
    pct = lambda x: "–" if x is None else f"{100 * x:.2f}"  # noqa: E731
    num = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
    src, paper, titles = res["sources"], res["paper"]["text_only"], source_titles(res["split"])
    rows = []
    for s in ("mosi", "mosei"):
        m = src[s]["metrics"]
        rows.append((f"{titles[s]} (n = {src[s]['n']}): MAE / Corr / F1 non-0 / Acc-2 non-0",
                     [f"{num(m[r]['mae'])} / {num(m[r]['corr'])} / {pct(m[r]['f1_non0'])} / {pct(m[r]['acc2_non0'])}"
                      for r in roles],
                     f"{num(paper[s]['mae'])} / – / {pct(paper[s]['f1'])} / –"))
    for s in ("ravdess", "fer2013"):
        m = src[s]["metrics"]
        rows.append((f"{titles[s]} (n = {src[s]['n']}): 3-class accuracy / macro-F1 "
                     f"(majority {pct(src[s]['baseline']['accuracy'])})",
                     [f"{pct(m[r]['accuracy'])} / {pct(m[r]['macro_f1'])}" for r in roles], "–"))
    g = res["composite_grid"]
    rows.append((f"held-out composites (n = {g['n']}), 7-subset average: MAE / F1 has-0",
                 [f"{num(g['average'][r]['mae'])} / {pct(g['average'][r]['f1_has0'])}" for r in roles], "–"))
    lines = ["| held-out report | " + " | ".join(roles) + " | paper (AUMDF) |", "|---|" + "---|" * (len(roles) + 1)]
    lines += [f"| {n} | " + " | ".join(v) + f" | {p} |" for n, v, p in rows]
    passed = sum(c["passed"] for c in res["sense"]["checks"])
    lines += ["", f"Paper: 300-d GloVe, full MOSI/MOSEI training with real audio and video; ours: 50-d GloVe, the demo "
              f"corpus. Sense checks passed: {passed} of {len(res['sense']['checks'])} (details in the model card)."]
    return "\n".join(lines) + "\n"


def write_model_card(checkpoint: Path | str, eval_path: Path | str | None = None, run: Path | str | None = None,
                     data_dir: Path | str | None = None, out: Path | str | None = None) -> Path:
    """Render <checkpoint>/MODEL_CARD.md (or `out`) from the evaluation JSON and the checkpoints' metadata."""
    checkpoint = Path(checkpoint)
    res = load_result(eval_path or checkpoint / "eval")
    student_dir, teacher_dir = resolve_checkpoints(checkpoint)
    models = {"student": read_checkpoint_config(student_dir)}
    if teacher_dir is not None:
        models = {"teacher": read_checkpoint_config(teacher_dir), **models}
    missing = set(res["models"]) - set(models)
    if missing:
        raise CheckpointError(f"the evaluation covers {sorted(res['models'])} but {checkpoint} has no {sorted(missing)}")
    run = Path(run) if run else checkpoint
    metrics, train_config = read_json(run / "metrics.json"), read_json(run / "train_config.json")
    try:
        manifest = read_manifest(Path(data_dir or res.get("data_dir", "data/demo")))
    except DataError:  # the card then says where the counts are
        manifest = None
    card = render_card(res, models, metrics, train_config, manifest, TeacherRun.of(train_config))
    target = Path(out) if out else checkpoint / CARD_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(card)
    return target


@dataclass
class CardConfig:
    checkpoint: str = arg(help="folder with teacher/ and student/ (e.g. checkpoints/default)")
    eval: str | None = arg(None, "demo_eval.json or its folder (default <checkpoint>/eval/)")
    run: str | None = arg(None, "the training run's folder with metrics.json and train_config.json (default: the "
                                "checkpoint)")
    data_dir: str | None = arg(None, "the demo corpus, for its manifest (default: the evaluation's)")
    out: str | None = arg(None, "default <checkpoint>/MODEL_CARD.md")
    summary: bool = arg(False, "also print a short table for the README")


def main(argv: Sequence[str] | None = None) -> None:
    a = parse_config(CardConfig, argv, prog="python -m train.demo.model_card", description=__doc__.split("\n\n")[0])
    try:
        if a.summary:
            print(summary_markdown(load_result(a.eval or Path(a.checkpoint) / "eval")))
        path = write_model_card(a.checkpoint, a.eval, a.run, a.data_dir, a.out)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
