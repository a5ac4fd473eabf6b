"""Retrievers: a question in, ranked passages (or graph facts) out."""

from __future__ import annotations

import re
from typing import Protocol

from core.types import Fact, Passage
from graph import GraphStore
from retrieval.embedder import Embedder
from retrieval.metadata_store import MetadataStore, StoredChunk
from retrieval.vector_store import FaissVectorStore

_WORD = re.compile(r"[\w][\w.&'-]*", re.UNICODE)
MAX_SPAN_WORDS = 4


class Retriever(Protocol):
    def search(self, query: str, k: int) -> list[Passage]: ...


def to_passage(stored: StoredChunk, score: float, components: dict[str, float]) -> Passage:
    chunk = stored.chunk
    return Passage(
        chunk_id=chunk.id,
        document_id=chunk.document_id,
        source=stored.source,
        title=stored.title,
        text=chunk.text,
        score=score,
        scores=components,
        start=chunk.start,
        end=chunk.end,
        metadata=chunk.metadata,
    )


class DenseRetriever:
    """FAISS inner-product search over chunk embeddings."""

    def __init__(self, embedder: Embedder, vectors: FaissVectorStore, metadata: MetadataStore) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.metadata = metadata

    def search(self, query: str, k: int, collections: list[str] | None = None) -> list[Passage]:
        """Nearest chunks; with ``collections``, FAISS only considers chunks of those collections."""
        allowed = None if collections is None else self.metadata.vector_ids_in_collections(collections)
        if allowed is not None and not allowed:
            return []
        hits = self.vectors.search(self.embedder.embed([query])[0], k, allowed_ids=allowed)
        stored = self.metadata.chunks_by_vector_ids(vid for vid, _ in hits)
        # A vector whose chunk row is gone (a crash between the two writes) is skipped here
        # and removed by the next reconcile.
        return [to_passage(stored[vid], score, {"dense": score}) for vid, score in hits if vid in stored]


def candidate_names(question: str) -> list[str]:
    """Every span of 1-4 words in the question, longest first: the graph decides which are entities.

    Exact (case-insensitive) look-up of all spans is cheap and finds lower-case
    and single-word names that a statistical NER model misses in short questions.
    """
    words = [w.strip(".'-") for w in _WORD.findall(question)]
    words = [w for w in words if w]
    spans: list[str] = []
    for size in range(min(MAX_SPAN_WORDS, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            spans.append(" ".join(words[start : start + size]))
    return list(dict.fromkeys(spans))


# With a collection filter, facts are fetched this many times over before the filter, so
# that facts supported only by other collections do not crowd out the allowed ones.
COLLECTION_OVERFETCH = 4


class GraphFactRetriever:
    """Links entities named in the question to the graph and returns the facts around them."""

    def __init__(self, graph: GraphStore, metadata: MetadataStore | None = None) -> None:
        self.graph = graph
        self.metadata = metadata

    def facts(self, question: str, limit: int, collections: list[str] | None = None) -> list[Fact]:
        """Facts about the entities named in ``question``; with ``collections``, only facts
        supported by chunks of those collections, citing only those chunks."""
        if limit <= 0:
            return []
        entities = self.graph.find_entities(candidate_names(question))
        if not entities:
            return []
        if collections is None:
            return self.graph.facts_about([e.id for e in entities], limit=limit)
        if self.metadata is None:
            raise ValueError("a collection filter needs the metadata store")
        facts = self.graph.facts_about([e.id for e in entities], limit=limit * COLLECTION_OVERFETCH)
        chunk_collection = self.metadata.chunk_collections({c for f in facts for c in f.chunk_ids})
        allowed = set(collections)
        kept: list[Fact] = []
        for fact in facts:
            chunk_ids = tuple(c for c in fact.chunk_ids if chunk_collection.get(c) in allowed)
            if chunk_ids:
                kept.append(fact.model_copy(update={"chunk_ids": chunk_ids}))
        return kept[:limit]
