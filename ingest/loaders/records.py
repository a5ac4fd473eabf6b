"""CSV and JSON records, and QMSum meeting JSON.

A record (CSV row, JSON object) becomes a section: a ``##`` heading, then one
``field: value`` line per field, so each record is found, chunked and cited on its own.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from core.errors import IngestError
from ingest.loaders.base import Parsed, Turn, decode, transcript

# Fields whose value names a record well enough to be its heading.
_NAME_FIELDS = ("title", "name", "subject", "id", "key")
MAX_VALUE_CHARS = 2000


def _value(value) -> str:
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    return " ".join(str(value).split())[:MAX_VALUE_CHARS]


def render_records(records: list[dict], title: str) -> str:
    sections = [f"# {title}"]
    for number, record in enumerate(records, 1):
        lowered = {str(k).lower(): v for k, v in record.items()}
        name = next((_value(lowered[f]) for f in _NAME_FIELDS if lowered.get(f) not in (None, "")), "")
        heading = f"Record {number}: {name}" if name else f"Record {number}"
        lines = [f"{key}: {_value(value)}" for key, value in record.items() if value not in (None, "")]
        sections.append(f"## {heading}\n\n" + "\n".join(lines))
    return "\n\n".join(sections)


def csv_records(path: Path, data: bytes) -> Parsed:
    text = decode(path, data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.DictReader(io.StringIO(text), dialect=dialect))
    except csv.Error as exc:
        raise IngestError(path, f"malformed CSV: {exc}") from None
    records = [{k: v for k, v in row.items() if k is not None} for row in rows]
    records = [r for r in records if any((v or "").strip() for v in r.values())]
    if not records:
        raise IngestError(path, "CSV file has a header but no rows")
    return Parsed(text=render_records(records, path.stem), title=path.stem,
                  metadata={"format": "csv", "record_count": len(records), "fields": list(records[0])})


def json_document(path: Path, data: bytes) -> Parsed:
    try:
        payload = json.loads(decode(path, data))
    except json.JSONDecodeError as exc:
        raise IngestError(path, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if isinstance(payload, dict) and isinstance(payload.get("meeting_transcripts"), list):
        return _qmsum_meeting(path, payload)
    records = _records_in(payload)
    if not records:
        raise IngestError(path, "JSON file is not a recognised document shape "
                                "(expected a QMSum-style meeting, an array of objects or an object)")
    return Parsed(text=render_records(records, path.stem), title=path.stem,
                  metadata={"format": "json", "record_count": len(records)})


def jsonl_records(path: Path, data: bytes) -> Parsed:
    records = []
    for number, line in enumerate(decode(path, data).splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(path, f"invalid JSON on line {number}: {exc.msg}") from None
        if isinstance(value, dict) and value:
            records.append(value)
    if not records:
        raise IngestError(path, "JSON Lines file has no objects")
    return Parsed(text=render_records(records, path.stem), title=path.stem,
                  metadata={"format": "jsonl", "record_count": len(records)})


def _records_in(payload) -> list[dict]:
    """An array of objects; an object holding one array of objects; or one object as a single record."""
    if isinstance(payload, list):
        return [item for item in payload if isinstance(item, dict) and item]
    if isinstance(payload, dict) and payload:
        arrays = [v for v in payload.values() if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)]
        if len(arrays) == 1:
            return [item for item in arrays[0] if item]
        return [payload]
    return []


def _qmsum_meeting(path: Path, payload: dict) -> Parsed:
    """A QMSum meeting file: ``meeting_transcripts`` is the list of ``{speaker, content}`` turns."""
    turns = [
        Turn(speaker=str(t.get("speaker") or "Unknown").strip(), text=" ".join(str(t.get("content", "")).split()))
        for t in payload["meeting_transcripts"]
        if isinstance(t, dict)
    ]
    if not any(t.text for t in turns):
        raise IngestError(path, "meeting transcript has no turns with text")
    return transcript(path, turns, title=path.stem, fmt="qmsum")
