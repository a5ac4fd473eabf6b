"""Metadata filters for search: which documents a query may return chunks from.

Every filter is a property of a document (kind, source, date, language,
attendees/authors, collections, id), so a filter is evaluated once per document
and mapped onto its chunks; unset fields do not filter.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SearchFilters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kinds: list[str] | None = Field(default=None, description="Document kinds to keep, e.g. ['meeting'].")
    source_prefix: str | None = Field(default=None, description="Keep documents whose source path starts with this.")
    date_from: date | None = Field(default=None, description="Keep documents dated on or after this day.")
    date_to: date | None = Field(default=None, description="Keep documents dated on or before this day.")
    languages: list[str] | None = Field(default=None, description="Document languages to keep, e.g. ['en', 'zh'].")
    people: list[str] | None = Field(
        default=None, description="Keep documents attended or written by one of these people (case-insensitive)."
    )
    collections: list[str] | None = Field(default=None, description="Keep documents in one of these collections.")
    document_ids: list[str] | None = Field(default=None, description="Keep only these documents.")

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in type(self).model_fields)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _document_date(metadata: dict) -> date | None:
    raw = metadata.get("date")
    if not raw:
        return None
    try:
        return date.fromisoformat(str(raw).strip()[:10])
    except ValueError:
        return None


def document_matches(filters: SearchFilters, *, document_id: str, source: str, kind: str, language: str,
                     metadata: dict) -> bool:
    """Whether one document passes ``filters``. An undated document fails a date filter: it cannot be shown to match."""
    if filters.document_ids is not None and document_id not in filters.document_ids:
        return False
    if filters.kinds is not None and kind not in filters.kinds:
        return False
    if filters.source_prefix is not None and not source.startswith(filters.source_prefix):
        return False
    if filters.languages is not None and language not in filters.languages:
        return False
    if filters.date_from is not None or filters.date_to is not None:
        day = _document_date(metadata)
        if day is None:
            return False
        if filters.date_from is not None and day < filters.date_from:
            return False
        if filters.date_to is not None and day > filters.date_to:
            return False
    if filters.people is not None:
        present = {p.casefold() for key in ("attendees", "authors", "author") for p in _as_list(metadata.get(key))}
        if not present & {p.casefold() for p in filters.people}:
            return False
    if filters.collections is not None:
        present = set(_as_list(metadata.get("collections"))) | set(_as_list(metadata.get("collection")))
        if not present & set(filters.collections):
            return False
    return True
