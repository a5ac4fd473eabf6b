"""File loaders: a path in, a ``Document`` out, or an ``IngestError`` saying why not.

Each loader is registered for its file suffixes. Bad input (empty, binary,
undecodable, too large, unreadable) raises ``IngestError`` naming the file and
the reason; the pipeline reports it and goes on with the rest of the batch.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from core.errors import IngestError
from core.types import Document

DEFAULT_MAX_BYTES = 50 * 1024 * 1024

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FIELD = re.compile(r"^\s*(?:\*\*)?(Date|Attendees|Participants)(?:\*\*)?\s*:\s*(?:\*\*)?\s*(.+?)\s*$", re.I | re.M)

Loader = Callable[[Path, str], tuple[str, dict]]  # (path, decoded text) -> (title, metadata)


def _markdown_title(path: Path, text: str) -> tuple[str, dict]:
    match = _HEADING.search(text)
    return (match.group(1).strip() if match else path.stem), {}


def _text_title(path: Path, text: str) -> tuple[str, dict]:
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    # A short first line reads as a title; a paragraph does not.
    return (first_line if 0 < len(first_line) <= 100 else path.stem), {}


LOADERS: dict[str, Loader] = {
    ".md": _markdown_title,
    ".markdown": _markdown_title,
    ".txt": _text_title,
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
        return data.decode("utf-8-sig")
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
    text = _decode(path, data).replace("\r\n", "\n")
    title, metadata = loader(path, text)
    meeting = meeting_fields(text)
    metadata.update(meeting)
    source = str(path.resolve())
    return Document(
        id=Document.make_id(source),
        source=source,
        title=title,
        text=text,
        content_hash=file_hash(data),
        kind="meeting" if meeting.get("attendees") else "document",
        metadata=metadata,
    )
