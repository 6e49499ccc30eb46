"""Edit-distance word alignment: known answers for WER and for timing a typed transcript."""

from __future__ import annotations

import numpy as np
import pytest

from features.types import Word
from features.word_align import align, edit_distance, normalise, time_words, word_error_rate, words_of


def test_normalise_and_words_of():
    assert normalise("Country.") == "country" and normalise("“Don’t”") == "don't" and normalise("7") == "seven"
    assert words_of("Place J3, please.") == ["place", "j", "three", "please"]
    assert words_of("...") == []


def test_align_known_answers():
    assert align(["a", "b", "c"], ["a", "b", "c"]) == [(0, 0), (1, 1), (2, 2)]
    assert align(["a", "b", "c"], ["a", "c"]) == [(0, 0), (1, None), (2, 1)]
    assert align(["a", "c"], ["a", "b", "c"]) == [(0, 0), (None, 1), (1, 2)]
    assert align(["a", "b"], ["a", "x"]) == [(0, 0), (1, 1)]  # a substitution pairs the two words
    assert align([], ["a"]) == [(None, 0)] and align(["a"], []) == [(0, None)]


def test_word_error_rate_known_answers():
    assert word_error_rate("ask not what", "ask not what") == 0.0
    assert word_error_rate("ask not what", "ask what") == pytest.approx(1 / 3)  # one deletion
    assert word_error_rate("ask not what", "ask knot what your") == pytest.approx(2 / 3)  # sub + insertion
    assert word_error_rate("lay blue at x four now", "Lay blue, at X4 now.") == 0.0  # normalised
    assert edit_distance(["a", "b"], ["b", "a"]) == 2
    with pytest.raises(ValueError, match="no words"):
        word_error_rate("", "a")


def test_time_words_pairs_substitutes_and_spreads_missing_words():
    heard = [Word("ask", 0.0, 0.3), Word("knot", 0.3, 0.6), Word("what", 1.0, 1.2)]
    times, paired = time_words(["ask", "not", "truly", "what"], heard)
    assert paired == 3  # ask = ask, not ~ knot (substitution), what = what
    np.testing.assert_allclose(times, [[0.0, 0.3], [0.3, 0.6], [0.6, 1.0], [1.0, 1.2]], atol=1e-6)
    # missing words at the ends share the recognised span's ends
    times, paired = time_words(["so", "ask", "me", "now"], [Word("ask", 1.0, 1.5), Word("me", 1.5, 2.0)])
    assert paired == 2
    np.testing.assert_allclose(times, [[1.0, 1.0], [1.0, 1.5], [1.5, 2.0], [2.0, 2.0]], atol=1e-6)
    times, paired = time_words(["a"], [])
    assert paired == 0 and np.isnan(times).all()
