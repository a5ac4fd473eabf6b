"""Shared pieces of the loaders: what a loader returns, transcript turns, and text decoding."""

from __future__ import annotations

import codecs

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


# Byte-order marks, the longer first (UTF-32 LE starts with the UTF-16 LE mark).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def text_encoding(data: bytes) -> tuple[str, int]:
    """The encoding a text file's byte-order mark names (UTF-8 without one) and the mark's length."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return "utf-8", 0


def check_text_bytes(path: Path, data: bytes) -> None:
    """Refuse an empty file (a byte-order mark alone is empty too) or one with NUL bytes anywhere;
    UTF-16 and UTF-32 text, which is full of NUL bytes, is checked once decoded."""
    encoding, bom = text_encoding(data)
    if not data[bom:].strip():
        raise IngestError(path, "empty file")
    if encoding in ("utf-8", "utf-8-sig") and b"\x00" in data:
        raise IngestError(path, "binary content (NUL bytes) in a text file")


def decode(path: Path, data: bytes) -> str:
    """Text (UTF-8, or UTF-8/16/32 named by a byte-order mark, which is dropped; line ends
    normalised), or an IngestError saying why not."""
    check_text_bytes(path, data)
    encoding, _ = text_encoding(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        label = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
        raise IngestError(path, f"not valid {label} text (byte {exc.start}: {exc.reason})") from None
    if "\x00" in text:
        raise IngestError(path, "binary content (NUL characters) in a text file")
    if not text.strip():
        raise IngestError(path, "empty file")
    return text.replace("\r\n", "\n")


def tidy(text: str) -> str:
    """Collapse runs of blank lines and trailing spaces left by markup converters."""
    text = re.sub(r"[ \t\u00a0]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def require_text(path: Path, text: str, what: str = "no text after parsing") -> str:
    if not text.strip():
        raise IngestError(path, what)
    return text
