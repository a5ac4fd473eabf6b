"""The interfaces ingest, retrieval and the service are typed against.

`SqliteMetadataStore`, `FaissVectorStore` and `graph.GraphStore` implement them; so can a
small in-memory store in a test. Each protocol lists only what its callers use, so a new
backend knows exactly what it must provide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.protocols import QueryPassageEmbedder
from core.types import Chunk, Document, Entity, Fact, MeetingRecord, Mention, Relation
from storage.metadata import DocumentRecord, StoredChunk


class VectorStore(Protocol):
    """Vectors under integer ids (a chunk's ``vector_id``), searched by inner product."""

    embedding_model: str
    dimension: int

    def __len__(self) -> int: ...

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def delete(self, ids: np.ndarray) -> None: ...

    def search(self, query: np.ndarray, k: int, allowed_ids: Iterable[int] | None = None) -> list[tuple[int, float]]:
        """(id, score) best first; with ``allowed_ids`` only those ids can come back."""
        ...

    def ids(self) -> np.ndarray: ...

    def save(self) -> None: ...


@dataclass(frozen=True)
class LanguageIndex:
    """A second vector index for documents in languages the main embedding model does not
    cover (Chinese): their chunks are embedded again by ``embedder`` into ``store``, under the
    same vector ids, and questions in those languages are searched there.

    The main index still holds every chunk, so English search and ingest do not change.
    """

    languages: frozenset[str]
    embedder: QueryPassageEmbedder
    store: VectorStore

    def covers(self, language: str) -> bool:
        return language in self.languages


class MetadataStore(Protocol):
    """Documents and chunks, the source of truth the vector index and the graph derive from."""

    # ---- writes
    def replace_document(
        self, document: Document, chunks: list[Chunk], *, derived_pending: bool = False
    ) -> tuple[list[int], list[int]]:
        """Store ``document`` and its chunks in place of any previous version: (removed ids, new ids).
        ``derived_pending``: a document derived from it (its minutes) is still to be written."""
        ...

    def mark_graph_synced(self, document_id: str) -> None: ...

    def mark_derived(self, document_id: str) -> None: ...

    def delete_document(self, document_id: str) -> list[int]: ...

    # ---- documents
    def content_hash_for(self, source: str) -> str | None: ...

    def documents(self, collections: Iterable[str] | None = None) -> list[DocumentRecord]: ...

    def document(self, document_id: str) -> DocumentRecord | None: ...

    def unsynced_document_ids(self) -> list[str]: ...

    def derived_pending_ids(self) -> list[str]: ...

    def document_count(self) -> int: ...

    # ---- chunks
    def vector_ids(self, languages: Iterable[str] | None = None) -> set[int]:
        """Every chunk's vector id; with ``languages``, only those of documents in one of them."""
        ...

    def vector_ids_in_collections(self, collections: Iterable[str]) -> list[int]: ...

    def chunk_collections(self, chunk_ids: Iterable[str]) -> dict[str, str]: ...

    def chunks_by_vector_ids(self, vector_ids: Iterable[int]) -> dict[int, StoredChunk]: ...

    def chunks_by_ids(self, chunk_ids: Iterable[str]) -> dict[str, StoredChunk]: ...

    def chunks_for_document(self, document_id: str) -> list[StoredChunk]: ...

    def search_rows(self, vector_ids: Iterable[int]) -> list[tuple[int, str, str, int, str, dict]]:
        """(vector id, chunk id, document id, index, text, metadata) for the lexical index."""
        ...

    def chunk_count(self) -> int: ...


class GraphReader(Protocol):
    """What retrieval reads from the knowledge graph."""

    # Grows by one on every write: caches built from the graph compare it to know they are stale.
    writes: int

    def entity_names(self) -> list[Entity]: ...

    def entity_aliases(self) -> list[tuple[str, str]]: ...

    def entity_neighbours(self, entity_ids: list[str], limit: int = 500) -> list[tuple[str, str, str]]: ...

    def facts_about(self, entity_ids: list[str], limit: int, *, second_hop: bool = False) -> list[Fact]: ...

    def entities_in_chunks(self, chunk_ids: list[str]) -> list[tuple[str, str]]: ...


class GraphWriter(Protocol):
    """What ingest writes to the knowledge graph, and reads back to resolve and reconcile."""

    def upsert_document(
        self,
        document: Document,
        chunks: list[Chunk],
        entities: list[Entity],
        mentions: list[Mention],
        relations: list[Relation],
        meetings: Sequence[MeetingRecord] = (),
    ) -> None: ...

    def delete_document(self, document_id: str) -> None: ...

    def document_ids(self) -> set[str]: ...

    def entity_catalogue(self, types: Sequence[str]) -> list[Entity]: ...

    def find_entities(self, names: list[str], limit: int = 20) -> list[Entity]: ...

    def mention_counts(self, entity_ids: Sequence[str]) -> dict[str, int]: ...
