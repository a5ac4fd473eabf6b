"""Shared pieces of the loaders: what a loader returns, transcript turns, and text decoding."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import IngestError


@dataclass
class Parsed:
    """What a loader extracts from a file, before Lore gives it an id.

    ``text`` uses Markdown ``#`` headings for the document's structure (whatever
    the source format), so the chunker derives every chunk's heading path the same way.
    """

    text: str
    title: str
    kind: str = "document"
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """One speaker turn of a meeting transcript, located in the rendered document text."""

    speaker: str
    text: str
    time: str | None = None
    time_end: str | None = None


def render_transcript(turns: list[Turn]) -> tuple[str, list[dict]]:
    """Document text with one ``Speaker: words`` line per turn, and each turn's character span in it.

    The spans are stored as ``metadata["turns"]``; the chunker cuts on them so
    a chunk always holds whole turns and knows which turns (and speakers) it covers.
    """
    lines: list[str] = []
    spans: list[dict] = []
    offset = 0
    for turn in turns:
        line = f"{turn.speaker}: {turn.text}"
        span = {"speaker": turn.speaker, "start": offset, "end": offset + len(line)}
        if turn.time:
            span["time"] = turn.time
        if turn.time_end:
            span["time_end"] = turn.time_end
        spans.append(span)
        lines.append(line)
        offset += len(line) + 1
    return "\n".join(lines), spans


def transcript(path: Path, turns: list[Turn], title: str, fmt: str, **metadata) -> Parsed:
    """A meeting document from its turns (refusing a transcript with nothing said)."""
    turns = [t for t in turns if t.text]
    if not turns:
        raise IngestError(path, "transcript has no turns with text")
    text, spans = render_transcript(turns)
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    return Parsed(text=text, title=title, kind="meeting",
                  metadata={"turns": spans, "attendees": speakers, "format": fmt, **metadata})


def check_text_bytes(path: Path, data: bytes) -> None:
    if not data.strip():
        raise IngestError(path, "empty file")
    if b"\x00" in data[:8192]:
        raise IngestError(path, "binary content (NUL bytes) in a text file")


def decode(path: Path, data: bytes) -> str:
    """UTF-8 text (a BOM is dropped, line ends normalised), or an IngestError saying why not."""
    check_text_bytes(path, data)
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        raise IngestError(path, f"not valid UTF-8 text (byte {exc.start}: {exc.reason})") from None


def tidy(text: str) -> str:
    """Collapse runs of blank lines and trailing spaces left by markup converters."""
    text = re.sub(r"[ \t\u00a0]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def require_text(path: Path, text: str, what: str = "no text after parsing") -> str:
    if not text.strip():
        raise IngestError(path, what)
    return text
