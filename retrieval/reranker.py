"""Second-stage reranking of hybrid search's fused candidates.

A reranker reads each candidate passage together with the question (a cross-encoder, or an
LLM judge behind the same protocol) and re-scores it. Hybrid search hands it the best
``LORE_RERANK_CANDIDATES`` fused passages, not just the final ``k``, so a passage the first
stage placed lower can still be returned. Off unless ``LORE_RERANKER_MODEL`` names a model:
no reranker weights ship in an offline package.
"""

from __future__ import annotations

import threading
from typing import Protocol, Sequence

from core.types import Passage
from retrieval.embedder import load_model


class Reranker(Protocol):
    """Re-scores passages for a question: the same passages back, best first, each with a
    ``rerank`` score component and that value as its ``score``."""

    def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]: ...


def reordered(passages: Sequence[Passage], scores: Sequence[float]) -> list[Passage]:
    """The passages sorted by ``scores`` (stable, best first), each carrying its score as ``rerank``."""
    ranked = sorted(zip(passages, scores), key=lambda pair: -pair[1])
    return [p.model_copy(update={"score": float(s), "scores": {**p.scores, "rerank": float(s)}}) for p, s in ranked]


class CrossEncoderReranker:
    """A sentence-transformers ``CrossEncoder`` (e.g. ``cross-encoder/ms-marco-MiniLM-L6-v2``)
    scoring (question, passage) pairs jointly, which sees word order and negation that the
    bi-encoder and BM25 of the first stage miss."""

    def __init__(self, model, model_name: str, batch_size: int = 32) -> None:
        self._model = model
        self.model_name = model_name
        self.batch_size = batch_size
        # predict() is not documented as thread-safe; the API shares one instance.
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(
        cls,
        model_name: str,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = 512,
        allow_downloads: bool = False,
    ) -> "CrossEncoderReranker":
        from sentence_transformers import CrossEncoder

        model = load_model(CrossEncoder, model_name, "reranker model", allow_downloads=allow_downloads,
                           device=device, max_length=max_length)
        return cls(model, model_name, batch_size)

    def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]:
        if not passages:
            return []
        with self._lock:
            scores = self._model.predict(
                [(query, p.text) for p in passages], batch_size=self.batch_size, show_progress_bar=False
            )
        return reordered(passages, [float(s) for s in scores])
