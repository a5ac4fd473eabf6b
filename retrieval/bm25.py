"""Okapi BM25 as a sparse matrix product (scipy), so a query costs a few column reads at 100k chunks.

The whole term-weight matrix is precomputed when the corpus changes:
``W[d, t] = idf(t) * tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl))``; a query's
scores are then ``W[:, query_terms] @ query_term_counts``. Rebuilding from cached
token ids is a few vectorised numpy calls, which keeps ingest and delete in sync
without a per-document update path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


class BM25Matrix:
    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.vocabulary: dict[str, int] = {}
        self._weights: sp.csc_matrix = sp.csc_matrix((0, 0), dtype=np.float32)

    @property
    def rows(self) -> int:
        return self._weights.shape[0]

    def encode(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """A document's (term ids, term counts), growing the vocabulary as needed."""
        counts = Counter(tokens)
        ids = np.fromiter((self.vocabulary.setdefault(t, len(self.vocabulary)) for t in counts), dtype=np.int32,
                          count=len(counts))
        return ids, np.fromiter(counts.values(), dtype=np.float32, count=len(counts))

    def build(self, documents: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Rebuild the weight matrix from encoded documents (row i = documents[i])."""
        n = len(documents)
        lengths = np.fromiter((len(ids) for ids, _ in documents), dtype=np.int64, count=n)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        if n and indptr[-1]:
            cols = np.concatenate([ids for ids, _ in documents])
            tf = np.concatenate([counts for _, counts in documents])
        else:
            cols = np.zeros(0, dtype=np.int32)
            tf = np.zeros(0, dtype=np.float32)
        vocab = len(self.vocabulary)
        doc_len = np.add.reduceat(tf, indptr[:-1]) if len(tf) else np.zeros(n, dtype=np.float32)
        doc_len = np.where(lengths > 0, doc_len, 0.0).astype(np.float32)
        avgdl = float(doc_len.mean()) if n and doc_len.mean() > 0 else 1.0
        rows = np.repeat(np.arange(n, dtype=np.int32), lengths)
        df = np.bincount(cols, minlength=vocab).astype(np.float32)
        # Lucene's idf: always positive, so a term in most documents still counts a little.
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = self.k1 * (1.0 - self.b + self.b * doc_len[rows] / avgdl)
        values = idf[cols] * tf * (self.k1 + 1.0) / (tf + norm)
        self._weights = sp.csr_matrix((values, cols, indptr), shape=(n, vocab)).tocsc()

    def document_frequency(self, token: str) -> int:
        """How many rows hold ``token`` (0 for a token no row holds, or only deleted ones held)."""
        column = self.vocabulary.get(token)
        if column is None or column >= self._weights.shape[1]:
            return 0
        return int(self._weights.indptr[column + 1] - self._weights.indptr[column])

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every row for a tokenised query (zeros where no term matches)."""
        counts = Counter(t for t in tokens if t in self.vocabulary)
        known = [self.vocabulary[t] for t in counts if self.vocabulary[t] < self._weights.shape[1]]
        if not known or self.rows == 0:
            return np.zeros(self.rows, dtype=np.float32)
        weights = np.array([counts[t] for t in counts if self.vocabulary[t] < self._weights.shape[1]], dtype=np.float32)
        return np.asarray(self._weights[:, known] @ weights).ravel()
