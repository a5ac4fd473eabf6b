"""Sparse retrieval: BM25 over the chunk catalog."""

from __future__ import annotations

import numpy as np

from retrieval.retrievers.base import CatalogRetriever, Hits, top_hits
from retrieval.tokenize import tokenize


class SparseRetriever(CatalogRetriever):
    """BM25 over the same chunks (stemmed English, jieba-segmented Chinese)."""

    name = "sparse"

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every catalog row."""
        return self.catalog.bm25.scores(tokenize(query))

    def rank(self, query: str, k: int, mask: np.ndarray | None) -> Hits:
        return top_hits(self.scores(query), k, mask)
