"""The retriever contract: a question in, a ``Retrieved`` out (passages, facts, graph evidence).

Every retriever has one public ``search(query, k, filters, max_facts=0)``; subclasses
implement ``_search``. Dense, sparse and graph retrievers rank rows of the shared
``ChunkCatalog`` (``CatalogRetriever``); the hybrid retriever fuses their rankings.
Every passage carries its score components (``dense``, ``sparse``, ``graph``,
``document``, ``fused``, ``rerank``) so a user can see why it was retrieved.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from core.types import Fact, Passage
from retrieval.catalog import ChunkCatalog
from retrieval.filters import SearchFilters
from storage.protocols import MetadataStore

if TYPE_CHECKING:
    from retrieval.retrievers.graph import GraphRanking

Mode = Literal["dense", "sparse", "graph", "hybrid"]
MODES: tuple[str, ...] = ("dense", "sparse", "graph", "hybrid")

Hits = list[tuple[int, float]]  # (catalog row, score), best first


@dataclass(frozen=True)
class Retrieved:
    """What every retriever's ``search`` returns."""

    passages: list[Passage]
    # Graph facts about the question's entities (graph and hybrid search, when asked for).
    facts: list[Fact] = field(default_factory=list)
    # The graph evidence: linked and top-ranked entities, graph-ranked chunks (graph and hybrid search).
    graph: GraphRanking | None = None


def top_hits(scores: np.ndarray, k: int, mask: np.ndarray | None) -> Hits:
    """The k best positive scores (within mask), best first."""
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
    order = positive[np.argsort(-scores[positive], kind="stable")]
    return [(int(r), float(scores[r])) for r in order]


class Retriever(ABC):
    """One public entry point; subclasses implement ``_search``."""

    name: str = "retriever"

    def search(self, query: str, k: int, filters: SearchFilters | None = None, *, max_facts: int = 0) -> Retrieved:
        """The ``k`` best passages for ``query`` within ``filters``, and up to ``max_facts`` graph facts."""
        if k <= 0 or not query.strip():
            return Retrieved([])
        found = self._search(query, k, filters, max_facts)
        return replace(found, passages=found.passages[:k])

    @abstractmethod
    def _search(self, query: str, k: int, filters: SearchFilters | None, max_facts: int) -> Retrieved: ...


class CatalogRetriever(Retriever):
    """A retriever that ranks rows of the chunk catalog."""

    def __init__(self, catalog: ChunkCatalog, metadata: MetadataStore) -> None:
        self.catalog = catalog
        self.metadata = metadata

    @abstractmethod
    def rank(self, query: str, k: int, mask: np.ndarray | None) -> Hits: ...

    def _search(self, query: str, k: int, filters: SearchFilters | None, max_facts: int) -> Retrieved:
        hits = self.rank(query, k, self.catalog.allowed(filters))[:k]
        return Retrieved(self.passages(hits))

    def passages(self, hits: Hits) -> list[Passage]:
        return passages_for(self.catalog, self.metadata, [(row, s, {self.name: s, "fused": s}) for row, s in hits])


def passages_for(catalog: ChunkCatalog, metadata: MetadataStore,
                 ranked: Sequence[tuple[int, float, dict[str, float]]]) -> list[Passage]:
    stored = metadata.chunks_by_vector_ids(int(catalog.vector_ids[row]) for row, _, _ in ranked)
    out = []
    for row, score, components in ranked:
        vid = int(catalog.vector_ids[row])
        # A row whose chunk was deleted since the catalog refreshed is skipped.
        if vid in stored:
            out.append(stored[vid].passage(score, components))
    return out
