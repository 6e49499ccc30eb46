"""Linear-probe baselines for every source of the demo corpus: what a plain linear model gets from
the same features the model sees, on the same splits (docs/demo_corpus.md, "Linear probes").

    python -m train.demo.probe ravdess --repr covarep     # logistic regression, clip mean+std of the 74-d frames
    python -m train.demo.probe ravdess --repr whisper     # ... of Whisper base's encoder states
    python -m train.demo.probe mosi                       # ridge on mean+max of the 50-d GloVe vectors
    python -m train.demo.probe fer2013                    # logistic regression on the 128-d face embedding

RAVDESS: actors 1-18 train, 19-20 valid, 21-24 test (`train.demo.sources.ACTOR_SPLITS`), three
valence classes (`VALENCE` through the model's neutral band). Every hyper-parameter (C, alpha) is
chosen on the validation split only; the test figure is reported once for that choice. Per-clip
frames are cached under $AUMDF_CACHE/probe (else ./cache/probe), keyed by the extractor's spec.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np

from aumdf.metrics import sentiment_class
from aumdf.cli import arg, parse_config
from train.demo.sources import (
    FER_EMOTIONS, VALENCE, RavdessClip, default_data_dir, find_ravdess, read_fer2013, read_text_labels,
)

SPLITS: tuple[str, str, str] = ("train", "valid", "test")

REPO = Path(__file__).resolve().parents[1]
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
ALPHA_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)


@dataclass
class ProbeResult:
    """One probe: the choice made on validation and the figures on valid and test."""

    source: str
    representation: str
    model: str
    chosen: dict
    valid: dict
    test: dict
    n: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def row(self) -> str:
        keys = list(self.test)
        v = " / ".join(f"{self.valid[k]:.3f}" for k in keys)
        t = " / ".join(f"{self.test[k]:.3f}" for k in keys)
        return f"| {self.source} | {self.representation} | {self.model} {self.chosen} | {'/'.join(keys)} | {v} | {t} |"


def cache_root() -> Path:
    env = os.environ.get("AUMDF_CACHE")
    return (Path(env) if env else REPO / "cache") / "probe"


def _digest(obj: object) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


# ----------------------------------------------------------------------------- probes


def classification_probe(x: dict[str, np.ndarray], y: dict[str, np.ndarray], grid: Sequence[float] = C_GRID,
                         balanced: bool = True) -> tuple[dict, dict, dict, object]:
    """Standardised multinomial logistic regression; C chosen by validation macro-F1.

    x[split]: [n, d], y[split]: [n] int. Returns (chosen, valid metrics, test metrics, fitted pipeline).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def metrics(model, split: str) -> dict:
        p = model.predict(x[split])
        return {"acc": float(accuracy_score(y[split], p)),
                "macro_f1": float(f1_score(y[split], p, average="macro"))}

    best = None
    for c in grid:
        model = make_pipeline(StandardScaler(), LogisticRegression(
            C=c, max_iter=3000, class_weight="balanced" if balanced else None))
        model.fit(x["train"], y["train"])
        m = metrics(model, "valid")
        if best is None or (m["macro_f1"], m["acc"]) > (best[1]["macro_f1"], best[1]["acc"]):
            best = ({"C": c}, m, model)
    chosen, valid, model = best
    return chosen, valid, metrics(model, "test"), model


def regression_probe(x: dict[str, np.ndarray], y: dict[str, np.ndarray],
                     grid: Sequence[float] = ALPHA_GRID) -> tuple[dict, dict, dict]:
    """Standardised ridge regression on sentiment scores; alpha chosen by validation MAE.
    Metrics: `aumdf.metrics.regression_metrics` (MAE, Corr, F1 non-0, ...)."""
    import torch
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from aumdf.metrics import regression_metrics

    def metrics(model, split: str) -> dict:
        p = np.clip(model.predict(x[split]), -3, 3)
        m = regression_metrics(torch.as_tensor(p), torch.as_tensor(y[split]))
        m = m if isinstance(m, dict) else asdict(m)
        return {k: float(v) for k, v in m.items() if k in ("mae", "corr", "f1_non0", "acc2_non0", "f1_has0")}

    best = None
    for a in grid:
        model = make_pipeline(StandardScaler(), Ridge(alpha=a)).fit(x["train"], y["train"])
        m = metrics(model, "valid")
        if best is None or m["mae"] < best[1]["mae"]:
            best = ({"alpha": a}, m, model)
    chosen, valid, model = best
    return chosen, valid, metrics(model, "test")


# ----------------------------------------------------------------------------- RAVDESS representations


def covarep_frames(clip: RavdessClip, extractor) -> np.ndarray:
    """The app's audio path without the pooling: decode at the extractor's rate -> [T, 74] at 100 Hz."""
    from features.decode import decode_audio

    samples, sr = decode_audio(clip.path, sr=extractor.sr)
    feats = extractor.extract(samples, sr)
    return np.asarray(feats.values, np.float32) if feats.present else np.zeros((0, extractor.dim), np.float32)


class WhisperEncoder:
    """Whisper base's encoder (CTranslate2 through faster-whisper): audio -> [T, 512] states at 50 Hz
    covering the audio only (the 30 s window's padding is dropped)."""

    def __init__(self, model_dir: str | Path, threads: int = 1) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)

    def __call__(self, samples: np.ndarray, sr: int = 16000) -> np.ndarray:
        from faster_whisper.audio import pad_or_trim

        fe = self.model.feature_extractor
        mel = fe(samples.astype(np.float32))  # [80, frames at 100 Hz]
        n = max(1, min(1500, int(np.ceil(mel.shape[-1] / 2))))
        out = self.model.encode(pad_or_trim(mel))
        return np.asarray(out)[0, :n].astype(np.float32)  # [n, 512]


def whisper_frames(clip: RavdessClip, encoder: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    from features.decode import decode_audio

    samples, _ = decode_audio(clip.path, sr=16000)
    return encoder(samples)


def cached_frames(clips: Sequence[RavdessClip], compute: Callable[[RavdessClip], np.ndarray], key: str,
                  progress: bool = True) -> dict[str, np.ndarray]:
    """{clip id: frames} computing only what cache_root()/key lacks (float16 on disk)."""
    cdir = cache_root() / key
    cdir.mkdir(parents=True, exist_ok=True)
    out, t0 = {}, time.perf_counter()
    for i, c in enumerate(clips):
        f = cdir / f"{c.id.split(':')[1]}.npy"
        if f.is_file():
            out[c.id] = np.load(f).astype(np.float32)
            continue
        v = compute(c)
        np.save(f, v.astype(np.float16) if np.abs(v).max(initial=0) < 6e4 else v)
        out[c.id] = v
        if progress and i % 50 == 0:
            print(f"  {key}: {i}/{len(clips)} {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def clip_stats(frames: np.ndarray, max_len: int | None = None) -> np.ndarray:
    """[T, d] -> [2d] mean and std over time (after the app's average pooling to max_len, if given)."""
    from features.pipeline import pool_frames

    if max_len:
        frames, _ = pool_frames(frames, np.zeros((len(frames), 2), np.float32), max_len)
    if len(frames) == 0:
        return np.zeros(2 * frames.shape[1], np.float32)
    return np.concatenate([frames.mean(0), frames.std(0)]).astype(np.float32)


def ravdess_design(clips: Sequence[RavdessClip], frames: dict[str, np.ndarray], max_len: int | None,
                   transform: Callable[[np.ndarray], np.ndarray] | None = None):
    """Per split: x [n, 2d] clip statistics, y [n] valence class, emotions [n]."""
    x, y, emo = {}, {}, {}
    for s in SPLITS:
        cs = [c for c in clips if c.split == s and len(frames[c.id])]
        x[s] = np.stack([clip_stats(transform(frames[c.id]) if transform else frames[c.id], max_len) for c in cs])
        y[s] = sentiment_class(np.array([VALENCE[c.emotion] for c in cs]))
        emo[s] = np.array([c.emotion for c in cs])
    return x, y, emo


def emotion_means(model, x: np.ndarray, emotions: np.ndarray) -> dict[str, float]:
    """Expected valence score E[score] under the probe's class probabilities, averaged per emotion
    (class centres -2, 0, +2: the same comparison as the evaluation's happy-vs-angry/sad gap)."""
    p = model.predict_proba(x) @ np.array([-2.0, 0.0, 2.0])[model.classes_]
    return {e: float(p[emotions == e].mean()) for e in sorted(set(emotions))}


def ravdess_frames(data_dir: Path, representation: str, whisper_dir: str | None, threads: int,
                   audio_settings: dict, train_subset: str = "all") -> tuple[list[RavdessClip], dict[str, np.ndarray]]:
    """The clips (valid, test, then train) and their cached frames: 74-d ([T, 74] at 100 Hz) or Whisper
    encoder states ([T, 512] at 50 Hz)."""
    from features.audio import AudioExtractor

    clips = find_ravdess(data_dir)
    if train_subset == "rep1":  # first repetition of each train clip: 540 of 1080, every emotion and actor
        clips = [c for c in clips if c.split != "train" or c.id.split("-")[5] == "01"]
    order = {"valid": 0, "test": 1, "train": 2}  # held-out clips first: a partial run is already usable
    clips = sorted(clips, key=lambda c: (order[c.split], c.id))
    if representation == "whisper":
        if whisper_dir:
            enc = WhisperEncoder(whisper_dir, threads)
        else:  # the app's recogniser (features.asr): verified Whisper base from the pip packages
            from features.asr import shared_recogniser

            rec = shared_recogniser()
            enc = lambda samples, sr=16000: rec.encode(samples, sr, hop_s=0.02).values  # noqa: E731
        return clips, cached_frames(clips, lambda c: whisper_frames(c, enc), f"whisper-{_digest(str(whisper_dir or 'asr'))}")
    ext = AudioExtractor(**audio_settings)
    key = f"covarep-{_digest(ext.spec_settings)}"  # a tracker change is a new spec version
    return clips, cached_frames(clips, lambda c: covarep_frames(c, ext), key)


def probe_ravdess(data_dir: Path, representation: str, whisper_dir: str | None, threads: int,
                  audio_settings: dict, train_subset: str = "all") -> ProbeResult:
    clips, frames = ravdess_frames(data_dir, representation, whisper_dir, threads, audio_settings, train_subset)
    max_len = None if representation == "whisper" else 150  # the states: over the clip's own length
    x, y, emo = ravdess_design(clips, frames, max_len)
    chosen, valid, test, model = classification_probe(x, y)
    means = emotion_means(model, x["test"], emo["test"])
    gaps = {"happy-angry": means["happy"] - means["angry"], "happy-sad": means["happy"] - means["sad"]}
    name = representation + ("" if train_subset == "all" else f" (train {train_subset})")
    return ProbeResult("ravdess", name, "logreg", chosen, valid, test,
                       {s: len(y[s]) for s in SPLITS}, {"test_emotion_means": means, "gaps": gaps})


# ----------------------------------------------------------------------------- AUMDF on the same frames


def _padded(frames: Sequence[np.ndarray], d: int):
    import torch

    x = np.zeros((len(frames), max([1] + [len(f) for f in frames]), d), np.float32)
    for i, f in enumerate(frames):
        x[i, : len(f)] = f
    return torch.from_numpy(x), torch.tensor([len(f) for f in frames], dtype=torch.long)


def _audio_batch(frames: Sequence[np.ndarray], labels: np.ndarray | None, dims: tuple[int, int, int],
                 text: Sequence[np.ndarray] | None = None):
    """Batch of [T_i, d_a] audio frames, with text frames [L_i, d_t] or without (length 0); no vision."""
    import torch

    from aumdf.types import Batch

    n = len(frames)
    feats, lengths = {}, {}
    feats["audio"], lengths["audio"] = _padded(frames, dims[1])
    feats["text"], lengths["text"] = _padded(text if text is not None else [np.zeros((0, dims[0]))] * n, dims[0])
    feats["vision"], lengths["vision"] = torch.zeros(n, 1, dims[2]), torch.zeros(n, dtype=torch.long)
    y = None if labels is None else torch.as_tensor(labels, dtype=torch.float32)
    return Batch.from_lengths(feats, lengths, labels=y)


def aumdf_audio_run(frames: dict[str, list[np.ndarray]], scores: dict[str, np.ndarray], standardise: bool,
                    epochs: int = 15, seed: int = 0, use_rem: bool = True, lr: float = 1e-3,
                    sentences: list[np.ndarray] | None = None) -> dict:
    """Train the demo-width AUMDF on RAVDESS audio (regression on VALENCE, as the corpus trains),
    optionally z-scoring each of the 74 columns with train statistics. sentences: text frames of the
    spoken sentence per train clip: trained with them (as the corpus does), evaluated on audio alone
    (as the evaluation does). Returns per-epoch valid and test class accuracy / macro-F1 (audio
    alone) and the epoch chosen on valid macro-F1."""
    import torch

    from aumdf.config import AUMDFConfig
    from aumdf.model import AUMDF
    from sklearn.metrics import f1_score

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    allf = np.concatenate(frames["train"])
    mu, sd = (allf.mean(0), allf.std(0) + 1e-6) if standardise else (0.0, 1.0)
    fr = {s: [((f - mu) / sd).astype(np.float32) for f in v] for s, v in frames.items()}
    dims = (50, allf.shape[1], 128)
    model = AUMDF.from_config(AUMDFConfig.demo(dims, use_rem=use_rem))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(fr["train"]))
        for i in range(0, len(order), 32):
            idx = order[i : i + 32]
            b = _audio_batch([fr["train"][j] for j in idx], scores["train"][idx], dims,
                             None if sentences is None else [sentences[j] for j in idx])
            loss = torch.nn.functional.l1_loss(model(b).prediction, b.labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        row = {"epoch": epoch + 1}
        with torch.inference_mode():
            for s in ("valid", "test"):
                p = model(_audio_batch(fr[s], None, dims)).prediction
                pc, tc = sentiment_class(p.numpy()), sentiment_class(scores[s])
                row[s] = {"acc": float((pc == tc).mean()), "macro_f1": float(f1_score(tc, pc, average="macro")),
                          "pred_std": float(p.std())}
        history.append(row)
    best = max(history, key=lambda r: r["valid"]["macro_f1"])
    return {"standardise": standardise, "use_rem": use_rem, "seed": seed, "with_sentence": sentences is not None,
            "best": best, "history": history}


def diagnose_ravdess(data_dir: Path, audio_settings: dict, epochs: int, seeds: Sequence[int],
                     with_sentence: bool = False, representation: str = "covarep", whisper_dir: str | None = None,
                     train_subset: str = "all") -> list[dict]:
    """AUMDF's audio path on the probe's own RAVDESS frames (pooled to 150 as the app does), raw
    against standardised inputs, one run per seed: is the model or the input the limit?
    with_sentence: train with the spoken sentence as text, as the demo corpus does."""
    from features.pipeline import pool_frames

    clips, cache = ravdess_frames(data_dir, representation, whisper_dir, 1, audio_settings, train_subset)
    frames, scores = {}, {}
    for s in SPLITS:
        cs = [c for c in clips if c.split == s and len(cache[c.id])]
        frames[s] = [pool_frames(cache[c.id], np.zeros((len(cache[c.id]), 2), np.float32), 150)[0] for c in cs]
        scores[s] = np.array([VALENCE[c.emotion] for c in cs], np.float32)
    sentences = None
    if with_sentence:
        from features.text import TextExtractor
        from train.demo.sources import RAVDESS_STATEMENTS

        tx = TextExtractor()
        said = {k: np.asarray(tx.extract(v).values, np.float32) for k, v in RAVDESS_STATEMENTS.items()}
        sentences = [said[c.statement] for c in clips if c.split == "train" and len(cache[c.id])]
    runs = []
    for seed in seeds:
        for standardise in (False, True):
            r = aumdf_audio_run(frames, scores, standardise, epochs, seed, sentences=sentences)
            print(json.dumps({"repr": representation, **{k: r[k] for k in ("standardise", "seed", "best")}}), flush=True)
            runs.append(r)
    return runs


# ----------------------------------------------------------------------------- text and faces


def probe_text(data_dir: Path, source: str, extractor) -> ProbeResult:
    """Ridge on the mean and max over words of the app's GloVe frames (a text-only input)."""
    from train.demo.extraction import extract_transcript

    rows = read_text_labels(data_dir, source)
    x, y = {}, {}
    for s in SPLITS:
        feats, labels = [], []
        for r in (r for r in rows if r.split == s):
            t, _ = extract_transcript(extractor, r.text)
            feats.append(np.zeros(2 * extractor.text.dim, np.float32) if t is None
                         else np.concatenate([t.mean(0), t.max(0)]))
            labels.append(r.label)
        x[s], y[s] = np.stack(feats), np.asarray(labels, np.float32)
    chosen, valid, test = regression_probe(x, y)
    return ProbeResult(source, "glove50 mean+max", "ridge", chosen, valid, test, {s: len(y[s]) for s in SPLITS})


def probe_fer(data_dir: Path, extractor, limit_train: int | None = None) -> ProbeResult:
    """Logistic regression on the face-expression network's 128-d embedding, 3 valence classes."""
    from train.demo.extraction import embed_faces

    fer = read_fer2013(data_dir / "fer2013.npz")
    splits = fer.splits
    x, y = {}, {}
    for s in SPLITS:
        idx = np.flatnonzero(splits == s)[:limit_train if s == "train" else None]
        x[s] = embed_faces(fer.images[idx], extractor.vision.embed)
        y[s] = sentiment_class(np.array([VALENCE[FER_EMOTIONS[k]] for k in fer.labels[idx]]))
    chosen, valid, test, _ = classification_probe(x, y, grid=(0.01, 0.1, 1.0), balanced=False)
    return ProbeResult("fer2013", "face embedding 128", "logreg", chosen, valid, test, {s: len(y[s]) for s in SPLITS})


@dataclass(frozen=True)
class ProbeConfig:
    source: Literal["ravdess", "mosi", "mosei", "fer2013"] = arg("ravdess", "which source to probe", positional=True)
    repr: Literal["covarep", "whisper"] = arg("covarep", "RAVDESS representation: the 74-d frames or Whisper "
                                                        "base's encoder states")
    audio_version: int = arg(1, "features.audio.AudioExtractor version (1 pyin, 2 yin-bandpass)")
    train_subset: Literal["all", "rep1"] = arg("all", "RAVDESS train clips: all 1080, or the first repetition (540)")
    whisper_dir: str | None = arg(None, "faster-whisper model folder for --repr whisper (default: the app's "
                                        "recogniser, features.asr, Whisper base)")
    data_dir: Path | None = arg(None, "folder holding mosi/, mosei/, ravdess/, fer2013.npz (default: $AUMDF_SHARED/data)")
    threads: int = arg(1, "torch / CTranslate2 threads")
    aumdf: bool = arg(False, "ravdess: train the demo-width AUMDF on the same frames, raw and standardised")
    epochs: int = arg(15, "epochs of each --aumdf run")
    seeds: tuple[int, ...] = arg((0,), "seeds of the --aumdf runs")
    with_sentence: bool = arg(False, "--aumdf: train with the spoken sentence as text (as the demo corpus does), "
                                     "evaluate on audio alone")
    json: Path | None = arg(None, "append the result as one JSON line to this file")


def run(cfg: ProbeConfig) -> ProbeResult | list[dict]:
    import torch

    torch.set_num_threads(cfg.threads)
    data_dir = cfg.data_dir or default_data_dir()
    settings = {"version": cfg.audio_version}
    if cfg.source == "ravdess" and cfg.aumdf:
        return diagnose_ravdess(data_dir, settings, cfg.epochs, cfg.seeds, cfg.with_sentence, cfg.repr,
                                cfg.whisper_dir, cfg.train_subset)
    if cfg.source == "ravdess":
        return probe_ravdess(data_dir, cfg.repr, cfg.whisper_dir, cfg.threads, settings, cfg.train_subset)
    from train.demo.extraction import app_extractor

    ext = app_extractor()
    return probe_text(data_dir, cfg.source, ext) if cfg.source in ("mosi", "mosei") else probe_fer(data_dir, ext)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_config(ProbeConfig, argv, prog="python -m train.demo.probe", description=__doc__.split("\n\n")[0])
    res = run(cfg)
    record = {"aumdf_audio_runs": res} if isinstance(res, list) else asdict(res)
    if isinstance(res, ProbeResult):
        print(res.row())
        print(json.dumps(record, indent=1))
    if cfg.json:
        with open(cfg.json, "a") as f:
            f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
