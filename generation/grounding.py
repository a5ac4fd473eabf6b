"""Checks an answer against the sources it was given: every sentence cited, its facts in the sources.

Small models forget markers and invent specifics. Two rules, applied after generation:

* **Attribution.** A sentence without a marker is given the source whose words it shares most
  (content words, case-folded), when it shares at least ``ATTRIBUTION_OVERLAP`` of them;
  otherwise it is listed as unsupported.
* **Specifics.** Numbers and capitalised names in the answer must occur in the sources the
  model was shown. An answer whose specifics are mostly absent made them up: it is replaced by
  the abstention sentence, and the rule that fired is reported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.types import Passage
from generation.citations import parse_markers

# Share of a sentence's content words one source must hold for the sentence to be attributed to it.
ATTRIBUTION_OVERLAP = 0.5
# Share of the answer's specifics (numbers, names) that may be missing from every source.
MISSING_SPECIFICS_ALLOWED = 0.5

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*\b")
_STOPWORDS = frozenset(
    "a an the of to in on at for by with from and or but is are was were be been being has have had do does "
    "did it its this that these those as not no so if then than which who whom whose what when where why how "
    "i you he she we they them his her their our your my me us can could would should will may might must "
    "about into over under after before also there here all any each some such only just very".split()
)


@dataclass(frozen=True)
class Grounding:
    text: str  # the answer with a marker added to each sentence that was attributed
    cited: list[int]  # source numbers cited, first-seen order
    attributed: list[int] = field(default_factory=list)  # numbers added by attribution, not by the model
    unsupported: list[str] = field(default_factory=list)  # sentences no source supports
    missing_specifics: list[str] = field(default_factory=list)  # numbers and names found in no source


def sentences(text: str) -> list[str]:
    """``text`` split after sentence-ending punctuation (Latin and CJK)."""
    return [part for part in _SENTENCE_END.split(text.strip()) if part.strip()]


def end_at_sentence(text: str) -> str:
    """``text`` up to its last complete sentence (an answer cut off by the token limit); unchanged
    when it has no sentence end at all."""
    stripped = text.rstrip()
    if not stripped or stripped[-1] in ".!?。！？" or re.search(r"[\]】]$", stripped):
        return stripped
    ends = [m.end() for m in re.finditer(r"[.!?。！？](?:\s*[\[【][^\]】]*[\]】])?(?=\s|$)", stripped)]
    return stripped[: ends[-1]] if ends else stripped


def _content_words(text: str) -> set[str]:
    words = {w.casefold() for w in _WORD.findall(text)}
    cjk = {ch for ch in text if "\u4e00" <= ch <= "\u9fff"}  # Chinese: characters stand for words
    return {w for w in words if w not in _STOPWORDS and not ("\u4e00" <= w[0] <= "\u9fff")} | cjk


def _strip_markers(text: str) -> str:
    for marker in reversed(parse_markers(text)):
        text = text[: marker.start] + text[marker.end :]
    return text


def specifics(text: str) -> list[str]:
    """Numbers and capitalised names in ``text``; a sentence's first word counts only as part of a
    longer name (it is capitalised anyway)."""
    text = _strip_markers(text)  # "[1]" is a citation, not a number the answer states
    found: list[str] = [m.group() for m in _NUMBER.finditer(text)]
    for sentence in sentences(text):
        for match in _NAME.finditer(sentence):
            name = match.group()
            if match.start() == len(sentence) - len(sentence.lstrip()) and " " not in name:
                continue
            if name.casefold() not in _STOPWORDS:
                found.append(name)
    return list(dict.fromkeys(found))


def ground(text: str, sources: Sequence[Passage]) -> Grounding:
    """Attribute unmarked sentences of ``text`` to ``sources`` (numbered from 1) and find the
    specifics no source holds."""
    source_words = [_content_words(p.text) for p in sources]
    pieces: list[str] = []
    cited: list[int] = []
    attributed: list[int] = []
    unsupported: list[str] = []
    for sentence in sentences(text):
        markers = parse_markers(sentence)
        if markers:
            cited.extend(n for m in markers for n in m.numbers if 1 <= n <= len(sources))
            pieces.append(sentence)
            continue
        words = _content_words(sentence)
        best, share = 0, 0.0
        for number, held in enumerate(source_words, 1):
            overlap = len(words & held) / len(words) if words else 0.0
            if overlap > share:
                best, share = number, overlap
        if best and share >= ATTRIBUTION_OVERLAP:
            pieces.append(_with_marker(sentence, best))
            cited.append(best)
            attributed.append(best)
        else:
            pieces.append(sentence)
            if words:
                unsupported.append(sentence)
    # What the model was shown: each source's heading (title, file) as well as its text.
    haystack = " ".join(f"{p.title} {p.source} {p.text}" for p in sources).casefold()
    missing = [s for s in specifics(text) if s.casefold() not in haystack]
    return Grounding(" ".join(pieces), list(dict.fromkeys(cited)), list(dict.fromkeys(attributed)),
                     unsupported, missing)


def invented(grounding: Grounding, text: str) -> bool:
    """Whether the answer's specifics are mostly absent from the sources (at least two missing)."""
    total = len(specifics(text))
    return len(grounding.missing_specifics) >= 2 and len(grounding.missing_specifics) > MISSING_SPECIFICS_ALLOWED * total


def _with_marker(sentence: str, number: int) -> str:
    body = sentence.rstrip()
    if body and body[-1] in ".!?。！？":
        return f"{body[:-1]} [{number}]{body[-1]}"
    return f"{body} [{number}]"
