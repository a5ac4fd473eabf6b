"""Dense retrieval: the question's embedding against the FAISS index."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from core.language import script_language
from core.protocols import Embedder
from retrieval.catalog import ChunkCatalog
from retrieval.retrievers.base import CatalogRetriever, Hits
from storage.protocols import LanguageIndex, MetadataStore, VectorStore

QUERY_CACHE_SIZE = 4096


class DenseRetriever(CatalogRetriever):
    """FAISS inner-product search; filters by over-fetching with a growing k until enough pass.

    A question in a language one of the ``language_indexes`` covers (Chinese) is embedded by
    that index's encoder and searched there; any other in the main index."""

    name = "dense"

    def __init__(self, embedder: Embedder, vectors: VectorStore, catalog: ChunkCatalog,
                 metadata: MetadataStore, language_indexes: Sequence[LanguageIndex] = ()) -> None:
        super().__init__(catalog, metadata)
        self.embedder = embedder
        self.vectors = vectors
        self.language_indexes = tuple(language_indexes)
        self._query_vectors: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()

    def index_for(self, query: str) -> LanguageIndex | None:
        """The language index that searches ``query``; None: the main index does."""
        if not self.language_indexes:
            return None
        language = script_language(query)
        return next((index for index in self.language_indexes if index.covers(language)), None)

    def covers(self, language: str) -> bool:
        """Whether a language index serves questions in ``language``."""
        return any(index.covers(language) for index in self.language_indexes)

    def _embed(self, index: LanguageIndex | None, queries: Sequence[str]) -> np.ndarray:
        return index.embedder.embed_queries(queries) if index is not None else self.embedder.embed(queries)

    def _key(self, index: LanguageIndex | None, query: str) -> tuple[int, str]:
        return (-1 if index is None else self.language_indexes.index(index), query)

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding (by the encoder of the index that searches it); recent ones are
        kept, as a hybrid search or a retried query embeds the same text."""
        index = self.index_for(query)
        key = self._key(index, query)
        vector = self._query_vectors.get(key)
        if vector is None:
            vector = self._embed(index, [query])[0]
            self._query_vectors[key] = vector
            if len(self._query_vectors) > QUERY_CACHE_SIZE:
                self._query_vectors.popitem(last=False)
        else:
            self._query_vectors.move_to_end(key)
        return vector

    def warm(self, queries: Sequence[str]) -> None:
        """Embed many queries up front, one call per encoder (an evaluation run); the encoders give
        a text the vector it gets alone, so these are the vectors live searches use."""
        by_index: dict[LanguageIndex | None, list[str]] = {}
        for query in dict.fromkeys(queries):
            index = self.index_for(query)
            if self._key(index, query) not in self._query_vectors:
                by_index.setdefault(index, []).append(query)
        for index, todo in by_index.items():
            for query, vector in zip(todo, self._embed(index, todo)):
                self._query_vectors[self._key(index, query)] = vector
        while len(self._query_vectors) > QUERY_CACHE_SIZE:
            self._query_vectors.popitem(last=False)

    def rank(self, query: str, k: int, mask: np.ndarray | None) -> Hits:
        vector = self.query_vector(query)
        index = self.index_for(query)
        store = index.store if index is not None else self.vectors
        total = len(store)
        if mask is not None and not mask.any():
            return []
        fetch = k if mask is None else max(4 * k, 64)
        while True:
            hits: Hits = []
            raw = store.search(vector, fetch)
            for vid, score in raw:
                row = self.catalog.row(vid)
                if row is not None and (mask is None or mask[row]):
                    hits.append((row, score))
            # Stop when enough passed the filter, or the index has nothing more to give.
            if len(hits) >= k or fetch >= total or len(raw) < fetch:
                return hits[:k]
            fetch = min(fetch * 4, total)
