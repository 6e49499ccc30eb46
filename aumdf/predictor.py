"""Inference on one clip: extract once, then re-run only the model for each choice of inputs.

`Predictor` loads the student and (when present) the teacher checkpoint, builds the extractors from
the checkpoint's feature spec (`ClipExtractor.from_spec`) and refuses them unless they produce
exactly the features the checkpoint was trained on. `extract` turns a clip into `ClipFeatures`
(slow: decoding, speech recognition, face detection); `predict` runs the model on those cached
features with some modalities switched off and a fraction of frames dropped (RPRM, paper §3.3) and
returns a `Prediction`: the score, its labels, the DWAM gates (§3.6, eq. 17-18), the MMT attention
maps (§3.7-3.8) with their time axes, why each modality did or did not take part, and the exact
Shapley contribution of each modality (aumdf/shapley.py) — all from one forward pass over the 8
modality subsets. The demo (app.py) and the CLI (aumdf/predict.py, `python -m aumdf.predict`) both stand
on this class.

Dimension legend: l - MMT layers, h - heads, t_m - frames of the query modality, s - key frames
(the other two modalities' frames, concatenated in `Prediction.key_modalities[m]` order); the records
it returns live in aumdf/prediction.py
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from aumdf.checkpoint import CheckpointError, FeatureMismatchError, LoadedCheckpoint, load_checkpoint
from aumdf.inputs import batch_from_features, frames_used
from aumdf.prediction import (  # noqa: F401 (BRIEF, ModalityStatus: re-exported for callers of the predictor)
    BRIEF, SENTIMENT_LABELS, InputError, ModalityStatus, Prediction, SubsetRun, Which, availability, bin7,
    parse_modalities, sentiment_label, time_axes,
)
from aumdf.rprm import drop_frames
from aumdf.shapley import ALL_SUBSETS, contributions, subset_batch, subset_row
from aumdf.types import MODALITIES
from features.types import ClipFeatures

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "default"
# how the shipped default is made; printed whenever it is missing
TRAIN_COMMAND = ("python -m train.demo.corpus --out data/demo && "
                 "python -m train.distill --dataset demo --data-dir data/demo --out checkpoints/default")
MODEL_CARD = "MODEL_CARD.md"  # beside student/ and teacher/: train/demo/model_card.py writes it
MAX_SECONDS = 60.0  # clips longer than this are refused (the demo's length limit)
MAX_BYTES = 200 * 1024 * 1024  # files larger than this are refused before decoding
# roughly how far extraction has come when the extractor starts each stage (speech recognition runs
# beside the face pipeline, so the stages overlap; the fractions only move a progress bar)
STAGE_DONE = {"decoding audio": 0.05, "recognising speech": 0.1, "faces": 0.15, "voice": 0.7, "words": 0.85}


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
        status = availability(clip, on, run.used, kept, run.drop_rate, run.seed)
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
        q_times, k_times = time_axes(clip, run.key_modalities, run.used)
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
