"""Inline citation markers: parse [n], [n, m], [n-m] (and 【n】), drop the ones that point nowhere, map the rest.

Models, small ones especially, cite numbers that were never given to them. A
marker is only worth showing when it resolves to a source the model actually
read, so unresolvable numbers are removed from the text instead of rendered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.types import Citation, Passage

SNIPPET_CHARS = 200
# A range wider than this is a hallucination, not a citation; keep its endpoints only.
_MAX_RANGE = 50

_NUMBER_LIST = r"\d+(?:\s*(?:[-–—~]|,|，|、|;|；)\s*\d+)*"
# Optional "Source"/"来源" prefix: models echo the heading style of the prompt.
_MARKER = re.compile(
    rf"[\[【]\s*(?:(?:sources?|refs?|来源|资料)\s*[:：]?\s*)?({_NUMBER_LIST})\s*[\]】]",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"\s*(?:,|，|、|;|；)\s*")
_RANGE = re.compile(r"(\d+)\s*[-–—~]\s*(\d+)")


@dataclass(frozen=True)
class Marker:
    """A citation marker found in text: its span and the numbers it names, in order."""

    start: int
    end: int
    numbers: tuple[int, ...]


def _expand(spec: str) -> list[int]:
    numbers: list[int] = []
    for part in _SEPARATOR.split(spec.strip()):
        span = _RANGE.fullmatch(part)
        if span:
            low, high = sorted((int(span.group(1)), int(span.group(2))))
            numbers.extend(range(low, high + 1) if high - low <= _MAX_RANGE else (low, high))
        elif part.isdigit():
            numbers.append(int(part))
    return list(dict.fromkeys(numbers))  # unique, first-seen order


def parse_markers(text: str) -> list[Marker]:
    """Every citation marker in ``text``, left to right."""
    return [Marker(m.start(), m.end(), tuple(_expand(m.group(1)))) for m in _MARKER.finditer(text)]


def clean_citations(text: str, source_count: int) -> tuple[str, list[int]]:
    """Remove markers naming no source in 1..``source_count``; return the text and cited numbers.

    A marker whose numbers are all valid is kept as written; one with some invalid
    numbers is rewritten to the valid ones ("[1, 2]"); one with none is removed
    together with the space before it, so "Paris [7]." becomes "Paris.".
    """
    pieces: list[str] = []
    cited: list[int] = []
    position = 0
    for marker in parse_markers(text):
        valid = [n for n in marker.numbers if 1 <= n <= source_count]
        before = text[position : marker.start]
        if valid and len(valid) == len(marker.numbers):
            pieces.append(before + text[marker.start : marker.end])
        elif valid:
            pieces.append(before + "[" + ", ".join(map(str, valid)) + "]")
        else:
            pieces.append(before.rstrip(" \t"))
        cited.extend(valid)
        position = marker.end
    pieces.append(text[position:])
    return "".join(pieces), list(dict.fromkeys(cited))


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """``text`` on one line, at most ``limit`` characters, cut at a word boundary when possible."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def map_citations(numbers: Sequence[int], sources: Sequence[Passage]) -> tuple[Citation, ...]:
    """One ``Citation`` per number (1-based into ``sources``); numbers outside the range are skipped."""
    citations = []
    for number in dict.fromkeys(numbers):
        if not 1 <= number <= len(sources):
            continue
        passage = sources[number - 1]
        citations.append(
            Citation(
                number=number,
                chunk_id=passage.chunk_id,
                document_id=passage.document_id,
                source=passage.source,
                start=passage.start,
                end=passage.end,
                snippet=snippet(passage.text),
            )
        )
    return tuple(citations)
