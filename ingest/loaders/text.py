"""Markdown, plain text and plain-text transcripts (``Speaker: words`` lines, optional timestamps)."""

from __future__ import annotations

import re
from pathlib import Path

from ingest.loaders.base import Parsed, Turn, decode, transcript

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
# "[00:01:02] Ana Ruiz: words", "00:01:02 Ana: words", "Ana Ruiz: words". A speaker
# name is short and starts with a capital letter or digit (Speaker 1, PM, Dr. Lee).
_TRANSCRIPT_LINE = re.compile(
    r"^\s*(?:\[?(?P<time>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)\]?\s*[-–]?\s*)?"
    r"(?P<speaker>[A-Z0-9][\w.'’ -]{0,39}?)\s*:\s+(?P<text>\S.*)$"
)
# Header fields of meeting notes look like speaker lines; they are not turns.
_NOT_SPEAKERS = {"date", "attendees", "participants", "subject", "title", "time", "location", "agenda", "note", "notes"}
TRANSCRIPT_SHARE = 0.6  # share of non-empty lines that must look like turns
TRANSCRIPT_MIN_TURNS = 3


def markdown(path: Path, data: bytes) -> Parsed:
    text = decode(path, data)
    match = _HEADING.search(text)
    return Parsed(text=text, title=match.group(1).strip() if match else path.stem)


def plain_text(path: Path, data: bytes) -> Parsed:
    text = decode(path, data)
    turns = transcript_turns(text)
    if turns is not None:
        return transcript(path, turns, title=path.stem, fmt="transcript")
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    # A short first line reads as a title; a paragraph does not.
    return Parsed(text=text, title=first_line if 0 < len(first_line) <= 100 else path.stem)


def transcript_turns(text: str) -> list[Turn] | None:
    """Turns when most non-empty lines read ``[time] Speaker: words``; else None.

    A line that does not match continues the previous turn (wrapped text).
    """
    lines = [line for line in text.splitlines() if line.strip()]
    turns: list[Turn] = []
    matched = 0
    for line in lines:
        match = _TRANSCRIPT_LINE.match(line)
        if match and match.group("speaker").strip().lower() not in _NOT_SPEAKERS:
            matched += 1
            turns.append(Turn(speaker=match.group("speaker").strip(), text=match.group("text").strip(),
                              time=match.group("time")))
        elif turns:
            last = turns[-1]
            turns[-1] = Turn(last.speaker, f"{last.text} {line.strip()}", last.time)
    if matched < TRANSCRIPT_MIN_TURNS or matched < TRANSCRIPT_SHARE * len(lines):
        return None
    return turns
