"""Edit-distance alignment of two word sequences: word error rate, and times for a typed transcript.

A transcript the user types has no times; the recogniser's words do. `time_words` aligns the typed
words to the recognised ones (Levenshtein alignment on normalised words, substitutions allowed) and
gives each typed word the time of the recognised word it is paired with; typed words the recogniser
missed share the gap between their timed neighbours. This replaces a separate forced aligner: one
recogniser pass gives the words, their times, and the times of any edited transcript.

    word_error_rate("ask not what", "ask what")          -> 1/3
    time_words(["ask", "not"], [Word("ask", 0, .3), Word("knot", .3, .6)])   -> [[0, .3], [.3, .6]]
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Sequence

import numpy as np

from features.types import Word

_NUMBERS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
            "7": "seven", "8": "eight", "9": "nine", "10": "ten"}


def normalise(word: str) -> str:
    """Lower case, letters/digits/apostrophes only, curly quotes straightened, single digits spelt out."""
    w = re.sub(r"[^a-z0-9']", "", word.lower().replace("\u2019", "'")).strip("'")
    return _NUMBERS.get(w, w)


def words_of(text: str) -> list[str]:
    """Normalised words of a sentence, empty ones dropped; a letter glued to digits is split, as it is said:
    "Don't forget a jacket." -> [don't, forget, a, jacket]; "Place J3" -> [place, j, three]."""
    parts = re.findall(r"[a-z']+|\d+", text.lower().replace("\u2019", "'"))
    return [w for w in (normalise(t) for t in parts) if w]


def _sub_cost(a: str, b: str, weighted: bool) -> float:
    if a == b:
        return 0.0
    if not weighted:
        return 1.0
    # 0 .. 2 by spelling: "not" / "knot" pair (0.29), while two unrelated words cost as much as leaving
    # one out and inserting the other (2), so an exact match is not traded for two loose pairings
    return 2.0 * (1.0 - SequenceMatcher(None, a, b).ratio())


def align(ref: Sequence[str], hyp: Sequence[str], weighted: bool = False) -> list[tuple[int | None, int | None]]:
    """Minimum-edit alignment: pairs (i, j) of matched/substituted words, (i, None) deletions, (None, j) insertions.

    weighted=False: every edit costs 1 (word error rate). weighted=True: a substitution costs 0..2 by how
    unlike the two spellings are, so typed words pair with the recognised words they most resemble.
    Ties prefer a match or substitution over a deletion over an insertion, so equal sequences pair 1:1.
    """
    n, m = len(ref), len(hyp)
    d = np.zeros((n + 1, m + 1))  # d[i, j]: cost between ref[:i] and hyp[:j]
    d[:, 0], d[0, :] = np.arange(n + 1), np.arange(m + 1)
    sub = np.array([[_sub_cost(r, h, weighted) for h in hyp] for r in ref]).reshape(n, m)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j - 1] + sub[i - 1, j - 1], d[i - 1, j] + 1, d[i, j - 1] + 1)
    pairs: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and np.isclose(d[i, j], d[i - 1, j - 1] + sub[i - 1, j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i > 0 and np.isclose(d[i, j], d[i - 1, j] + 1):
            pairs.append((i - 1, None))
            i -= 1
        else:
            pairs.append((None, j - 1))
            j -= 1
    return pairs[::-1]


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Substitutions + deletions + insertions of the minimum-edit alignment."""
    return sum(1 for i, j in align(ref, hyp) if i is None or j is None or ref[i] != hyp[j])


def word_error_rate(ref: str | Sequence[str], hyp: str | Sequence[str]) -> float:
    """(S + D + I) / N over normalised words; ref may not be empty."""
    r = words_of(ref) if isinstance(ref, str) else [normalise(w) for w in ref]
    h = words_of(hyp) if isinstance(hyp, str) else [normalise(w) for w in hyp]
    if not r:
        raise ValueError("the reference has no words")
    return edit_distance(r, h) / len(r)


def time_words(tokens: Sequence[str], recognised: Sequence[Word]) -> tuple[np.ndarray, int]:
    """Times [n, 2] for typed `tokens` from recognised words, and how many tokens were paired with one.

    Several tokens of one recognised word (e.g. "don't" -> "do", "n't") are compared with the word's
    tokens, so pass both sides as tokens when they come from the same tokenizer. Unpaired tokens are
    spread over the gap between their neighbours' times (the clip's recognised span at the ends).
    """
    n = len(tokens)
    times = np.full((n, 2), np.nan, np.float64)
    if n == 0 or not recognised:
        return times.astype(np.float32), 0
    hyp = [normalise(w.text) for w in recognised]
    paired = 0
    for i, j in align([normalise(t) for t in tokens], hyp, weighted=True):
        if i is not None and j is not None:
            times[i] = recognised[j].start, recognised[j].end
            paired += 1
    lo, hi = float(recognised[0].start), float(recognised[-1].end)
    i = 0
    while i < n:
        if not np.isnan(times[i, 0]):
            i += 1
            continue
        k = i
        while k < n and np.isnan(times[k, 0]):
            k += 1
        start = times[i - 1, 1] if i > 0 else lo
        end = times[k, 0] if k < n else hi
        start, end = min(start, end), max(start, end)
        edges = np.linspace(start, end, k - i + 1)
        times[i:k, 0], times[i:k, 1] = edges[:-1], edges[1:]
        i = k
    return times.astype(np.float32), paired
