"""Minutes as stored data: a derived ``minutes`` document linked to its meeting, and its graph facts.

The derived document's source is ``<meeting source>#minutes``, its kind
``minutes``, and ``metadata`` carries ``meeting_id`` and the minutes themselves;
it is chunked, embedded and searched like any other document. Its decisions and
action items are written as the meeting's (:Decision) and (:ActionItem) nodes
through the ordinary meeting write path, so deleting the minutes document (as
deleting the meeting does) removes them.

``MinutesDocuments`` is the ingest pipeline's ``DerivedDocuments`` for minutes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from core.types import ActionItem, Chunk, Decision, Document, MeetingRecord
from generation.minutes.builder import MinutesBuilder
from generation.minutes.types import Minutes
from core.extraction import Extraction, chunk_at, document_text
from core.meeting_notes import meeting_entity

MINUTES_KIND = "minutes"
MEETING_KINDS = ("meeting",)
SUFFIX = "#minutes"


def minutes_source(meeting_source: str) -> str:
    return meeting_source + SUFFIX


def minutes_document_id(meeting_source: str) -> str:
    return Document.make_id(minutes_source(meeting_source))


def minutes_document(meeting: Document, minutes: Minutes) -> Document:
    text = minutes.render()
    return Document(
        id=minutes_document_id(meeting.source),
        source=minutes_source(meeting.source),
        title=f"{meeting.title} — minutes",
        text=text,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        kind=MINUTES_KIND,
        language=minutes.language,
        metadata={
            "meeting_id": meeting.id,
            "meeting_title": meeting.title,
            "date": meeting.metadata.get("date"),
            "attendees": list(meeting.metadata.get("attendees") or []),
            "minutes": minutes.model_dump(mode="json"),
            # Minutes are readable exactly where their meeting is.
            **({"collection": meeting.metadata["collection"]} if meeting.metadata.get("collection") else {}),
        },
    )


def add_minutes_facts(document: Document, chunks: Sequence[Chunk], extraction: Extraction) -> None:
    """Add the meeting's decisions and action items from a minutes document to its graph extraction."""
    data = document.metadata.get("minutes")
    meeting_id = document.metadata.get("meeting_id")
    if document.kind != MINUTES_KIND or not data or not meeting_id or not chunks:
        return
    minutes = Minutes.model_validate(data)
    title = document.metadata.get("meeting_title") or minutes.title
    meeting = meeting_entity(Document(id=meeting_id, source="", title=title, text="", content_hash=""))
    extraction.entities.setdefault(meeting.id, meeting)
    text = document_text(list(chunks))

    def locate(item: str) -> tuple[Chunk, int, int] | None:
        at = text.find(item)
        if at < 0:
            return None
        chunk = chunk_at(list(chunks), at, at + len(item))
        return (chunk, at - chunk.start, at - chunk.start + len(item)) if chunk else None

    def person(name: str | None) -> str | None:
        return extraction.add_entity(name, "Person").id if name else None

    decisions = []
    for d in minutes.decisions:
        if found := locate(d.text):
            chunk, start, end = found
            decisions.append(Decision(text=d.text, decided_by=person(d.decided_by), chunk_id=chunk.id, start=start, end=end))
    actions = []
    for a in minutes.action_items:
        if found := locate(a.task):
            chunk, start, end = found
            actions.append(ActionItem(text=a.task, owner=a.owner, owner_id=person(a.owner), due=a.due_date or a.due, chunk_id=chunk.id,
                                      start=start, end=end))
    extraction.meetings.append(MeetingRecord(
        entity_id=meeting.id, title=title, date=document.metadata.get("date"),
        attendees=tuple(document.metadata.get("attendees") or ()), decisions=tuple(decisions), action_items=tuple(actions),
    ))


class MinutesDocuments:
    """Minutes as derived documents (``ingest.derived.DerivedDocuments``): built for every ingested meeting when
    ``at_ingest``, their decisions and action items written as graph facts, deleted with their meeting.

    The abstractive engine's LLM loads when the first minutes are built, not before.
    """

    def __init__(self, builder: MinutesBuilder, *, at_ingest: bool = True) -> None:
        self.builder = builder
        self.at_ingest = at_ingest

    def expects(self, document: Document) -> bool:
        return self.at_ingest and document.kind in MEETING_KINDS

    def derive(self, document: Document, chunks: Sequence[Chunk]) -> Document | None:
        if not self.expects(document):
            return None
        return minutes_document(document, self.builder.build(document, chunks))

    def derived_id(self, source: str, kind: str) -> str | None:
        return minutes_document_id(source) if kind in MEETING_KINDS else None

    def add_facts(self, document: Document, chunks: Sequence[Chunk], extraction: Extraction) -> None:
        add_minutes_facts(document, chunks, extraction)
