"""Meeting structure: the meeting itself, who attended, what was decided and who does what by when.

Notes carry a ``Date:`` / ``Attendees:`` header (the loader puts them in the
document's metadata), a ``## Decisions`` section of bullets ("Rahul Menon
decided that ...") and a ``## Action items`` section of bullets
``- Owner: task (due YYYY-MM-DD)``. Transcripts carry their speakers as
attendees. Everything is located in a chunk, with offsets, like any other fact.
"""

from __future__ import annotations

import re

from core.types import ActionItem, Chunk, Decision, Document, Entity, MeetingRecord, Mention, Relation, content_id
from core.extraction import Extraction, chunk_at, document_text, normalise_name, usable_name
from core.markdown import headings

_BULLET = re.compile(r"^[ \t]*(?:[-*•]|\d+[.)])[ \t]+(.+?)[ \t]*$", re.MULTILINE)
_ACTION = re.compile(
    r"^(?:\*\*)?(?P<owner>[^:*]{2,60}?)(?:\*\*)?\s*:\s*(?P<task>.+?)\s*(?:\((?:due|by)[:\s]+(?P<due>[^)]+)\))?\.?$",
    re.IGNORECASE,
)
_DECIDER = re.compile(
    r"^(?P<who>[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){0,3})\s+(?:decided|approved|confirmed|agreed|chose|ruled)\b"
)
_DECISION_SECTIONS = re.compile(r"^(decisions?|decided|outcomes?|resolutions?)\b", re.IGNORECASE)
_ACTION_SECTIONS = re.compile(r"^(action items?|actions|next steps|to-?dos?|tasks)\b", re.IGNORECASE)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def meeting_entity(document: Document) -> Entity:
    # One meeting per document: two meetings with the same title are still two meetings.
    return Entity(id=content_id("meeting", document.id, prefix="ent_"), name=document.title, type="Event")


def _sections(text: str, wanted: re.Pattern[str]) -> list[tuple[int, int]]:
    """Document spans of the sections whose heading matches ``wanted`` (to the next heading of the same or higher level)."""
    found = []
    all_headings = headings(text)
    for i, heading in enumerate(all_headings):
        if not wanted.match(heading.text):
            continue
        end = len(text)
        for later in all_headings[i + 1 :]:
            if later.level <= heading.level:
                end = later.start
                break
        found.append((heading.start, end))
    return found


def _bullets(text: str, section: tuple[int, int]) -> list[tuple[int, int, str]]:
    start, end = section
    return [(start + m.start(1), start + m.end(1), m.group(1)) for m in _BULLET.finditer(text[start:end])]


def _person(name: str, people: dict[str, Entity], extraction: Extraction) -> Entity | None:
    name = normalise_name(name)
    if not usable_name(name):
        return None
    key = name.casefold()
    if key in people:
        return people[key]
    matches = [p for k, p in people.items() if k.split()[0] == key]  # "Owen" among the attendees
    if len(matches) == 1:
        return matches[0]
    entity = extraction.add_entity(name, "Person")
    people[key] = entity
    return entity


def extract_meeting(document: Document, chunks: list[Chunk], extraction: Extraction) -> None:
    """Add the meeting, ATTENDED relations, decisions and action items of a meeting document."""
    attendees = [a for a in (normalise_name(a) for a in document.metadata.get("attendees") or []) if usable_name(a)]
    if document.kind != "meeting" or not chunks:
        return
    text = document_text(chunks)
    meeting = meeting_entity(document)
    extraction.entities.setdefault(meeting.id, meeting)
    header = chunks[0]
    title_at = header.text.find(document.title)
    if title_at >= 0:
        extraction.mentions.append(
            Mention(entity_id=meeting.id, chunk_id=header.id, text=document.title, start=title_at,
                    end=title_at + len(document.title))
        )

    people: dict[str, Entity] = {}
    for entity in extraction.entities.values():
        if entity.type == "Person":
            people.setdefault(entity.name.casefold(), entity)
    for name in attendees:
        person = _person(name, people, extraction)
        if person is None:
            continue
        line = _attendee_line(text, name)
        chunk = chunk_at(chunks, *line) if line else None
        if chunk is None or line is None:
            chunk, local = header, (0, 0)
        else:
            local = (line[0] - chunk.start, line[1] - chunk.start)
        at = chunk.text.find(name, local[0])
        if at >= 0:
            extraction.mentions.append(Mention(entity_id=person.id, chunk_id=chunk.id, text=name, start=at, end=at + len(name)))
        extraction.relations.append(_relation(person, meeting, chunk, local, f"Attendees: {', '.join(attendees)}"))

    decisions: list[Decision] = []
    for section in _sections(text, _DECISION_SECTIONS):
        for start, end, bullet in _bullets(text, section):
            chunk = chunk_at(chunks, start, end)
            if chunk is None:
                continue
            who = _DECIDER.match(bullet)
            decider = _person(who.group("who"), people, extraction) if who else None
            decisions.append(Decision(text=bullet, decided_by=decider.id if decider else None, chunk_id=chunk.id,
                                      start=start - chunk.start, end=end - chunk.start))

    actions: list[ActionItem] = []
    for section in _sections(text, _ACTION_SECTIONS):
        for start, end, bullet in _bullets(text, section):
            chunk = chunk_at(chunks, start, end)
            if chunk is None:
                continue
            match = _ACTION.match(bullet)
            owner_name = match.group("owner").strip() if match else None
            owner = _person(owner_name, people, extraction) if owner_name and owner_name[:1].isupper() else None
            due = match.group("due").strip() if match and match.group("due") else None
            if due and (iso := _ISO_DATE.search(due)):
                due = iso.group()
            task = match.group("task").strip() if match and owner else bullet
            actions.append(ActionItem(text=task, owner=owner.name if owner else None, owner_id=owner.id if owner else None,
                                      due=due, chunk_id=chunk.id, start=start - chunk.start, end=end - chunk.start))

    extraction.meetings.append(
        MeetingRecord(entity_id=meeting.id, title=document.title, date=document.metadata.get("date"),
                      attendees=tuple(attendees), decisions=tuple(decisions), action_items=tuple(actions))
    )


def _attendee_line(text: str, name: str) -> tuple[int, int] | None:
    """The document span that shows the person attending: the header line listing them, or their first turn."""
    match = re.search(r"^.*\b(?:attendees|participants)\b.*$", text[:4000], re.IGNORECASE | re.MULTILINE)
    if match and name in match.group():
        return match.start(), match.end()
    turn = re.search(rf"^{re.escape(name)}:.*$", text, re.MULTILINE)
    if turn:
        return turn.start(), min(turn.end(), turn.start() + 300)
    return None


def _relation(person: Entity, meeting: Entity, chunk: Chunk, span: tuple[int, int], fallback: str) -> Relation:
    start, end = span
    evidence = chunk.text[start:end].strip() if end > start else fallback
    return Relation(source_id=person.id, target_id=meeting.id, type="ATTENDED", chunk_id=chunk.id,
                    evidence=evidence[:500], start=start if end > start else None, end=end if end > start else None)
