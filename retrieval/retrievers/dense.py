"""Dense retrieval: the question's embedding against the FAISS index."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from core.protocols import Embedder
from retrieval.catalog import ChunkCatalog
from retrieval.retrievers.base import CatalogRetriever, Hits
from storage.protocols import MetadataStore, VectorStore

QUERY_CACHE_SIZE = 4096


class DenseRetriever(CatalogRetriever):
    """FAISS inner-product search; filters by over-fetching with a growing k until enough pass."""

    name = "dense"

    def __init__(self, embedder: Embedder, vectors: VectorStore, catalog: ChunkCatalog,
                 metadata: MetadataStore) -> None:
        super().__init__(catalog, metadata)
        self.embedder = embedder
        self.vectors = vectors
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding; recent ones are kept, as a hybrid search or a retried query embeds the same text."""
        vector = self._query_vectors.get(query)
        if vector is None:
            vector = self.embedder.embed([query])[0]
            self._query_vectors[query] = vector
            if len(self._query_vectors) > QUERY_CACHE_SIZE:
                self._query_vectors.popitem(last=False)
        else:
            self._query_vectors.move_to_end(query)
        return vector

    def warm(self, queries: Sequence[str]) -> None:
        """Embed many queries up front (an evaluation run), each on its own as a live search does.

        Not in one batch: the int8 encoder quantizes activations with one scale per batch, so a
        text embedded beside others gets a slightly different vector (cosine 0.992 to itself
        alone), and an evaluation would then score vectors no user's search ever sees."""
        todo = list(dict.fromkeys(q for q in queries if q not in self._query_vectors))
        for query in todo:
            self._query_vectors[query] = self.embedder.embed([query])[0]
        while len(self._query_vectors) > QUERY_CACHE_SIZE:
            self._query_vectors.popitem(last=False)

    def rank(self, query: str, k: int, mask: np.ndarray | None) -> Hits:
        vector = self.query_vector(query)
        total = len(self.vectors)
        if mask is not None and not mask.any():
            return []
        fetch = k if mask is None else max(4 * k, 64)
        while True:
            hits: Hits = []
            raw = self.vectors.search(vector, fetch)
            for vid, score in raw:
                row = self.catalog.row(vid)
                if row is not None and (mask is None or mask[row]):
                    hits.append((row, score))
            # Stop when enough passed the filter, or the index has nothing more to give.
            if len(hits) >= k or fetch >= total or len(raw) < fetch:
                return hits[:k]
            fetch = min(fetch * 4, total)
