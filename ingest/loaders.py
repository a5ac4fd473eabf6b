"""File loaders: a path in, a ``Document`` out, or an ``IngestError`` saying why not.

Each loader is registered for its file suffixes. Bad input (empty, binary,
undecodable, too large, unreadable) raises ``IngestError`` naming the file and
the reason; the pipeline reports it and goes on with the rest of the batch.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import IngestError
from core.types import Document

DEFAULT_MAX_BYTES = 50 * 1024 * 1024

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FIELD = re.compile(r"^\s*(?:\*\*)?(Date|Attendees|Participants)(?:\*\*)?\s*:\s*(?:\*\*)?\s*(.+?)\s*$", re.I | re.M)

@dataclass
class Parsed:
    """What a loader extracts from a file, before Lore gives it an id."""

    text: str
    title: str
    kind: str = "document"
    metadata: dict = field(default_factory=dict)


Loader = Callable[[Path, bytes], Parsed]


@dataclass(frozen=True)
class Turn:
    """One speaker turn of a meeting transcript, located in the rendered document text."""

    speaker: str
    text: str
    time: str | None = None


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
        spans.append(span)
        lines.append(line)
        offset += len(line) + 1
    return "\n".join(lines), spans


def _markdown(path: Path, data: bytes) -> Parsed:
    text = _decode(path, data)
    match = _HEADING.search(text)
    return Parsed(text=text, title=match.group(1).strip() if match else path.stem)


def _plain_text(path: Path, data: bytes) -> Parsed:
    text = _decode(path, data)
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    # A short first line reads as a title; a paragraph does not.
    return Parsed(text=text, title=first_line if 0 < len(first_line) <= 100 else path.stem)


def _json(path: Path, data: bytes) -> Parsed:
    try:
        payload = json.loads(_decode(path, data))
    except json.JSONDecodeError as exc:
        raise IngestError(path, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if isinstance(payload, dict) and isinstance(payload.get("meeting_transcripts"), list):
        return _qmsum_meeting(path, payload)
    raise IngestError(path, "JSON file is not a recognised document shape (expected a QMSum-style meeting)")


def _qmsum_meeting(path: Path, payload: dict) -> Parsed:
    """A QMSum meeting file: ``meeting_transcripts`` is the list of ``{speaker, content}`` turns."""
    turns = [
        Turn(speaker=str(t.get("speaker") or "Unknown").strip(), text=" ".join(str(t.get("content", "")).split()))
        for t in payload["meeting_transcripts"]
        if isinstance(t, dict)
    ]
    if not any(t.text for t in turns):
        raise IngestError(path, "meeting transcript has no turns with text")
    text, spans = render_transcript(turns)
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    return Parsed(
        text=text,
        title=path.stem,
        kind="meeting",
        metadata={"turns": spans, "attendees": speakers, "format": "qmsum"},
    )


LOADERS: dict[str, Loader] = {
    ".md": _markdown,
    ".markdown": _markdown,
    ".txt": _plain_text,
    ".json": _json,
}


def supported_suffixes() -> frozenset[str]:
    return frozenset(LOADERS)


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _decode(path: Path, data: bytes) -> str:
    if not data.strip():
        raise IngestError(path, "empty file")
    if b"\x00" in data[:8192]:
        raise IngestError(path, "binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        raise IngestError(path, f"not valid UTF-8 text (byte {exc.start}: {exc.reason})") from None


def meeting_fields(text: str) -> dict:
    """Date and attendees from a meeting-notes header, if the document has them."""
    fields: dict = {}
    for match in _FIELD.finditer(text[:4000]):
        key, value = match.group(1).lower(), match.group(2).strip()
        if key == "date" and "date" not in fields:
            fields["date"] = value
        elif key in ("attendees", "participants") and "attendees" not in fields:
            fields["attendees"] = [name.strip(" .*") for name in re.split(r",|;| and ", value) if name.strip(" .*")]
    return fields


def load_document(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Parse one file. Raises IngestError for anything that cannot become a document."""
    path = Path(path)
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise IngestError(path, f"unsupported file type {path.suffix or '(none)'!r}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(path, f"file is {size} bytes, over the {max_bytes}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(path, f"cannot read file: {exc.strerror or exc}") from None
    parsed = loader(path, data)
    metadata = dict(parsed.metadata)
    kind = parsed.kind
    if kind == "document":
        header = meeting_fields(parsed.text)
        metadata.update(header)
        if header.get("attendees"):
            kind = "meeting"
    source = str(path.resolve())
    return Document(
        id=Document.make_id(source),
        source=source,
        title=parsed.title,
        text=parsed.text,
        content_hash=file_hash(data),
        kind=kind,
        metadata=metadata,
    )
