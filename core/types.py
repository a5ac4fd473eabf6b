"""Domain types shared by every layer.

Frozen pydantic models: cheap to build, hashable identity via content-hash ids,
and serialisable for the API and the CLI's ``--json`` output.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def content_id(*parts: str, prefix: str = "") -> str:
    """A stable id from content: the same inputs always give the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    return f"{prefix}{digest}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Document(_Frozen):
    """A parsed source file."""

    id: str
    source: str = Field(description="Path of the file the document came from.")
    title: str
    text: str
    content_hash: str = Field(description="sha256 of the file bytes; a change means re-ingest.")
    kind: str = Field(default="document", description="document | meeting")
    language: str = "en"
    metadata: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_id(source: str) -> str:
        # Identity follows the source path, so an edited file replaces its old version.
        return content_id(source, prefix="doc_")


class Chunk(_Frozen):
    """A span of a document: the unit that is embedded, indexed and cited."""

    id: str
    document_id: str
    index: int
    text: str
    start: int = Field(description="Character offset of the chunk in the document text.")
    end: int
    metadata: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_id(document_id: str, index: int, text: str) -> str:
        return content_id(document_id, str(index), text, prefix="chk_")


class Entity(_Frozen):
    """A thing the knowledge base knows about: a person, team, project, product..."""

    id: str
    name: str
    type: str

    @staticmethod
    def make_id(name: str, type: str) -> str:
        return content_id(type, name.casefold(), prefix="ent_")


class Mention(_Frozen):
    """An occurrence of an entity inside a chunk, with character offsets in the chunk text."""

    entity_id: str
    chunk_id: str
    text: str
    start: int
    end: int


class Relation(_Frozen):
    """A typed edge between two entities, backed by the chunk that states it."""

    source_id: str
    target_id: str
    type: str
    chunk_id: str
    evidence: str = ""
    start: int | None = Field(default=None, description="Offset of the evidence sentence in the chunk text.")
    end: int | None = None
    origin: str = Field(default="rules", description="What read the fact: 'rules' (ingest) or 'llm' (`lore graph enrich`).")


class Decision(_Frozen):
    """A decision recorded in a meeting, with who made it (an entity id) when the notes say so."""

    text: str
    decided_by: str | None = None
    chunk_id: str
    start: int = Field(description="Offset of the decision text in the chunk text.")
    end: int


class ActionItem(_Frozen):
    """A task from a meeting: what, who (an entity id), by when (ISO date as written)."""

    text: str
    owner: str | None = Field(default=None, description="The owner's name as written.")
    owner_id: str | None = None
    due: str | None = None
    chunk_id: str
    start: int
    end: int


class MeetingRecord(_Frozen):
    """The structure of one meeting document: the meeting entity, its date, attendees, decisions and tasks."""

    entity_id: str = Field(description="Id of the meeting's Event entity (also labelled Meeting in the graph).")
    title: str
    date: str | None = None
    attendees: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()
    action_items: tuple[ActionItem, ...] = ()


class Fact(_Frozen):
    """A graph statement handed to the generator, with the chunks that support it."""

    subject: str
    predicate: str
    object: str
    chunk_ids: tuple[str, ...] = ()

    def render(self) -> str:
        return f"{self.subject} {self.predicate.replace('_', ' ').lower()} {self.object}"


class Passage(_Frozen):
    """A retrieved chunk with where it came from and why it was retrieved."""

    chunk_id: str
    document_id: str
    source: str
    title: str
    text: str
    score: float
    scores: dict[str, float] = Field(default_factory=dict, description="Score components, e.g. dense, sparse, graph.")
    start: int = 0
    end: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)


class Citation(_Frozen):
    """What an inline marker [n] in an answer points to."""

    number: int
    chunk_id: str
    document_id: str
    source: str
    start: int
    end: int
    snippet: str


class Answer(_Frozen):
    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    facts: tuple[Fact, ...] = ()
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds spent per stage.")
    created_at: datetime = Field(default_factory=datetime.now)
    abstained: bool = Field(default=False, description="The answer is the fixed 'I don't know' sentence (no sources, or the model declined).")
    abstention_rule: str | None = Field(
        default=None,
        description="Why it abstained: no-sources, low-relevance, not-in-knowledge-base, model-declined, empty-answer or specifics-not-in-sources.",
    )
    unsupported: tuple[str, ...] = Field(default=(), description="Answer sentences no source supports (no marker, too little overlap).")
