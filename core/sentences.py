"""Sentence boundaries shared by answers, prompts and minutes: Latin and CJK punctuation, and line ends.

Latin sentence ends need whitespace after them, so version numbers and domains ("Loomline 3.1",
"cloud.gov") stay whole; CJK ends need none. A line break ends a sentence (list items, table rows,
headings and transcript lines are units of their own) unless it only wraps prose: the line before
is long, ends without punctuation, and the next line starts no block of its own.
"""

from __future__ import annotations

import re

# After the end mark, a closing quote or bracket still belongs to the sentence.
_END = re.compile(
    r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)\]*_])|(?<=[.!?]\*\*))\s+|(?<=[。！？])(?![”’」』])|(?<=[。！？][”’」』])"
)
_LINE_BREAK = re.compile(r"[ \t]*\n\s*")
_BLOCK_START = re.compile(r"(?:[-*+•#|>]|\d+[.)]\s|[A-Z][\w .'-]{0,40}:\s)")
_UNIT_END = tuple(".!?:;。！？：；")
# How a wrapped line goes on: in lower case or with a link or bracket, after a word no sentence ends
# with, or indented under the list item it continues.
_CONTINUES = re.compile(r"[a-z(\[`\"'“‘]")
_OPEN_WORD = re.compile(
    r"\b(?:a|an|the|to|of|and|or|in|on|at|for|by|with|from|that|is|are|be|your|our|their|its|as|if|than)$",
    re.IGNORECASE,
)


def _soft_wrap(text: str, newline: re.Match[str]) -> bool:
    if newline.group().count("\n") > 1:
        return False  # a blank line ends a paragraph
    line_start = text.rfind("\n", 0, newline.start()) + 1
    line = text[line_start : newline.start()].strip()
    following = text[newline.end() : newline.end() + 48]
    if not line or line.endswith(_UNIT_END) or _BLOCK_START.match(following):
        return False
    indented = text[newline.start() : newline.end()].endswith((" ", "\t"))
    return bool(_CONTINUES.match(following) or _OPEN_WORD.search(line) or indented)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of each sentence of ``text``, whitespace trimmed, blanks skipped."""
    cuts = [(m.start(), m.end()) for m in _END.finditer(text)]
    cuts += [(m.start(), m.end()) for m in _LINE_BREAK.finditer(text) if not _soft_wrap(text, m)]
    spans: list[tuple[int, int]] = []
    position = 0
    for start, end in [*sorted(cuts), (len(text), len(text))]:
        if start < position:
            continue  # a line break right after an end mark: one cut
        piece = text[position:start]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((position + lead, position + len(piece.rstrip())))
        position = end
    return spans


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings (see ``sentence_spans``)."""
    return [text[start:end] for start, end in sentence_spans(text)]
