"""Inference on one clip: extract once, then re-run only the model for each choice of inputs.

    python -m aumdf.predict CLIP [--transcript T] [--modalities text,audio,visual] [--drop-rate P]
                                 [--seed S] [--which student|teacher] [--checkpoint DIR] [--json]

`Predictor` loads the student and (when present) the teacher checkpoint, builds the extractors and
refuses them unless they produce exactly the features the checkpoint was trained on. `extract`
turns a clip into `ClipFeatures` (slow: decoding, speech recognition, face detection); `predict`
runs the model on those cached features with some modalities switched off and a fraction of frames
dropped (RPRM, paper §3.3) and returns a `Prediction`: the score, its labels, the DWAM gates
(§3.6, eq. 17-18), the MMT attention maps (§3.7-3.8) with their time axes, and why each modality
did or did not take part. The demo (app.py) and the CLI both stand on this class.

Dimension legend: l - MMT layers, h - heads, t_m - frames of the query modality, s - key frames
(the other two modalities' frames, concatenated in `Prediction.key_modalities[m]` order)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

import numpy as np
import torch

from aumdf.checkpoint import CheckpointError, FeatureMismatchError, LoadedCheckpoint, load_checkpoint
from aumdf.inputs import batch_from_features, frames_used
from aumdf.losses import NEUTRAL_BAND
from aumdf.rprm import drop_frames, drop_modalities
from aumdf.types import MODALITIES
from features.spec import FeatureSpec
from features.types import ClipFeatures, FeatureError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "default"
# how the shipped default is made; printed whenever it is missing
TRAIN_COMMAND = ("python -m train.demo_corpus --out data/demo && "
                 "python -m train.distill --dataset demo --data-dir data/demo --out checkpoints/default")
TRAINED_ON = {  # what each training set is, for the model card's limits
    "demo": "the demo corpus: real MOSI/MOSEI transcripts, RAVDESS acted speech and FER2013 face photos joined "
            "by sentiment class (docs/demo_corpus.md) — never clips where words, voice and face truly co-occur",
    "mosi": "CMU-MOSI: English opinion monologues from YouTube",
    "mosei": "CMU-MOSEI: English opinion monologues from YouTube",
    "iemocap": "IEMOCAP: acted English dyadic conversations (4 emotions)",
}
MODEL_CARD = "MODEL_CARD.md"  # beside student/ and teacher/: train/model_card.py writes it
MAX_SECONDS = 60.0  # clips longer than this are refused (the demo's length limit)
MAX_BYTES = 200 * 1024 * 1024  # files larger than this are refused before decoding

Which = Literal["student", "teacher"]
State = Literal["present", "switched off", "dropped", "missing"]
ALIASES = {"text": "text", "language": "text", "l": "text", "audio": "audio", "acoustic": "audio", "a": "audio",
           "vision": "vision", "visual": "vision", "video": "vision", "v": "vision"}
SENTIMENT_LABELS = ("negative", "neutral", "positive")
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


def sentiment_label(score: float, band: float = NEUTRAL_BAND) -> str:
    """negative / neutral / positive with aumdf.losses' threshold (|score| < band is neutral)."""
    return "negative" if score <= -band else "positive" if score >= band else "neutral"


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


def default_extractor(spec: FeatureSpec, device: str | torch.device = "cpu"):
    """The project's clip extractors configured from a checkpoint's feature spec.

    Imported here, not at module import: building them loads word vectors and networks. Settings the
    spec does not record fall back to the extractors' defaults; whatever still differs is reported by
    the spec comparison in `Predictor` (FeatureMismatchError), never silently accepted.
    """
    from features.pipeline import ClipExtractor

    if hasattr(ClipExtractor, "from_spec"):
        return ClipExtractor.from_spec(spec, device=str(device))
    from features.audio import AudioExtractor
    from features.text import TextExtractor
    from features.vision import VisionExtractor

    a, v = spec.audio.settings, spec.vision.settings
    audio_kw = {k: a[k] for k in ("sr", "fmin", "fmax", "n_fft", "n_mcep", "n_mels") if k in a}
    if "frame_rate_hz" in a:
        audio_kw["hop_s"] = 1.0 / float(a["frame_rate_hz"])
    vision_kw = {k: v[k] for k in ("embedder", "fps", "detect_side", "min_face_size", "margin") if k in v}
    overflow = a.get("layout_overflow", "pool")
    return ClipExtractor(
        text=TextExtractor(None),  # the default vectors, or $AUMDF_WORD_VECTORS
        audio=AudioExtractor(**audio_kw),
        vision=VisionExtractor(device=str(device), **vision_kw),
        layout=spec.text.layout,
        max_lens=spec.max_lens,
        overflow=overflow if overflow in ("pool", "truncate") else "pool",
        max_side=int(v.get("max_side", 480)),
    )


def waveform_envelope(path: str | Path, columns: int = 2000, sr: int = 16000) -> dict[str, np.ndarray] | None:
    """Min/max envelope of the clip's audio in `columns` bins (what the demo draws); None without audio."""
    from features.decode import decode_audio

    try:
        y, sr = decode_audio(path, sr=sr)
    except FeatureError:
        return None
    if len(y) == 0:
        return None
    bins = max(1, len(y) // columns)
    n = len(y) // bins * bins
    yy = np.asarray(y[:n], np.float32).reshape(-1, bins)
    t = ((np.arange(yy.shape[0]) * bins + bins / 2) / sr).astype(np.float32)
    return {"t": t, "min": yy.min(1), "max": yy.max(1)}


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
                    ex = default_extractor(self.spec, self.device)
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

    def extract(self, path: str | Path, transcript: str | None = None) -> ClipFeatures:
        """Decode and extract every modality of one clip (the slow part; cache the result).

        info.envelope holds the waveform's min/max envelope for display (the samples are not kept).
        """
        p = self.check_file(path)
        transcript = transcript if transcript and transcript.strip() else None
        with self._extract_lock:
            clip = self.extractor.extract(p, transcript=transcript)
        if clip.duration > self.max_seconds:
            raise InputError(f"{p.name} lasts {clip.duration:.1f} s; the limit is {self.max_seconds:.0f} s")
        if clip.audio.present:
            clip.info.envelope = waveform_envelope(p)
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
    def predict(
        self,
        clip: ClipFeatures,
        modalities: str | Iterable[str] | None = None,
        drop_rate: float = 0.0,
        seed: int = 0,
        which: Which = "student",
    ) -> Prediction:
        """Run one model on cached features with `modalities` on (default all) and frames dropped at `drop_rate`.

        The frame draw depends only on `seed` and the clip, not on which modalities are on, so the same
        seed drops the same frames whatever the toggles.
        """
        t0 = time.perf_counter()
        if which not in self.models:
            raise InputError(f"no {which} model in this checkpoint (available: {', '.join(self.models)})")
        on = parse_modalities(modalities)
        drop_rate = float(drop_rate)
        if not 0.0 <= drop_rate < 1.0 or math.isnan(drop_rate):
            raise InputError(f"drop rate must be in [0, 1), got {drop_rate}")
        seed = int(seed)
        spec = self.spec
        used = frames_used(clip, spec)
        # padding to max_len changes nothing under the model's masks (tested) and costs ~25 % more time
        batch = batch_from_features(clip, spec, device=self.device, pad=False)
        batch = drop_modalities(batch, [m for m in MODALITIES if m not in on])
        if drop_rate > 0:
            batch = drop_frames(batch, drop_rate, torch.Generator().manual_seed(seed))
        kept = {m: int(batch.masks[m].sum()) for m in MODALITIES}

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
        if not any(kept.values()):
            why = "; ".join(f"{m}: {status[m].reason}" for m in MODALITIES)
            raise InputError(f"no modality reaches the model ({why}); switch on a modality that the clip has")

        out = self.models[which](batch)
        gates = {k: float(v[0]) for k, v in out.gate_summary().items()} if out.gates else {}
        attention, q_times, k_times = {}, {}, {}
        for m in MODALITIES:
            n, k = out.key_modalities[m]
            a = out.attention[m][0].float().cpu().numpy()  # l h t_m s (padded)
            t_n = batch.features[n].shape[1]  # keys are n's padded frames, then k's
            cols = np.r_[0 : used[n], t_n : t_n + used[k]]
            attention[m] = a[:, :, : used[m]][..., cols]
            q_times[m] = _centres(clip[m].times, used[m])
            k_times[m] = np.concatenate([_centres(clip[n].times, used[n]), _centres(clip[k].times, used[k])])

        if self.task == "regression":
            score = float(out.prediction.reshape(-1)[0])
            label, b7, probs = sentiment_label(score), bin7(score), None
        else:
            p = torch.softmax(out.prediction[0].float(), dim=-1).cpu().numpy()
            names = self.class_names if len(self.class_names) == len(p) else [str(i) for i in range(len(p))]
            probs = {c: float(v) for c, v in zip(names, p)}
            score, label, b7 = None, names[int(p.argmax())], None
        return Prediction(
            which=which, score=score, label=label, bin7=b7, probabilities=probs, gates=gates,
            attention=attention, key_modalities=dict(out.key_modalities), query_times=q_times, key_times=k_times,
            availability=status, modalities=on, drop_rate=drop_rate, seed=seed, seconds=time.perf_counter() - t0,
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

    def _length_note(self) -> str:
        t, a, v = self.spec.max_lens
        pooled = self.spec.audio.settings.get("layout_overflow") == "pool"
        return (f"At most {t or 'any number of'} words enter the model (the rest of a long transcript is cut); "
                f"audio and video beyond {a} and {v} frames are " + ("averaged down to those lengths." if pooled
                                                                      else "cut at those lengths."))

    def model_card(self) -> str:
        """Markdown: the checkpoint folder's MODEL_CARD.md (written by `python -m train.model_card` from a
        held-out evaluation) when it has one; else a summary of what the loaded checkpoint was trained on,
        its validation metrics and its limits."""
        card = self.card_file()
        if card is not None:
            return card.read_text(encoding="utf-8")
        lines = []
        for which, ck in self.checkpoints.items():
            md = ck.metadata
            cfg = ck.config
            lines.append(f"### {which}: `{ck.path}`")
            lines.append(
                f"- trained on **{md.get('dataset', 'unknown data')}** ({md.get('layout', '?')} layout, "
                f"source `{md.get('data_source', '?')}`), task {cfg.task}, best epoch {md.get('best_epoch', '?')}"
            )
            lines.append(
                f"- model: d_model {cfg.d_model}, {cfg.n_heads} heads, {cfg.n_layers} MMT layer(s), "
                f"REM {'on' if cfg.use_rem else 'off'}, DWAM {'on' if cfg.use_dwam else 'off'}"
            )
            for split in ("valid", "test"):
                metrics = md.get(split)
                if isinstance(metrics, dict) and metrics:
                    flat = ", ".join(f"{k} {v:.4g}" if isinstance(v, (int, float)) else f"{k} {v}"
                                     for k, v in metrics.items() if not isinstance(v, (dict, list)))
                    lines.append(f"- {split} metrics: {flat}")
            if md.get("selection"):
                lines.append(f"- model selection: {md['selection']} on the validation split")
        dataset = str(self.checkpoints["student"].metadata.get("dataset"))
        trained_on = TRAINED_ON.get(dataset, "data its metadata does not name")
        lines.append("\n### Features")
        for m in MODALITIES:
            s = self.spec[m]
            lines.append(f"- {m}: {s.extractor}, {s.dim}-d, at most {s.max_len or 'any number of'} frames ({s.layout})")
        lines.append(
            "\n### Limits\n"
            f"- Trained on {trained_on}; "
            "scores on other languages, speech styles or recording conditions are not validated.\n"
            "- Without a transcript the words come from a small offline speech recogniser and may be wrong; "
            "edit them for a fairer text score.\n"
            f"- {self._length_note()}\n"
            "- A research demo of sentiment from expression, voice and words: not an assessment of a person, "
            "and not for decisions about people."
        )
        return "\n".join(lines)


# --------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aumdf.predict", description="Sentiment of one clip with AUMDF.")
    p.add_argument("clip", help="video or audio file")
    p.add_argument("--transcript", default=None, help="the spoken words (default: recognised from the audio)")
    p.add_argument("--modalities", default="text,audio,visual", help="modalities switched on, e.g. text,audio")
    p.add_argument("--drop-rate", type=float, default=0.0, help="fraction of frames dropped at random (0-0.9)")
    p.add_argument("--seed", type=int, default=0, help="seed of the frame drop")
    p.add_argument("--which", choices=("student", "teacher"), default="student", help="model whose result is primary")
    p.add_argument("--checkpoint", default=None,
                   help=f"folder with student/ (+ teacher/); default {DEFAULT_CHECKPOINT}")
    p.add_argument("--max-seconds", type=float, default=MAX_SECONDS, help="refuse longer clips")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--json", action="store_true", help="print the prediction as JSON")
    return p


def _summary(pred: Prediction, teacher: Prediction | None) -> str:
    head = f"{pred.which}: score {pred.score:+.3f}, {pred.label} ({pred.bin7_label})" if pred.score is not None \
        else f"{pred.which}: {pred.label}"
    lines = [head]
    if teacher is not None and teacher.score is not None:
        lines.append(f"teacher: score {teacher.score:+.3f}, {teacher.label} ({teacher.bin7_label})")
    for m, s in pred.availability.items():
        lines.append(f"  {m:6s} {s.state:12s} {s.kept}/{s.used} frames" + (f"  ({s.reason})" if s.reason else ""))
    lines.append("  gates: " + ", ".join(f"{k} {v:.3f}" for k, v in pred.gates.items()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        modalities = parse_modalities(args.modalities)
        if not 0.0 <= args.drop_rate < 1.0:
            raise InputError(f"--drop-rate must be in [0, 1), got {args.drop_rate}")
        predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device, max_seconds=args.max_seconds)
        clip = predictor.extract(args.clip, transcript=args.transcript)
        pred = predictor.predict(clip, modalities, args.drop_rate, args.seed, which=args.which)
        other = "teacher" if args.which == "student" else "student"
        second = predictor.predict(clip, modalities, args.drop_rate, args.seed, which=other) \
            if other in predictor.models else None
    except (FeatureError, CheckpointError, FileNotFoundError, IsADirectoryError, PermissionError, ValueError) as e:
        msg = " ".join(str(e).split())  # one line, whatever the message holds
        print(f"error: {msg}", file=sys.stderr)
        return 2
    if args.json:
        d = pred.to_dict()
        brief = None if second is None else second.to_dict()
        keys = ("score", "label", "bin7", "bin7_label", "probabilities")
        d[other] = None if brief is None else {k: brief[k] for k in keys}
        d["transcript"] = clip.transcript
        d["tokens"] = clip.text.extras.tokens
        print(json.dumps(d, indent=2))
    else:
        print(_summary(pred, second if other == "teacher" else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
