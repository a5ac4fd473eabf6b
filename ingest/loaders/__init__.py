"""File loaders: a path in, a ``Document`` out, or an ``IngestError`` saying why not.

One module per format family; each loader is registered here for its suffixes.
Bad input (empty, binary, undecodable, corrupt, encrypted, too large,
unreadable) raises ``IngestError`` naming the file and the reason; the pipeline
reports it and goes on with the rest of the batch.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from core.errors import IngestError
from core.types import Document
from ingest.loaders.base import Parsed, Turn, render_transcript
from ingest.loaders.html import html
from core.language import detect_language
from ingest.loaders.mail import eml
from ingest.loaders.office import docx, pptx
from ingest.loaders.pdf import pdf
from ingest.loaders.records import csv_records, json_document, jsonl_records
from ingest.loaders.subtitles import subtitles
from ingest.loaders.text import markdown, plain_text

__all__ = [
    "DEFAULT_MAX_BYTES", "LOADERS", "Parsed", "Turn", "detect_language", "file_hash", "load_document",
    "meeting_fields", "meeting_sections", "render_transcript", "supported_suffixes",
]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024

Loader = Callable[[Path, bytes], Parsed]

LOADERS: dict[str, Loader] = {
    ".md": markdown,
    ".markdown": markdown,
    ".txt": plain_text,
    ".html": html,
    ".htm": html,
    ".pdf": pdf,
    ".docx": docx,
    ".pptx": pptx,
    ".eml": eml,
    ".csv": csv_records,
    ".json": json_document,
    ".jsonl": jsonl_records,
    ".vtt": subtitles,
    ".srt": subtitles,
}

_FIELD = re.compile(r"^\s*(?:\*\*)?(Date|Attendees|Participants)(?:\*\*)?\s*:\s*(?:\*\*)?\s*(.+?)\s*$", re.I | re.M)


_SECTION_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$|^\s*(?:\*\*)?([A-Za-z][A-Za-z ]{2,30}?)(?:\*\*)?\s*:\s*$")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(.+?)\s*$")  # "- [ ] task" is a to-do
MEETING_SECTIONS = {"decisions": "decisions", "decision": "decisions", "action items": "action_items",
                    "actions": "action_items", "action item": "action_items", "next steps": "action_items"}


def meeting_sections(text: str) -> dict[str, list[str]]:
    """Bullet lists under "Decisions" and "Action items" headings (Markdown ``##`` or ``Decisions:`` lines)."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        heading = _SECTION_HEADING.match(line)
        if heading:
            current = MEETING_SECTIONS.get((heading.group(1) or heading.group(2)).strip().lower())
            continue
        bullet = _BULLET.match(line)
        if current and bullet:
            found.setdefault(current, []).append(bullet.group(1))
    return found


def supported_suffixes() -> frozenset[str]:
    return frozenset(LOADERS)


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


# Half of a UTF-16 surrogate pair on its own: JSON can spell one ("\\ud800"), but it is no
# character, and no UTF-8 store, index or response can hold it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value):
    """``value`` (text, or a list or dict of them) with each lone surrogate replaced by U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def read_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The file's bytes, refusing files over ``max_bytes`` before reading them."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(path, f"file is {size} bytes, over the {max_bytes}-byte limit")
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(path, f"cannot read file: {exc.strerror or exc}") from None


def load_document(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, data: bytes | None = None,
                  source: str | None = None) -> Document:
    """Parse one file (``data``: its bytes when already read). ``source`` names the document (default:
    its resolved path; an upload keeps the client's file name). Raises IngestError for anything
    that cannot become a document."""
    path = Path(path)
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise IngestError(path, f"unsupported file type {path.suffix or '(none)'!r}")
    if data is None:
        data = read_file(path, max_bytes)
    try:
        parsed = loader(path, data)
    except IngestError:
        raise
    except (MemoryError, RecursionError) as exc:
        raise IngestError(path, f"file too complex to parse: {type(exc).__name__}") from None
    except Exception as exc:  # a parser library's own error on malformed input: report it, keep the batch going
        raise IngestError(path, f"cannot parse {path.suffix} file: {type(exc).__name__}: {exc}") from None
    text, title, metadata = _without_surrogates(parsed.text), _without_surrogates(parsed.title), \
        _without_surrogates(dict(parsed.metadata))
    kind = parsed.kind
    if kind == "document":
        header = meeting_fields(text)
        for key, value in header.items():
            metadata.setdefault(key, value)
        if header.get("attendees"):
            kind = "meeting"
            metadata.update({k: v for k, v in meeting_sections(text).items() if k not in metadata})
    source = source or str(path.resolve())
    return Document(
        id=Document.make_id(source),
        source=source,
        title=title,
        text=text,
        content_hash=file_hash(data),
        kind=kind,
        language=detect_language(text),
        metadata=metadata,
    )
