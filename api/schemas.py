"""HTTP request and response models, kept apart from the core types they convert to and from."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.types import Answer, Citation, Fact, Passage

MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 50


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, examples=["Who leads the Platform team?"])
    top_k: int | None = Field(default=None, ge=1, le=MAX_TOP_K, description="Passages to retrieve; default from settings.")


class SearchRequest(AskRequest):
    pass


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
    question: str
    answer: str
    citations: list[CitationOut]
    passages: list[PassageOut]
    facts: list[FactOut]
    timings: dict[str, float]

    @classmethod
    def of(cls, answer: Answer) -> "AskResponse":
        return cls(
            question=answer.question,
            answer=answer.text,
            citations=[CitationOut.of(c) for c in answer.citations],
            passages=[PassageOut.of(p) for p in answer.passages],
            facts=[FactOut.of(f) for f in answer.facts],
            timings=answer.timings,
        )


class SearchResponse(BaseModel):
    query: str
    passages: list[PassageOut]
    facts: list[FactOut]
    seconds: float


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    graph: bool
    index_vectors: int
    documents: int
    model_loaded: bool


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


class GraphStatsOut(BaseModel):
    uri: str
    server_agent: str
    nodes: int
    relationships: int
    by_label: dict[str, int]
    by_relation_type: dict[str, int]
