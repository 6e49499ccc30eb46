"""Clip -> the model's three inputs, in the paper's unaligned or word-aligned layout (§4.2.1, Table 2).

    extractor = ClipExtractor.build(embedder="onet")            # or ClipExtractor(text=..., audio=..., vision=...)
    clip = extractor.extract("talk.mp4", transcript="it was great")
    clip.audio.values            # [T_a, 74] float32, clip.audio.times [T_a, 2] seconds
    extractor.feature_spec()     # what a checkpoint trained on these features must expect

Layouts
- "unaligned": every modality keeps its own frame rate: words, 100 Hz audio frames, sampled face
  frames. Sequences longer than max_lens (default 25 / 150 / 100) are shortened: text is truncated
  (as the public datasets do), audio and vision are average-pooled over equal consecutive chunks
  so the whole clip stays covered (`overflow="truncate"` cuts them instead).
- "aligned": one time step per word (default at most 50, the MOSI/MOSEI setting): audio frames
  whose centre lies inside the word's span are averaged, and so are face frames overlapping it; a
  word with no face frame takes the nearest face frame in time (extras say how far). Word times come
  from the recogniser, or are spread over the voiced span of the audio. Without words there is no
  word axis: audio and vision are then pooled into equal chunks, and extras say so.

A modality that cannot be extracted is returned missing with its reason; nothing is invented.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from features.spec import MODALITIES, FeatureSpec, ModalitySpec
from features.types import ClipFeatures, ClipInfo, DecodeError, FeatureError, ModalityFeatures, SpecMismatchError, Word

UNALIGNED_MAX_LENS = (25, 150, 100)
ALIGNED_MAX_LEN = 50


def pool_frames(values: np.ndarray, times: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Average-pool [T, d] frames into at most max_len equal consecutive chunks; times [T, 2] -> chunk spans."""
    T = len(values)
    if max_len <= 0 or T <= max_len:
        return values, times
    chunks = np.array_split(np.arange(T), max_len)
    v = np.stack([values[c].mean(0) for c in chunks]).astype(np.float32)
    t = np.array([[times[c[0], 0], times[c[-1], 1]] for c in chunks], np.float32)
    return v, t


def align_to_words(
    values: np.ndarray, times: np.ndarray, word_times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average frames [T, d] (times [T, 2]) inside each word span [W, 2].

    A frame belongs to a word when its interval overlaps the word's. A word with no such frame takes
    the frame nearest in time (dense audio frames almost never need this; sparse face frames may).
    Returns (values [W, d], frame counts [W] (0 = nearest frame used), gap [W] seconds to that frame).
    """
    W, d = len(word_times), values.shape[1]
    out = np.zeros((W, d), np.float32)
    counts = np.zeros(W, np.int64)
    gaps = np.zeros(W, np.float32)
    centres = times.mean(1)
    for i, (s, e) in enumerate(word_times):
        inside = (times[:, 1] > s) & (times[:, 0] < e)
        if inside.any():
            out[i] = values[inside].mean(0)
            counts[i] = int(inside.sum())
        else:
            mid = (s + e) / 2
            j = int(np.argmin(np.abs(centres - mid)))
            out[i] = values[j]
            gaps[i] = float(max(times[j, 0] - e, s - times[j, 1], 0.0))
    return out, counts, gaps


def _mismatch_hint(diff: list[str]) -> str:
    """What to do about a spec difference, for the settings a user can supply."""
    if any(d.startswith("vision.settings.weights") for d in diff):
        return "pass the face weights the checkpoint was trained with (--face-weights)"
    if any(d.startswith("text.settings.vectors") or d.startswith("text.dim") for d in diff):
        return "point $AUMDF_WORD_VECTORS (or --vectors) at the word vectors it was trained with"
    return "these settings are fixed by the extractor code; use the version the checkpoint was made with"


Progress = Callable[[str], None]
_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """Worker threads for the recogniser (shared by every extractor of the process; the recogniser
    itself runs one clip at a time)."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="aumdf-asr")
        return _EXECUTOR


def _stage(progress: Progress | None, name: str) -> None:
    if progress is not None:
        progress(name)


def _voiced_span(a: ModalityFeatures, duration: float | None) -> tuple[float, float] | None:
    """Where untimed words are spread: the voiced frames, else the audible ones, else the whole clip."""
    if a.present:
        sel = a.extras.voiced if a.extras.voiced.any() else a.extras.active
        ft = a.extras.frame_times[sel]
        return (float(ft[0]), float(ft[-1]) + 0.01)
    return (0.0, float(duration)) if duration else None


def _time_transcript(transcript: str, recognised: Sequence[Word]) -> tuple[list[Word], bool]:
    """The transcript's tokens, timed by edit-distance alignment to the recognised words' tokens."""
    from features.text import tokenize
    from features.word_align import time_words

    tokens = tokenize(transcript)
    heard = [Word(tok, w.start, w.end) for w in recognised for tok in tokenize(w.text)]
    times, paired = time_words(tokens, heard)
    return [Word(tok, float(s), float(e)) for tok, (s, e) in zip(tokens, times)], paired > 0


def _check_transcript(transcript: Any) -> None:
    if transcript is not None and not isinstance(transcript, str):
        raise FeatureError(f"transcript must be text, got {type(transcript).__name__}")


class ClipExtractor:
    """Runs the three extractors on a clip and lays their outputs out for the model.

    text / audio / vision: extractor instances (see `build` for defaults from plain options).
    layout: "unaligned" | "aligned"; max_lens: (text, audio, vision) — default (25, 150, 100)
    unaligned, (50, 50, 50) aligned; overflow: "pool" | "truncate" for long audio/vision sequences;
    recognise_speech: run the speech recogniser when no transcript is given; align_transcript: time a
    given transcript's words by aligning them to the recognised words (default: in the aligned layout
    only; otherwise, or when nothing is recognised, the words are spread over the voiced span);
    max_side: longest side of decoded frames (pixels); recogniser: a `features.asr.SpeechRecogniser`
    (default: the process's shared one for `asr_model`, None -> $AUMDF_ASR_MODEL, else Whisper base);
    keep_encoder: also keep the recogniser's encoder states (`ClipInfo.encoder_states`) from the same pass,
    running the recogniser on every clip with audio.
    """

    def __init__(
        self,
        text=None,
        audio=None,
        vision=None,
        layout: str = "unaligned",
        max_lens: Sequence[int] | None = None,
        overflow: str = "pool",
        recognise_speech: bool = True,
        align_transcript: bool | None = None,
        max_side: int = 480,
        recogniser: Any = None,
        asr_model: str | Path | None = None,
        keep_encoder: bool = False,
    ) -> None:
        from features.audio import AudioExtractor
        from features.text import TextExtractor
        from features.vision import VisionExtractor

        if layout not in ("unaligned", "aligned"):
            raise FeatureError(f"layout must be 'unaligned' or 'aligned', got {layout!r}")
        if overflow not in ("pool", "truncate"):
            raise FeatureError(f"overflow must be 'pool' or 'truncate', got {overflow!r}")
        self.text = text if text is not None else TextExtractor()
        self.audio = audio if audio is not None else AudioExtractor()
        self.vision = vision if vision is not None else VisionExtractor()
        self.layout, self.overflow = layout, overflow
        if max_lens is None:
            max_lens = UNALIGNED_MAX_LENS if layout == "unaligned" else (ALIGNED_MAX_LEN,) * 3
        if len(max_lens) != 3 or any(int(m) <= 0 for m in max_lens):
            raise FeatureError(f"max_lens must be three positive lengths (text, audio, vision), got {max_lens}")
        if layout == "aligned" and len(set(max_lens)) != 1:
            raise FeatureError(f"aligned layout shares one word axis: max_lens must be equal, got {tuple(max_lens)}")
        self.max_lens = tuple(int(m) for m in max_lens)
        self.recognise_speech, self.max_side = recognise_speech, int(max_side)
        # timing a transcript costs a recogniser pass: worth it where word times shape the features
        self.align_transcript = (layout == "aligned") if align_transcript is None else bool(align_transcript)
        self._recogniser, self.asr_model, self.keep_encoder = recogniser, asr_model, bool(keep_encoder)

    @property
    def recogniser(self):
        """The speech recogniser, resolved on first use (its model loads on its first clip)."""
        if self._recogniser is None:
            from features.asr import shared_recogniser

            self._recogniser = shared_recogniser(self.asr_model)
        return self._recogniser

    @classmethod
    def build(
        cls,
        vectors: str | None = None,
        embedder: str = "fer",
        face_weights: str | None = None,
        fps: float = 5.0,
        device: str = "cpu",
        audio_features: str = "covarep",
        **kwargs: Any,
    ) -> "ClipExtractor":
        """Default extractors from plain options (what the CLI, the predictor and the app pass).
        audio_features: "covarep" (the 74-d frames) or "whisper" (Whisper base encoder states)."""
        from features.audio import AudioExtractor
        from features.text import TextExtractor
        from features.vision import VisionExtractor
        from features.whisper_audio import WhisperAudioExtractor

        if audio_features not in ("covarep", "whisper"):
            raise ValueError(f"audio_features must be 'covarep' or 'whisper', got {audio_features!r}")
        return cls(
            text=TextExtractor(vectors),
            audio=AudioExtractor() if audio_features == "covarep" else WhisperAudioExtractor(),
            vision=VisionExtractor(embedder=embedder, fps=fps, weights=face_weights, device=device),
            **kwargs,
        )

    @classmethod
    def from_spec(
        cls,
        spec: FeatureSpec,
        *,
        vectors: str | None = None,
        face_weights: str | Path | None = None,
        device: str = "cpu",
        check: Sequence[str] = MODALITIES,
        **kwargs: Any,
    ) -> "ClipExtractor":
        """The extractors a checkpoint (or a feature file) was made with, rebuilt from its `spec`.

        This is the one place that maps a recorded spec onto extractor options: layout, max lens and
        overflow; the audio settings; the face embedder and its sampling. What the spec cannot name is
        taken from here: `vectors` (None: $AUMDF_WORD_VECTORS, else GloVe 6B 50-d) and `face_weights`
        (None: the shipped face-expression weights; their digest is part of the spec). kwargs go to the
        constructor (recognise_speech, align_transcript, ...). The built extractors' spec is compared
        with `spec` for the modalities in `check`; any difference raises SpecMismatchError naming it
        (e.g. other face weights than the checkpoint was trained with). check=() skips the comparison.
        """
        from features.audio import AudioExtractor
        from features.text import TextExtractor
        from features.vision import VisionExtractor
        from features.whisper_audio import WHISPER_AUDIO_EXTRACTOR, WhisperAudioExtractor

        a, v = spec.audio.settings, spec.vision.settings
        audio_kw = {k: a[k] for k in ("sr", "fmin", "fmax", "n_fft", "n_mcep", "n_mels", "f0_resolution", "version")
                    if k in a}
        if "frame_rate_hz" in a:
            audio_kw["hop_s"] = 1.0 / float(a["frame_rate_hz"])
        vision_kw = {k: v[k] for k in ("embedder", "fps", "detect_side", "min_face_size", "margin") if k in v}
        overflow = a.get("layout_overflow", "pool")
        whisper = spec.audio.extractor == WHISPER_AUDIO_EXTRACTOR
        ex = cls(
            text=TextExtractor(vectors),
            audio=WhisperAudioExtractor(version=int(a.get("version", 1))) if whisper else AudioExtractor(**audio_kw),
            vision=VisionExtractor(device=str(device), weights=face_weights, **vision_kw),
            layout=spec.text.layout,
            max_lens=spec.max_lens,
            overflow=overflow if overflow in ("pool", "truncate") else "pool",
            max_side=int(v.get("max_side", 480)),
            **kwargs,
        )
        offered = ex.feature_spec()
        diff = [line for m in check for line in spec[m].diff(offered[m])]
        if diff:
            raise SpecMismatchError(diff, _mismatch_hint(diff))
        return ex

    def warmup(self) -> float:
        """Run a short synthetic tone and a blank frame through the extractors once, and load the speech
        model (verified, ~1-4 s) when recognition is on, so the first real clip does not pay librosa's numba
        compilation (~5-20 s in a fresh process) nor the model load. Returns seconds."""
        t0 = time.perf_counter()
        t = np.arange(8000) / 16000
        self.audio.extract((0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), 16000)
        self.vision.extract(np.zeros((1, 64, 64, 3), np.uint8), np.zeros(1, np.float32))
        if self.recognise_speech:
            self.recogniser.model  # noqa: B018 (loads it)
        return time.perf_counter() - t0

    # ---------------------------------------------------------------- spec
    def feature_spec(self) -> FeatureSpec:
        common = {"layout_overflow": self.overflow}
        if self.layout == "aligned":
            common = {"aligned_to": "words"}
        return FeatureSpec(
            text=ModalitySpec("text", self.text.dim, self.layout, self.max_lens[0], self.text.extractor,
                              {**self.text.spec_settings, **common}),
            audio=ModalitySpec("audio", self.audio.dim, self.layout, self.max_lens[1], self.audio.extractor,
                               {**self.audio.spec_settings, **common}),
            vision=ModalitySpec("vision", self.vision.dim, self.layout, self.max_lens[2], self.vision.extractor,
                                {**self.vision.spec_settings, "max_side": self.max_side, **common}),
        )

    # ---------------------------------------------------------------- entry points
    def extract(self, path: str | Path, transcript: str | None = None,
                progress: Progress | None = None) -> ClipFeatures:
        """Decode `path` (audio and/or video) and extract all three modalities.

        The speech recogniser runs in a worker thread while the faces are found (it releases the GIL).
        progress: called with each stage's name as it starts ("decoding audio", "recognising speech",
        "faces", "voice", "words"). Raises DecodeError when the file cannot be read at all; a missing or
        undecodable track only makes its modality missing.
        """
        import warnings

        from features.decode import NoStreamError, decode_audio, iter_video, probe

        _check_transcript(transcript)
        t0 = time.perf_counter()
        info = probe(path)
        reasons: dict[str, str] = {}
        audio = vision = None
        dec: dict[str, float] = {"audio": 0.0, "vision": 0.0}

        def timed(chunks):
            """Pass decoded chunks through, adding the time spent decoding them to dec["vision"]."""
            it = iter(chunks)
            while True:
                t = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    return
                finally:
                    dec["vision"] += time.perf_counter() - t
                yield item

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _stage(progress, "decoding audio")
            t = time.perf_counter()
            try:
                audio = decode_audio(path, sr=self.audio.sr)
            except NoStreamError:
                reasons["audio"] = "no audio track"
            except DecodeError as e:
                reasons["audio"] = f"audio track could not be decoded: {e}"
            dec["audio"] = time.perf_counter() - t
            pending = self._start_recognition(audio, transcript, progress)
            _stage(progress, "faces")
            try:
                # decoded in chunks straight into the face pipeline: a long video never sits in memory
                vision = self.vision.extract_stream(
                    timed(iter_video(path, fps=self.vision.fps, max_side=self.max_side))
                )
                vision.seconds -= dec["vision"]
            except NoStreamError:
                reasons["vision"] = "no video track (audio-only file)"
            except DecodeError as e:
                reasons["vision"] = f"video track could not be decoded: {e}"
        decode_warnings = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        if audio is None and vision is None:
            raise DecodeError(f"{path}: neither audio nor video could be decoded ({reasons})")
        clip = self._assemble(audio, None, transcript, reasons, info.duration or None, vision, pending, progress)
        clip.info.path, clip.info.probe, clip.info.decode_seconds = str(path), info, dec
        clip.info.warnings, clip.info.seconds = decode_warnings, time.perf_counter() - t0
        return clip

    def extract_arrays(
        self,
        audio: tuple[np.ndarray, int] | None = None,
        frames: tuple[np.ndarray, np.ndarray] | None = None,
        transcript: str | None = None,
        reasons: dict[str, str] | None = None,
        duration: float | None = None,
        vision: ModalityFeatures | None = None,
        progress: Progress | None = None,
    ) -> ClipFeatures:
        """Extract from already-decoded media (e.g. a webcam recording).

        audio: (samples [S] float mono, sr) or None; frames: (frames [n, H, W, 3] uint8 RGB, times [n] s)
        or None; transcript: the user's text, or None to recognise speech when possible.
        reasons: why a None input is absent (default "no audio track" / "no video frames").
        vision: vision features already extracted (e.g. streamed by `extract`), used instead of frames.
        progress: called with each stage's name as it starts (see `extract`).
        """
        _check_transcript(transcript)
        pending = self._start_recognition(audio, transcript, progress)
        return self._assemble(audio, frames, transcript, reasons, duration, vision, pending, progress)

    def _assemble(self, audio, frames, transcript, reasons, duration, vision, pending, progress) -> ClipFeatures:
        """The three modalities from decoded media (recognition already under way in `pending`), laid out."""
        t0 = time.perf_counter()
        reasons = dict(reasons or {})
        meta = ClipInfo(layout=self.layout, transcript=transcript)

        if audio is not None:
            samples, sr = audio
            _stage(progress, "voice")
            a = self.audio.extract(samples, sr)
            duration = duration or len(samples) / sr
        else:
            a = ModalityFeatures.missing("audio", self.audio.dim, reasons.get("audio", "no audio track"))
        if vision is not None:
            v = vision
        elif frames is not None:
            _stage(progress, "faces")
            v = self.vision.extract(*frames)
            if duration is None and len(frames[1]):
                duration = float(frames[1][-1]) + 1.0 / self.vision.fps
        else:
            v = ModalityFeatures.missing("vision", self.vision.dim, reasons.get("vision", "no video frames"))

        if duration is None and v.present:
            duration = float(v.times[-1, 1])
        _stage(progress, "words")
        tx = self._text(transcript, a, duration, meta, pending)

        if self.layout == "unaligned":
            tx, a, v = self._unaligned(tx, a, v)
        else:
            tx, a, v = self._aligned(tx, a, v)
        meta.seconds = time.perf_counter() - t0
        return ClipFeatures(text=tx, audio=a, vision=v, duration=float(duration or 0.0), info=meta)

    # ---------------------------------------------------------------- words
    def _start_recognition(self, audio, transcript: str | None, progress: Progress | None) -> Future | None:
        """Start the recogniser on `audio` in a worker thread when its words or times are needed; the
        future gives (Recognition, EncoderStates | None, seconds)."""
        has_text = transcript is not None and transcript.strip() != ""
        wanted = not has_text or self.align_transcript or self.keep_encoder
        if audio is None or len(audio[0]) == 0 or not self.recognise_speech or not wanted:
            return None
        _stage(progress, "recognising speech")
        rec, keep = self.recogniser, self.keep_encoder

        def run():
            t = time.perf_counter()
            out = rec.recognise(*audio, keep_encoder=True) if keep else (rec.recognise(*audio), None)
            return (*out, time.perf_counter() - t)

        return _executor().submit(run)

    def _text(self, transcript: str | None, a: ModalityFeatures, duration, info: ClipInfo,
              pending: Future | None) -> ModalityFeatures:
        """The text modality: a given transcript (timed by the recognised words when aligning), else the
        recognised words; missing with the reason when there are none."""
        has_text = transcript is not None and transcript.strip() != ""
        rec = None
        if pending is not None:
            rec, info.encoder_states, info.recognise_seconds = pending.result()
            info.recognition = rec
        span = _voiced_span(a, duration)
        if has_text:
            words = None
            if rec is not None and rec.words and self.align_transcript:
                t = time.perf_counter()
                words, info.aligned_words = _time_transcript(transcript, rec.words)
                info.align_seconds = time.perf_counter() - t
            tx = self.text.extract(transcript, words, span)
        elif rec is not None and rec.words:
            tx = self.text.extract(None, rec.words, span)
        else:
            if not a.present:
                reason = f"no transcript given, and no speech to recognise ({a.missing_reason})"
            elif not self.recognise_speech:
                reason = "no transcript given (speech recognition is off)"
            elif rec is None:
                reason = "no transcript given, and no audio to recognise"
            else:
                reason = f"no transcript given, and {rec.reason}"
            tx = ModalityFeatures.missing("text", self.text.dim, reason)
        tx.seconds += (info.recognise_seconds or 0.0) + (info.align_seconds or 0.0)
        return tx

    # ---------------------------------------------------------------- layouts
    def _shorten(self, m: ModalityFeatures, max_len: int, pool: bool) -> ModalityFeatures:
        T = len(m.values)
        if not m.present or T <= max_len:
            return m
        if pool:
            m.values, m.times = pool_frames(m.values, m.times, max_len)
            m.extras.pooled_from = T
        else:
            m.values, m.times = m.values[:max_len], m.times[:max_len]
            m.extras.truncated_from = T
        return m

    def _unaligned(self, tx, a, v):
        pool = self.overflow == "pool"
        return (
            self._shorten(tx, self.max_lens[0], pool=False),
            self._shorten(a, self.max_lens[1], pool),
            self._shorten(v, self.max_lens[2], pool),
        )

    def _aligned(self, tx, a, v):
        L = self.max_lens[0]
        if not tx.present or not np.all(np.isfinite(tx.times)):
            # no word axis to align to: keep the layout's length, cover the clip evenly
            for m in (a, v):
                if m.present:
                    m.values, m.times = pool_frames(m.values, m.times, L)
                    m.extras.alignment = "no words: pooled into equal chunks"
            return tx, a, v
        tx = self._shorten(tx, L, pool=False)
        wt = tx.times
        for m in (a, v):
            if not m.present:
                continue
            vals, counts, gaps = align_to_words(m.values, m.times, wt)
            m.extras.alignment, m.extras.unaligned_len = "words", len(m.values)
            m.extras.frames_per_word, m.extras.nearest_gap_s = counts, gaps
            m.values, m.times = vals, wt.copy()
        return tx, a, v
