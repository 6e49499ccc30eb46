"""Text modality: real GloVe 6B 50-d values, tokenisation, OOV, timing, user vector files."""

from __future__ import annotations

import numpy as np
import pytest

from features.text import TextExtractor, Word, load_vectors, spread_words, tokenize
from features.types import FeatureError
from tests.media import text_cache  # noqa: F401  (fixture)

# the published glove.6B.50d.txt line for "the"
THE_50D = [
    0.418, 0.24968, -0.41242, 0.1217, 0.34527, -0.044457, -0.49688, -0.17862, -0.00066023, -0.6566,
    0.27843, -0.14767, -0.55677, 0.14658, -0.0095095, 0.011658, 0.10204, -0.12792, -0.8443, -0.12181,
    -0.016801, -0.33279, -0.1552, -0.23131, -0.19181, -1.8823, -0.76746, 0.099051, -0.42125, -0.19526,
    4.0071, -0.18594, -0.52287, -0.31681, 0.00059213, 0.0074449, 0.17778, -0.15897, 0.012041, -0.054223,
    -0.29871, -0.15749, -0.34758, -0.045637, -0.44251, 0.18785, 0.0027849, -0.18411, -0.11514, -0.78581,
]


@pytest.fixture(scope="session")
def glove(text_cache) -> TextExtractor:
    return TextExtractor()


def test_the_equals_published_glove_6b_50d(glove, text_cache):
    assert glove.dim == 50 and glove.lowercase
    np.testing.assert_allclose(glove.lookup("the"), THE_50D, rtol=0, atol=1e-6)
    np.testing.assert_allclose(glove.lookup("The"), THE_50D, atol=1e-6)  # uncased vocabulary
    assert (text_cache / "glove-6B-50d.kv").is_file()
    kv, _ = load_vectors()  # second load memory-maps the cached file
    assert isinstance(kv.vectors, np.memmap)


def test_tokenize_ptb_contractions_without_punctuation():
    assert tokenize("I don't know, it's GREAT!!") == ["I", "do", "n't", "know", "it", "'s", "GREAT"]
    assert tokenize("...!?") == []


def test_oov_words_counted_and_zero(glove):
    out = glove.extract("the qwzxkj movie", span=(0.0, 1.5))
    assert out.present and out.values.shape == (3, 50)
    assert out.extras.oov == ["qwzxkj"] and out.extras.oov_count == 1
    assert np.all(out.values[1] == 0) and np.any(out.values[0] != 0)


def test_words_spread_over_span(glove):
    out = glove.extract("a good film", span=(1.0, 3.0))
    assert out.extras.timing == "spread over voiced span"
    assert out.times[0, 0] == pytest.approx(1.0) and out.times[-1, 1] == pytest.approx(3.0)
    assert np.all(np.diff(out.times[:, 0]) > 0)
    t = spread_words(["aa", "b"], 0.0, 5.0)  # proportional to len + 1
    np.testing.assert_allclose(t, [[0, 3], [3, 5]])


def test_recognised_words_keep_their_times(glove):
    words = [Word("hello", 0.2, 0.6), Word("world", 0.7, 1.1)]
    out = glove.extract(None, words)
    np.testing.assert_allclose(out.times, [[0.2, 0.6], [0.7, 1.1]])
    assert out.extras.timing == "recogniser"
    out2 = glove.extract("Hello, world!", words)  # transcript agrees with the recognised words
    assert out2.extras.timing == "given"


def test_missing_text_has_reasons(glove):
    assert "empty" in glove.extract("  ").missing_reason
    assert "no transcript" in glove.extract(None).missing_reason
    assert "punctuation" in glove.extract("?!").missing_reason
    out = glove.extract("qwzxkj zzqqxv")
    assert not out.present and "vocabulary" in out.missing_reason and out.values.shape == (0, 50)
    with pytest.raises(FeatureError):
        glove.extract(42)


def test_user_glove_file_any_dimension(tmp_path, text_cache):
    # a GloVe-format text file (no header) with 3-d vectors, and a word2vec one with a header
    (tmp_path / "tiny.txt").write_text("hello 1 2 3\nworld 4 5 6\n")
    ex = TextExtractor(vectors=tmp_path / "tiny.txt")
    assert ex.dim == 3 and ex.spec_settings["vectors"] == "tiny.txt"
    np.testing.assert_allclose(ex.extract("hello world", span=(0, 1)).values, [[1, 2, 3], [4, 5, 6]])
    (tmp_path / "w2v.txt").write_text("2 4\nHello 1 0 0 1\nworld 0 1 1 0\n")
    ex2 = TextExtractor(vectors=tmp_path / "w2v.txt")
    assert ex2.dim == 4 and not ex2.lowercase
    np.testing.assert_allclose(ex2.lookup("Hello"), [1, 0, 0, 1])


def test_vectors_from_environment(tmp_path, text_cache, monkeypatch):
    (tmp_path / "env.txt").write_text("yes 0.5 0.5\n")
    monkeypatch.setenv("AUMDF_WORD_VECTORS", str(tmp_path / "env.txt"))
    assert TextExtractor().dim == 2


def test_bad_vector_files(tmp_path, text_cache):
    with pytest.raises(FeatureError, match="does not exist"):
        TextExtractor(vectors=tmp_path / "nope.txt")
    (tmp_path / "bad.txt").write_text("this is not\na vector file at all\n")
    with pytest.raises(FeatureError, match="could not read word vectors"):
        TextExtractor(vectors=tmp_path / "bad.txt")
