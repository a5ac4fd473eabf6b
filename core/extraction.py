"""What every extractor returns (`Extraction`), and the helpers extractors and minutes share.

An extractor turns one document's chunks into entities, mentions (entity spans
with chunk offsets), typed relations (each tied to the chunk and sentence that
state it) and, for meetings, the meeting's structure. Offsets are always
relative to the chunk text, so any fact can be traced to its sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.types import Chunk, Entity, MeetingRecord, Mention, Relation

_POSSESSIVE = re.compile(r"['’]s$")
# Honorifics are dropped from names: "Dr. Alice Chen" and "Alice Chen" are one person.
_EDGE_SYMBOLS = re.compile(r"^[^\w(]+|[^\w).+#&]+$")
_TITLES = re.compile(r"^(?:dr|mr|mrs|ms|mx|prof|sir|dame)\.?\s+", re.IGNORECASE)
EVIDENCE_CHARS = 500


@dataclass(frozen=True)
class Span:
    """An entity's occurrence in a chunk, at chunk offsets: what relation rules read."""

    start: int
    end: int
    entity: Entity


@dataclass
class Extraction:
    entities: dict[str, Entity] = field(default_factory=dict)
    mentions: list[Mention] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    meetings: list[MeetingRecord] = field(default_factory=list)

    def add_entity(self, name: str, entity_type: str) -> Entity:
        """The entity for (name, type), created on first use; names are normalised first."""
        entity = make_entity(name, entity_type)
        return self.entities.setdefault(entity.id, entity)

    def add_relation(
        self, source: Entity, rel_type: str, target: Entity, chunk: Chunk, sentence: tuple[int, int],
        origin: str = "rules",
    ) -> None:
        if source.id == target.id:
            return
        start, end = sentence
        self.relations.append(
            Relation(
                source_id=source.id,
                target_id=target.id,
                type=rel_type,
                chunk_id=chunk.id,
                evidence=chunk.text[start:end].strip()[:EVIDENCE_CHARS],
                start=start,
                end=end,
                origin=origin,
            )
        )

    def merge(self, other: Extraction) -> None:
        """Add another extractor's findings (same document); duplicates are folded by the graph writes."""
        for entity_id, entity in other.entities.items():
            self.entities.setdefault(entity_id, entity)
        self.mentions.extend(other.mentions)
        self.relations.extend(other.relations)
        known = {m.entity_id for m in self.meetings}
        self.meetings.extend(m for m in other.meetings if m.entity_id not in known)


def normalise_name(text: str) -> str:
    """Surface form -> canonical name: trimmed, single-spaced, no markup, leading article, title or possessive."""
    name = " ".join(text.replace("*", " ").replace("`", " ").split())
    if name.count("(") != name.count(")"):  # "Sofia Lindqvist (Firmware" -> "Sofia Lindqvist"
        name = name.split("(")[0]
    name = name.strip(" .,:;\"'()[]_-—–")
    name = _EDGE_SYMBOLS.sub("", name)  # arrows and box-drawing from diagrams: "Roster ◀"
    name = _POSSESSIVE.sub("", name)
    if name.lower().startswith("the "):
        name = name[4:]
    name = _TITLES.sub("", name)
    return name.strip()


def make_entity(name: str, entity_type: str) -> Entity:
    name = normalise_name(name)
    return Entity(id=Entity.make_id(name, entity_type), name=name, type=entity_type)


def usable_name(name: str) -> bool:
    """Worth an entity: two characters or more and at least one letter."""
    return len(name) >= 2 and any(ch.isalpha() for ch in name)


def document_text(chunks: list[Chunk]) -> str:
    """The document text rebuilt from its chunks (offsets are document offsets; overlaps agree).

    Extractors work from chunks so that a graph rebuild from stored chunks gives
    the same result as the first ingest.
    """
    if not chunks:
        return ""
    size = max(c.end for c in chunks)
    buffer = ["\n"] * size  # gaps between chunks are stripped whitespace: line breaks keep the layout
    for chunk in chunks:
        piece = chunk.text[: chunk.end - chunk.start]
        buffer[chunk.start : chunk.start + len(piece)] = piece
    return "".join(buffer)


def chunk_at(chunks: list[Chunk], start: int, end: int) -> Chunk | None:
    """The first chunk that holds the document span [start, end) whole."""
    for chunk in chunks:
        if chunk.start <= start and end <= chunk.start + len(chunk.text):
            return chunk
    return None
