"""Inference on one clip: extract once, then re-run only the model for each choice of inputs.

`Predictor` loads the student and (when present) the teacher checkpoint, builds the extractors from
the checkpoint's feature spec (`ClipExtractor.from_spec`) and refuses them unless they produce
exactly the features the checkpoint was trained on. `extract` turns a clip into `ClipFeatures`
(slow: decoding, speech recognition, face detection); `predict` runs the model on those cached
features with some modalities switched off and a fraction of frames dropped (RPRM, paper §3.3) and
returns a `Prediction`: the score, its labels, the DWAM gates (§3.6, eq. 17-18), the MMT attention
maps (§3.7-3.8) with their time axes, why each modality did or did not take part, and the exact
Shapley contribution of each modality (aumdf/shapley.py) — all from one forward pass over the 8
modality subsets. The demo (app.py) and the CLI (aumdf/cli.py, `python -m aumdf.predict`) both stand
on this class.

Dimension legend: l - MMT layers, h - heads, t_m - frames of the query modality, s - key frames
(the other two modalities' frames, concatenated in `Prediction.key_modalities[m]` order)
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

import numpy as np
import torch

from aumdf.checkpoint import CheckpointError, FeatureMismatchError, LoadedCheckpoint, load_checkpoint
from aumdf.inputs import batch_from_features, frames_used
from aumdf.metrics import sentiment_class
from aumdf.rprm import drop_frames
from aumdf.shapley import ALL_SUBSETS, Contributions, contributions, subset_batch, subset_row
from aumdf.types import MODALITIES
from features.types import ClipFeatures, FeatureError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "default"
# how the shipped default is made; printed whenever it is missing
TRAIN_COMMAND = ("python -m train.demo_corpus --out data/demo && "
                 "python -m train.distill --dataset demo --data-dir data/demo --out checkpoints/default")
MODEL_CARD = "MODEL_CARD.md"  # beside student/ and teacher/: train/model_card.py writes it
MAX_SECONDS = 60.0  # clips longer than this are refused (the demo's length limit)
BRIEF = ("score", "label", "bin7", "bin7_label", "probabilities")  # the second model's fields beside a result
MAX_BYTES = 200 * 1024 * 1024  # files larger than this are refused before decoding
# roughly how far extraction has come when the extractor starts each stage (speech recognition runs
# beside the face pipeline, so the stages overlap; the fractions only move a progress bar)
STAGE_DONE = {"decoding audio": 0.05, "recognising speech": 0.1, "faces": 0.15, "voice": 0.7, "words": 0.85}

Which = Literal["student", "teacher"]
State = Literal["present", "switched off", "dropped", "missing"]
ALIASES = {"text": "text", "language": "text", "l": "text", "audio": "audio", "acoustic": "audio", "a": "audio",
           "vision": "vision", "visual": "vision", "video": "vision", "v": "vision"}
SENTIMENT_LABELS = ("negative", "neutral", "positive")  # sentiment_class 0, 1, 2
BIN7_LABELS = {-3: "strongly negative", -2: "negative", -1: "weakly negative", 0: "neutral",
               1: "weakly positive", 2: "positive", 3: "strongly positive"}


class InputError(FeatureError):
    """The clip or the request cannot be analysed (too long, too big, nothing usable, bad option)."""


def parse_modalities(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """"text,audio,visual" (or a list; aliases l/a/v, visual, language...) -> names in MODALITIES order."""
    if spec is None:
        return MODALITIES
    items = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    items = [s for s in items if s]
    unknown = [s for s in items if s not in ALIASES]
    if unknown:
        raise InputError(f"unknown modalities {unknown}: choose from text, audio, visual")
    chosen = {ALIASES[s] for s in items}
    return tuple(m for m in MODALITIES if m in chosen)


def sentiment_label(score: float) -> str:
    """negative / neutral / positive as aumdf.metrics.sentiment_class bins it."""
    return SENTIMENT_LABELS[int(sentiment_class(np.asarray([score]))[0])]


def bin7(score: float) -> int:
    """The Acc-7 class: round(clip(score, -3, 3)), halves to even as aumdf.metrics does."""
    return int(np.round(np.clip(score, -3.0, 3.0)))


def _centres(times: np.ndarray, n: int) -> np.ndarray:
    """[n] centre seconds of the first n frames; frame indices where the extractor gave no time."""
    t = np.asarray(times, np.float64).reshape(-1, 2)[:n]
    c = t.mean(axis=1) if len(t) else np.zeros(0)
    if len(c) < n or not np.all(np.isfinite(c)):
        return np.arange(n, dtype=np.float64)
    return c


@dataclass
class ModalityStatus:
    """Why a modality did or did not reach the model.

    state: present (some frames used), switched off (by the caller), dropped (every frame lost to
    the drop rate), missing (the clip has none; `reason` says why).
    frames: frames the extractor produced; used: after cutting to the checkpoint's max length;
    kept: after switching off and frame drop.
    """

    name: str
    state: State
    reason: str | None
    frames: int
    used: int
    kept: int
    time_unit: str = "s"  # "s" when the axis is in seconds, "frame" when the extractor gave no times

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "frames": self.frames, "used": self.used, "kept": self.kept}


@dataclass(frozen=True)
class SubsetRun:
    """One model's forward pass over the 8 modality subsets of one clip (row r = ALL_SUBSETS[r]).

    outputs:   [8] scores (regression) or [8, c] class probabilities
    gates:     "m>n" -> [8] mean DWAM gate per subset
    attention: m -> [8, l, h, t_m, s], cut to the used frames (as Prediction.attention)
    used:      frames of each modality entering the model; kept: frames left after the drop (if on)
    """

    which: Which
    drop_rate: float
    seed: int
    outputs: np.ndarray
    gates: dict[str, np.ndarray]
    attention: dict[str, np.ndarray]
    key_modalities: dict[str, tuple[str, str]]
    used: dict[str, int]
    kept: dict[str, int]
    seconds: float


@dataclass
class Prediction:
    """One model run on one clip.

    score:       sentiment on [-3, 3] (regression checkpoints), else None
    label:       negative / neutral / positive, or the class name of a classification checkpoint
    bin7:        round(clip(score)) in -3..3 (the Acc-7 class), else None
    probabilities: class name -> probability (classification checkpoints), else None
    gates:       "m>n" -> mean DWAM gate g_mn over m's kept frames and the d channels (eq. 17-18)
    attention:   m -> [l, h, t_m, s] MMT attention of query m (t_m = availability[m].used) over the
                 used frames of key_modalities[m] (s = used_n + used_k), padding cut away
    query_times: m -> [t_m] frame centres (seconds, or indices when the extractor gave no times)
    key_times:   m -> [s] the same for the key frames, in key order
    contributions: exact Shapley value of each modality (score = baseline + sum of phi), from the
                 same forward pass; None only when the caller asked for none
    transcript:  the words the text modality was built from (typed or recognised), or None
    """

    which: Which
    score: float | None
    label: str
    bin7: int | None
    probabilities: dict[str, float] | None
    gates: dict[str, float]
    attention: dict[str, np.ndarray]
    key_modalities: dict[str, tuple[str, str]]
    query_times: dict[str, np.ndarray]
    key_times: dict[str, np.ndarray]
    availability: dict[str, ModalityStatus]
    modalities: tuple[str, ...]
    drop_rate: float
    seed: int
    contributions: Contributions | None = None
    transcript: str | None = None
    seconds: float = 0.0

    @property
    def bin7_label(self) -> str | None:
        return None if self.bin7 is None else BIN7_LABELS[self.bin7]

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        """JSON-friendly summary; attention as shapes unless `arrays` (then as nested lists)."""
        d: dict[str, Any] = {
            "which": self.which,
            "score": self.score,
            "label": self.label,
            "bin7": self.bin7,
            "bin7_label": self.bin7_label,
            "probabilities": self.probabilities,
            "gates": {k: round(v, 6) for k, v in self.gates.items()},
            "attention_shapes": {m: list(a.shape) for m, a in self.attention.items()},
            "attention_keys": {m: list(k) for m, k in self.key_modalities.items()},
            "availability": {m: s.to_dict() for m, s in self.availability.items()},
            "modalities": list(self.modalities),
            "drop_rate": self.drop_rate,
            "seed": self.seed,
            "contributions": None if self.contributions is None else self.contributions.to_dict(),
            "transcript": self.transcript,
            "seconds": round(self.seconds, 6),
        }
        if arrays:
            d["attention"] = {m: a.round(5).tolist() for m, a in self.attention.items()}
            d["query_times"] = {m: t.round(4).tolist() for m, t in self.query_times.items()}
            d["key_times"] = {m: t.round(4).tolist() for m, t in self.key_times.items()}
        return d


def missing_checkpoint_message(path: Path) -> str:
    return (
        f"no trained checkpoint at {path} (expected {path}/student/ with model.safetensors and config.json, "
        f"and optionally {path}/teacher/). Train one with `{TRAIN_COMMAND}` (docs/demo_corpus.md), or pass "
        "--checkpoint DIR (a folder with student/ and teacher/, or one checkpoint folder)"
    )


def resolve_checkpoints(path: str | Path | None) -> tuple[Path, Path | None]:
    """DIR with student/ (+ teacher/) -> (student, teacher or None); a single checkpoint folder -> (it, None)."""
    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if (path / "student" / "config.json").is_file():
        teacher = path / "teacher"
        return path / "student", teacher if (teacher / "config.json").is_file() else None
    if (path / "config.json").is_file():
        return path, None
    raise CheckpointError(missing_checkpoint_message(path))


class Predictor:
    """Student (+ teacher) checkpoints and the extractors that feed them.

    Build with `Predictor.from_checkpoint(dir)`; `extract(path)` once per clip, then `predict` as
    often as the controls change (only the model runs: a few milliseconds on a CPU).
    """

    def __init__(
        self,
        student: LoadedCheckpoint,
        teacher: LoadedCheckpoint | None = None,
        extractor: Any | None = None,
        device: str | torch.device = "cpu",
        max_seconds: float = MAX_SECONDS,
        max_bytes: int = MAX_BYTES,
    ):
        self.spec = student.feature_spec
        if teacher is not None:
            diff = self.spec.diff(teacher.feature_spec)
            if diff:
                raise FeatureMismatchError(diff, where=f" pair (student {student.path}, teacher {teacher.path})")
            if teacher.config.task != student.config.task:
                raise CheckpointError(
                    f"student ({student.config.task}) and teacher ({teacher.config.task}) solve different tasks")
        self.device = torch.device(device)
        self.models = {"student": student.model.to(self.device).eval()}
        if teacher is not None:
            self.models["teacher"] = teacher.model.to(self.device).eval()
        self.checkpoints = {"student": student, **({"teacher": teacher} if teacher is not None else {})}
        self.task = student.config.task
        names = student.metadata.get("class_names") or []
        self.class_names = list(names) if self.task == "classification" else list(SENTIMENT_LABELS)
        self.max_seconds, self.max_bytes = float(max_seconds), int(max_bytes)
        self._extractor = extractor
        # one extraction at a time: the speech recogniser's decoder is a single shared object, and on a
        # small CPU two extractions at once finish no sooner than one after the other
        self._extract_lock = threading.RLock()
        if extractor is not None:
            self._check_extractor(extractor)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | None = None,
        extractor: Any | None = None,
        device: str | torch.device | None = None,
        **kw: Any,
    ) -> "Predictor":
        """Load DIR/student (+ DIR/teacher); DIR defaults to checkpoints/default. CUDA when present."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        student_dir, teacher_dir = resolve_checkpoints(path)
        student = load_checkpoint(student_dir, map_location="cpu")
        teacher = load_checkpoint(teacher_dir, map_location="cpu") if teacher_dir is not None else None
        return cls(student, teacher, extractor=extractor, device=device, **kw)

    def _check_extractor(self, extractor: Any) -> None:
        diff = self.spec.diff(extractor.feature_spec())
        if diff:
            raise FeatureMismatchError(diff, where=f" at {self.checkpoints['student'].path}")

    @property
    def extractor(self):
        """Built on first use, so a Predictor used only on cached features never loads the extractors."""
        if self._extractor is None:
            with self._extract_lock:
                if self._extractor is None:
                    from features.pipeline import ClipExtractor  # loads word vectors and networks: not at import

                    # compared below, so a mismatch reads as every checkpoint mismatch does (FeatureMismatchError)
                    ex = ClipExtractor.from_spec(self.spec, device=str(self.device), check=())
                    self._check_extractor(ex)
                    self._extractor = ex
        return self._extractor

    @property
    def has_teacher(self) -> bool:
        return "teacher" in self.models

    # --------------------------------------------------------------- extraction
    def check_file(self, path: str | Path) -> Path:
        """Refuse what cannot be a clip before any decoding: absent, empty, huge, or too long."""
        from features.decode import probe

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no such file: {p}")
        size = p.stat().st_size
        if size == 0:
            raise InputError(f"{p.name} is empty (0 bytes)")
        if size > self.max_bytes:
            raise InputError(f"{p.name} is {size / 2**20:.0f} MB; the limit is {self.max_bytes / 2**20:.0f} MB")
        info = probe(p)  # DecodeError (a FeatureError) for unreadable files and wrong types
        if not (info.has_audio or info.has_video):
            raise InputError(f"{p.name} has neither an audio nor a video stream")
        if info.duration > self.max_seconds:
            raise InputError(
                f"{p.name} lasts {info.duration:.1f} s; the limit is {self.max_seconds:.0f} s — "
                "trim the clip and retry"
            )
        return p

    def extract(self, path: str | Path, transcript: str | None = None,
                on_stage: Callable[[str, float], None] | None = None) -> ClipFeatures:
        """Decode and extract every modality of one clip (the slow part; cache the result).

        on_stage(name, fraction done) is called as each stage starts (a progress bar's feed): "waiting
        for the extractor", then the extractor's own stages (decoding audio, recognising speech, faces,
        voice, words), then "extracted".
        """
        stage = on_stage or (lambda name, fraction: None)
        p = self.check_file(path)
        transcript = transcript if transcript and transcript.strip() else None
        stage("waiting for the extractor", 0.02)
        with self._extract_lock:
            clip = self.extractor.extract(p, transcript=transcript,
                                          progress=lambda name: stage(name, STAGE_DONE.get(name, 0.5)))
        stage("extracted", 0.9)
        if clip.duration > self.max_seconds:
            raise InputError(f"{p.name} lasts {clip.duration:.1f} s; the limit is {self.max_seconds:.0f} s")
        return clip

    def retranscribe(self, clip: ClipFeatures, transcript: str) -> ClipFeatures:
        """The same clip with its text rebuilt from an edited transcript.

        Unaligned features: only the text is re-extracted (audio and vision stay cached). Word-aligned
        features hang audio and vision on the words, so there the whole clip is extracted again.
        """
        if not transcript or not transcript.strip():
            raise InputError("the transcript is empty")
        ex = self.extractor
        if self.spec.text.layout == "aligned":
            path = clip.info.path
            if not path or not Path(path).is_file():
                raise InputError("the clip's file is gone; upload it again with the transcript")
            new = self.extract(path, transcript=transcript)
            return new
        with self._extract_lock:
            text = ex.extract_arrays(audio=None, frames=None, transcript=transcript,
                                     duration=clip.duration or None).text
        return replace(clip, text=text, info=replace(clip.info, transcript=transcript))

    # ---------------------------------------------------------------- inference
    @torch.inference_mode()
    def run_subsets(self, clip: ClipFeatures, drop_rate: float = 0.0, seed: int = 0,
                    which: Which = "student") -> SubsetRun:
        """One forward pass of one model over the 8 modality subsets of `clip`, the same frames dropped in each.

        Every choice of modalities is a row of the result (`select`), so a cached run answers every
        toggle of the switches without running the model again. The frame draw depends only on `seed`
        and the clip, never on which modalities are on.
        """
        t0 = time.perf_counter()
        if which not in self.models:
            raise InputError(f"no {which} model in this checkpoint (available: {', '.join(self.models)})")
        drop_rate = float(drop_rate)
        if not 0.0 <= drop_rate < 1.0 or math.isnan(drop_rate):
            raise InputError(f"drop rate must be in [0, 1), got {drop_rate}")
        seed = int(seed)
        used = frames_used(clip, self.spec)
        # padding to max_len changes nothing under the model's masks (tested) and costs ~25 % more time
        batch = batch_from_features(clip, self.spec, device=self.device, pad=False)
        if drop_rate > 0:
            batch = drop_frames(batch, drop_rate, torch.Generator().manual_seed(seed))
        kept = {m: int(batch.masks[m].sum()) for m in MODALITIES}
        out = self.models[which](subset_batch(batch))  # b = 8 subsets
        gates = {k: v.float().cpu().numpy() for k, v in out.gate_summary().items()} if out.gates else {}
        attention = {}
        for m in MODALITIES:
            n, k = out.key_modalities[m]
            t_n = out.masks[n].shape[1]  # keys are n's padded frames, then k's
            cols = torch.cat([torch.arange(used[n]), t_n + torch.arange(used[k])]).to(self.device)
            a = out.attention[m][:, :, :, : used[m]].index_select(-1, cols)  # b l h t_m s
            attention[m] = a.float().cpu().numpy()
        if self.task == "regression":
            outputs = out.prediction.reshape(-1).float().cpu().numpy()  # b
        else:
            outputs = torch.softmax(out.prediction.float(), dim=-1).cpu().numpy()  # b c
        return SubsetRun(which, drop_rate, seed, outputs, gates, attention, dict(out.key_modalities), used, kept,
                         time.perf_counter() - t0)

    def predict(
        self,
        clip: ClipFeatures,
        modalities: str | Iterable[str] | None = None,
        drop_rate: float = 0.0,
        seed: int = 0,
        which: Which = "student",
    ) -> Prediction:
        """Run one model on cached features with `modalities` on (default all) and frames dropped at `drop_rate`."""
        on = parse_modalities(modalities)  # a bad name fails before the model runs
        return self.select(clip, self.run_subsets(clip, drop_rate, seed, which), on)

    def select(self, clip: ClipFeatures, run: SubsetRun, modalities: str | Iterable[str] | None = None) -> Prediction:
        """The prediction with `modalities` on, read from a run over the 8 subsets (no model runs here)."""
        t0 = time.perf_counter()
        on = parse_modalities(modalities)
        row = subset_row(on)
        kept = {m: run.kept[m] if m in on else 0 for m in MODALITIES}
        status = _availability(clip, on, run.used, kept, run.drop_rate, run.seed)
        if not any(kept.values()):
            why = "; ".join(f"{m}: {status[m].reason}" for m in MODALITIES)
            raise InputError(f"no modality reaches the model ({why}); switch on a modality that the clip has")
        if self.task == "regression":
            values, name = run.outputs, "score"
            score = float(values[row])
            label, b7, probs = sentiment_label(score), bin7(score), None
        else:
            p = run.outputs  # b c
            names = self.class_names if len(self.class_names) == p.shape[1] else [str(i) for i in range(p.shape[1])]
            best = int(p[row].argmax())
            values, name = p[:, best], f"p({names[best]})"
            score, label, b7, probs = None, names[best], None, {c: float(v) for c, v in zip(names, p[row])}
        q_times, k_times = _time_axes(clip, run.key_modalities, run.used)
        return Prediction(
            which=run.which, score=score, label=label, bin7=b7, probabilities=probs,
            gates={k: float(v[row]) for k, v in run.gates.items()},
            attention={m: a[row] for m, a in run.attention.items()},
            key_modalities=dict(run.key_modalities), query_times=q_times, key_times=k_times, availability=status,
            modalities=on, drop_rate=run.drop_rate, seed=run.seed,
            contributions=contributions(dict(zip(ALL_SUBSETS, map(float, values))), on, name),
            transcript=clip.transcript, seconds=run.seconds + time.perf_counter() - t0,
        )

    # --------------------------------------------------------------- model card
    def card_file(self) -> Path | None:
        """MODEL_CARD.md in the folder holding student/ (or in the single checkpoint folder), if any."""
        path = self.checkpoints["student"].path
        if path is None:
            return None
        for folder in (path.parent, path) if path.name == "student" else (path,):
            if (folder / MODEL_CARD).is_file():
                return folder / MODEL_CARD
        return None


def _availability(clip: ClipFeatures, on: tuple[str, ...], used: dict[str, int], kept: dict[str, int],
                  drop_rate: float, seed: int) -> dict[str, ModalityStatus]:
    """Why each modality did or did not reach the model."""
    status = {}
    for m in MODALITIES:
        f = clip[m]
        frames = 0 if not f.present else int(f.values.shape[0])
        if not f.present:
            st, reason = "missing", f.missing_reason
        elif m not in on:
            st, reason = "switched off", "switched off by the user"
        elif kept[m] == 0:
            st, reason = "dropped", f"every frame was dropped (drop rate {drop_rate:g}, seed {seed})"
        else:
            st, reason = "present", None
            if used[m] < frames:
                reason = f"first {used[m]} of {frames} frames used (the checkpoint's maximum length)"
            elif f.extras.pooled_from:
                reason = (f"{frames} frames averaged from {f.extras.pooled_from} "
                          "(the checkpoint's maximum length)")
        times_ok = used[m] > 0 and np.all(np.isfinite(np.asarray(f.times)[: used[m]]))
        unit = "s" if times_ok or not used[m] else "frame"
        status[m] = ModalityStatus(m, st, reason, frames, used[m], kept[m], unit)
    return status


def _time_axes(clip: ClipFeatures, key_modalities: dict[str, tuple[str, str]], used: dict[str, int]):
    """m -> [t_m] query frame centres, and m -> [s] key frame centres in key order."""
    q_times, k_times = {}, {}
    for m in MODALITIES:
        n, k = key_modalities[m]
        q_times[m] = _centres(clip[m].times, used[m])
        k_times[m] = np.concatenate([_centres(clip[n].times, used[n]), _centres(clip[k].times, used[k])])
    return q_times, k_times


if __name__ == "__main__":  # `python -m aumdf.predict CLIP ...`: the command line lives in aumdf/cli.py
    from aumdf.cli import main

    sys.exit(main())
