"""HTTP request and response models, kept apart from the core types they convert to and from."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from core.types import Answer, Citation, Fact, Passage
from generation.followup import Turn
from retrieval.filters import SearchFilters
from retrieval.query import Query

MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 50
MAX_HISTORY_TURNS = 40
MAX_TURN_CHARS = 20_000
COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

CollectionName = Annotated[str, StringConstraints(pattern=COLLECTION_PATTERN)]


RetrievalMode = Literal["dense", "sparse", "graph", "hybrid"]
Word = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"\S")]
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]


class FiltersIn(BaseModel):
    """Which documents a question may be answered from; every field narrows, unset fields do not filter."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kinds": ["meeting"], "date_from": "2026-02-01", "date_to": "2026-03-31", "people": ["Rahul Menon"]},
                {"source_prefix": "/srv/kb/handbook/", "languages": ["en"]},
            ]
        },
    )

    kinds: list[Word] | None = Field(
        default=None, min_length=1, max_length=20,
        description="Document kinds to keep: `document`, `meeting`, or `minutes` (minutes written from meetings).",
    )
    source_prefix: str | None = Field(
        default=None, min_length=1, max_length=1000, description="Keep documents whose source path starts with this."
    )
    date_from: date | None = Field(default=None, description="Keep documents dated on or after this day (undated ones are dropped).")
    date_to: date | None = Field(default=None, description="Keep documents dated on or before this day (undated ones are dropped).")
    languages: list[Word] | None = Field(
        default=None, min_length=1, max_length=20, description="Document languages to keep, e.g. `en`, `zh`."
    )
    people: list[PersonName] | None = Field(
        default=None, min_length=1, max_length=50,
        description="Keep documents attended or written by one of these people (any case).",
    )
    collections: list[CollectionName] | None = Field(
        default=None, min_length=1, max_length=50,
        description="Keep documents in these collections; each must be visible to the API key (a request narrows, never widens, the key's collections).",
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> "FiltersIn":
        if self.date_from is not None and self.date_to is not None and self.date_from > self.date_to:
            raise ValueError(f"date_from ({self.date_from}) is after date_to ({self.date_to})")
        return self

    def to_filters(self) -> SearchFilters:
        """The core filter, without collections: the router resolves those against the key."""
        return SearchFilters(**self.model_dump(exclude={"collections"}))


class TurnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_TURN_CHARS)


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": "Who leads the Platform team?", "top_k": 5},
                {"question": "What did the Millrace kickoff decide?", "collections": ["default"]},
                {"question": "What was decided about the billing cutover?", "mode": "hybrid",
                 "filters": {"kinds": ["meeting"], "date_from": "2026-02-01", "people": ["Rahul Menon"]}},
                {"question": "NJ-7731", "mode": "sparse", "top_k": 3},
            ]
        },
    )

    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S", examples=["Who leads the Platform team?"]
    )
    top_k: int | None = Field(default=None, ge=1, le=MAX_TOP_K, description="Passages to retrieve; default from settings.")
    collections: list[CollectionName] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Read only these collections (each must be visible to the API key). Default: every collection the key sees.",
    )
    mode: RetrievalMode | None = Field(
        default=None,
        description="How passages are found: `dense` (embeddings), `sparse` (BM25 keywords), `graph` (knowledge graph "
        "walk from the entities named), or `hybrid` (all three fused). Default: the server's `retrieval_mode` setting.",
        examples=["hybrid"],
    )
    filters: FiltersIn | None = Field(default=None, description="Limit retrieval to matching documents.")
    def requested_collections(self) -> list[str] | None:
        """The collections this request names (both lists given: those in both), None when it names none."""
        lists = [c for c in (self.collections, self.filters.collections if self.filters else None) if c is not None]
        if not lists:
            return None
        return [c for c in lists[0] if all(c in other for other in lists[1:])]

    def search_filters(self) -> SearchFilters | None:
        """The request's filters as the core type (None when nothing but collections is set)."""
        filters = self.filters.to_filters() if self.filters is not None else None
        return None if filters is None or filters.empty else filters

    def query(self, collections: list[str] | None) -> Query:
        """The request as the service's ``Query``, confined to ``collections`` (the key's, resolved by the router)."""
        return Query(text=self.question, k=self.top_k, mode=self.mode, filters=self.search_filters(),
                     collections=collections)


class AskRequest(SearchRequest):
    history: list[TurnIn] = Field(
        default_factory=list, max_length=MAX_HISTORY_TURNS,
        description="Earlier turns of the conversation, oldest first. A follow-up question (\"who does she report "
        "to?\") is rewritten to stand alone from them before retrieval; the answer's `question` shows the rewrite.",
    )

    def turns(self) -> list[Turn]:
        return [Turn(t.role, t.content) for t in self.history]


class PassageOut(BaseModel):
    chunk_id: str
    document_id: str
    source: str
    title: str
    score: float
    scores: dict[str, float]
    start: int
    end: int
    text: str

    @classmethod
    def of(cls, passage: Passage) -> "PassageOut":
        return cls(**passage.model_dump(include=set(cls.model_fields)))


class CitationOut(BaseModel):
    number: int
    chunk_id: str
    document_id: str
    source: str
    start: int
    end: int
    snippet: str

    @classmethod
    def of(cls, citation: Citation) -> "CitationOut":
        return cls(**citation.model_dump())


class FactOut(BaseModel):
    subject: str
    predicate: str
    object: str
    chunk_ids: list[str]

    @classmethod
    def of(cls, fact: Fact) -> "FactOut":
        return cls(subject=fact.subject, predicate=fact.predicate, object=fact.object, chunk_ids=list(fact.chunk_ids))


class AskResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question": "Who leads the Platform team?",
                    "answer": "Priya Raman leads the Platform team [1].",
                    "citations": [
                        {"number": 1, "chunk_id": "chk_9f2c", "document_id": "doc_41ab", "source": "docs/org-chart.md",
                         "start": 0, "end": 812, "snippet": "Platform team - lead: Priya Raman"}
                    ],
                    "passages": [],
                    "facts": [{"subject": "Priya Raman", "predicate": "LEADS", "object": "Platform team",
                               "chunk_ids": ["chk_9f2c"]}],
                    "timings": {"retrieve": 0.04, "generate": 1.9},
                }
            ]
        }
    )

    question: str
    answer: str
    citations: list[CitationOut]
    passages: list[PassageOut]
    facts: list[FactOut]
    timings: dict[str, float]
    abstained: bool = False
    abstention_rule: str | None = Field(
        default=None, description="Which rule made the answer an abstention: no-sources, low-relevance, "
                                  "not-in-knowledge-base, model-declined, empty-answer or specifics-not-in-sources.")
    unsupported: list[str] = Field(default_factory=list, description="Answer sentences that no source supports.")

    @classmethod
    def of(cls, answer: Answer) -> "AskResponse":
        return cls(
            question=answer.question,
            answer=answer.text,
            citations=[CitationOut.of(c) for c in answer.citations],
            passages=[PassageOut.of(p) for p in answer.passages],
            facts=[FactOut.of(f) for f in answer.facts],
            timings=answer.timings,
            abstained=answer.abstained,
            abstention_rule=answer.abstention_rule,
            unsupported=list(answer.unsupported),
        )


class SearchResponse(BaseModel):
    query: str
    passages: list[PassageOut]
    facts: list[FactOut]
    seconds: float


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str = Field(description="ready, starting (models still loading) or unavailable.")
    graph: bool
    index_vectors: int
    documents: int
    model_loaded: bool
    detail: str | None = Field(default=None, description="Why the knowledge base could not be opened.")


class TokenEvent(BaseModel):
    """``event: token`` in the /v1/ask/stream event stream: the next piece of the answer."""

    text: str


class DocumentOut(BaseModel):
    id: str
    source: str
    title: str
    kind: str
    language: str
    collection: str
    content_hash: str
    chunk_count: int
    graph_synced: bool
    ingested_at: str
    metadata: dict

    @classmethod
    def of(cls, record) -> "DocumentOut":
        return cls(**{name: getattr(record, name) for name in cls.model_fields})


class ChunkOut(BaseModel):
    id: str
    start: int = Field(description="Offset of the chunk in the document text.")
    end: int
    text: str
    heading_path: list[str] = Field(default_factory=list, description="The headings the chunk sits under.")


class DocumentEntityOut(BaseModel):
    id: str
    name: str
    type: str
    chunk_ids: list[str] = Field(description="The document's chunks that mention the entity.")


class DocumentContent(BaseModel):
    """A document as stored: its metadata, its chunks in order and the entities they mention."""

    document: DocumentOut
    chunks: list[ChunkOut]
    entities: list[DocumentEntityOut]


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    total: int = Field(description="Documents visible to the key (before limit/offset).")


class RejectedFile(BaseModel):
    file: str
    reason: str


class UploadAccepted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"job_id": "job_3f9a1c0d5e7b2a64", "status": "queued", "collection": "default",
                 "files": ["minutes-2026-03-01.md"], "rejected": [], "status_url": "/v1/jobs/job_3f9a1c0d5e7b2a64"}
            ]
        }
    )

    job_id: str
    status: str
    collection: str
    files: list[str]
    rejected: list[RejectedFile]
    status_url: str


class JobOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": "job_3f9a1c0d5e7b2a64", "status": "succeeded", "collection": "default",
                 "files": ["minutes-2026-03-01.md"], "created_at": "2026-03-01T10:00:00+00:00",
                 "started_at": "2026-03-01T10:00:00+00:00", "finished_at": "2026-03-01T10:00:03+00:00",
                 "report": {"documents": [{"id": "doc_1b2c", "file": "minutes-2026-03-01.md"}], "added": 1,
                            "updated": 0, "unchanged": 0, "failed": [], "chunks": 4, "seconds": 2.8},
                 "error": None}
            ]
        }
    )

    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    collection: str
    files: list[str]
    created_at: str
    started_at: str | None
    finished_at: str | None
    report: dict | None
    error: str | None

    @classmethod
    def of(cls, job) -> "JobOut":
        return cls(**{name: getattr(job, name) for name in cls.model_fields})


class JobList(BaseModel):
    jobs: list[JobOut]


class KeyOut(BaseModel):
    id: str
    name: str
    scopes: list[str]
    collections: list[str] | None
    created_at: str
    revoked_at: str | None

    @classmethod
    def of(cls, key) -> "KeyOut":
        return cls(id=key.id, name=key.name, scopes=list(key.scopes),
                   collections=list(key.collections) if key.collections is not None else None,
                   created_at=key.created_at, revoked_at=key.revoked_at)


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"\S")
    scopes: list[Literal["read", "ingest", "admin"]] = Field(min_length=1)
    collections: list[CollectionName] | None = Field(default=None, min_length=1, max_length=50,
                                                     description="Collections the key may see; default: all.")


class KeyCreated(KeyOut):
    secret: str = Field(description="The key itself: shown once, never stored.")


# ---- knowledge graph inspection ------------------------------------------------------------
class EntityOut(BaseModel):
    id: str
    name: str
    type: str
    degree: int | None = Field(default=None, description="Relationships at the entity (search results only).")


class EdgeOut(BaseModel):
    source_id: str
    type: str
    target_id: str
    other_id: str = Field(description="The node at the other end.")
    other_name: str | None
    other_labels: list[str]
    chunk_id: str | None = Field(description="Chunk that states the relationship (provenance).")
    document_id: str | None
    evidence: str | None = Field(description="The sentence the relationship was read from.")
    start: int | None = Field(description="Offset of the evidence in the chunk text.")
    end: int | None


class EntityDetail(EntityOut):
    mentions: int = Field(description="Times the entity is mentioned in chunks.")
    document_ids: list[str]
    edges: list[EdgeOut]

    @classmethod
    def of(cls, view) -> "EntityDetail":
        """From a ``graph.EntityView``: each edge names the node at its other end."""
        edges = []
        for edge in view.edges:
            other = edge.target_id if edge.source_id == view.entity.id else edge.source_id
            name, labels = view.neighbours.get(other, (None, []))
            edges.append(EdgeOut(source_id=edge.source_id, type=edge.type, target_id=edge.target_id, other_id=other,
                                 other_name=name, other_labels=labels, chunk_id=edge.chunk_id,
                                 document_id=edge.document_id, evidence=edge.evidence, start=edge.start, end=edge.end))
        return cls(id=view.entity.id, name=view.entity.name, type=view.entity.type, mentions=view.mentions,
                   document_ids=view.document_ids, edges=edges)


class GraphStatsOut(BaseModel):
    uri: str
    server_agent: str
    nodes: int
    relationships: int
    by_label: dict[str, int]
    by_relation_type: dict[str, int]

    @classmethod
    def of(cls, stats) -> "GraphStatsOut":
        return cls(**{name: getattr(stats, name) for name in cls.model_fields})


class EnrichRequest(BaseModel):
    limit: int | None = Field(default=None, ge=1, description="Read at most this many chunks in this run; all when unset.")


class EnrichStatus(BaseModel):
    """The graph enrichment job (`lore graph enrich` in the background): this process's run and the store's progress."""

    running: bool
    started_at: str | None = None
    finished_at: str | None = None
    read: int = Field(description="Chunks read by the current (or last) run.")
    planned: int = Field(description="Chunks that run set out to read.")
    chunks_enriched: int = Field(description="Chunks enriched so far, all runs.")
    chunks_total: int
    chunks_per_minute: float
    eta_seconds: int | None = None
    report: dict | None = Field(default=None, description="The finished run's report (chunks read and failed, relations added).")
    error: str | None = None
