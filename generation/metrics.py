"""Answer quality metrics: SQuAD-style exact match and token F1, citation and abstention accuracy.

One implementation for every caller (``lore finetune --eval``, benchmarks, tests).
Normalisation follows the SQuAD v1.1 evaluation script (lower case, no
punctuation, no English articles, single spaces), with punctuation read as Unicode
defines it, so "15:00–17:00" splits at its en dash as "15:00-17:00" does; and, like the CMRC 2018 script,
counts each Chinese character as one token, so the same F1 works for both
languages. Citation markers are stripped before scoring: they are judged
separately by ``cites``.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable

from generation.citations import parse_markers

_ARTICLES = re.compile(r"\b(a|an|the)\b")
# ASCII punctuation as the SQuAD script strips it ("$", "+", "|" are symbols to Unicode), and every
# Unicode punctuation mark: dashes, curly quotes, CJK marks (，。《》).
_ASCII_PUNCTUATION = frozenset(string.punctuation)
# A CJK ideograph is a token of its own; runs of anything else split on spaces.
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\s\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def strip_markers(text: str) -> str:
    """``text`` without its citation markers ([1], [2, 3], 【1】)."""
    for marker in reversed(parse_markers(text)):
        text = text[: marker.start] + text[marker.end :]
    return text


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, collapse whitespace."""
    text = strip_markers(text).casefold()
    text = "".join(" " if _is_punctuation(ch) else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _is_punctuation(ch: str) -> bool:
    return ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P")


def answer_tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalize_answer(text))


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall after normalisation (SQuAD / CMRC F1)."""
    predicted, expected = answer_tokens(prediction), answer_tokens(gold)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_of(metric, prediction: str, golds: Iterable[str]) -> float:
    """The best score against any of several acceptable answers (CMRC lists several)."""
    return max((metric(prediction, gold) for gold in golds), default=0.0)


def cites(cited: Iterable[int], oracle: int | None) -> float:
    """1.0 when the oracle source's number is among the cited numbers."""
    return float(oracle is not None and oracle in set(cited))


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0
