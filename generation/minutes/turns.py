"""The speaker turns of a meeting document, from its ``metadata["turns"]`` spans or its ``Speaker: text`` lines."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.types import Document

# "Rahul Menon: ...", "**Rahul Menon:** ...", "张伟：..." at the start of a line.
_TURN_LINE = re.compile(
    r"^(?:\*\*)?(?P<speaker>[A-Z][\w'’.-]*(?:[ \t]+[A-Z][\w'’.-]*){0,3}|[\u4e00-\u9fff·]{2,6})(?:\*\*)?[ \t]*[:：](?:\*\*)?[ \t]*(?P<text>\S.*)$",
    re.MULTILINE,
)
# Transcription markup (QMSum/AMI: {disfmarker}, {vocalsound}) and the spaces it leaves before punctuation.
_MARKUP = re.compile(r"\{\w+\}")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.?!;:])")
_NOT_SPEAKERS = {"date", "attendees", "participants", "agenda", "note", "notes", "time", "location", "日期", "参会人", "与会者"}


def clean(text: str) -> str:
    """Turn text for reading: transcription markup removed, spacing normalised."""
    text = _MARKUP.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


@dataclass(frozen=True)
class MeetingTurn:
    index: int
    speaker: str
    text: str = ""
    start: int = 0
    end: int = 0

    def words(self) -> int:
        return word_count(self.text)


def word_count(text: str) -> int:
    """Words, counting two Chinese characters as one (about the length of a Chinese word)."""
    return len(text) // 2 if re.search(r"[\u4e00-\u9fff]", text) else len(text.split())


def meeting_turns(document: Document) -> list[MeetingTurn]:
    """Turns with their text (speaker prefix removed) and character span in ``document.text``."""
    spans = document.metadata.get("turns") or []
    text = document.text
    turns: list[MeetingTurn] = []
    if spans and text:
        for i, span in enumerate(spans):
            raw = text[span["start"] : span["end"]]
            speaker = span.get("speaker") or ""
            body = raw[len(speaker) + 1 :].strip() if speaker and raw.startswith(speaker) else raw.strip()
            turns.append(MeetingTurn(i, speaker, clean(body), span["start"], span["end"]))
        return turns
    for match in _TURN_LINE.finditer(text):
        speaker = match.group("speaker").strip()
        if speaker.casefold() in _NOT_SPEAKERS:
            continue
        turns.append(MeetingTurn(len(turns), speaker, clean(match.group("text")), match.start(), match.end()))
    return turns or _paragraphs(text)


_PARAGRAPH = re.compile(r"[^\n]+(?:\n(?!\s*\n)[^\n]+)*")


def _paragraphs(text: str) -> list[MeetingTurn]:
    """Prose notes without speaker lines: each paragraph (not a heading or a header field) is a turn with no speaker."""
    turns: list[MeetingTurn] = []
    for match in _PARAGRAPH.finditer(text):
        body = match.group().strip()
        first = body.split(":", 1)[0].strip("* ").casefold()
        if not body or body.startswith("#") or first in _NOT_SPEAKERS:
            continue
        turns.append(MeetingTurn(len(turns), "", clean(body), match.start(), match.end()))
    return turns
