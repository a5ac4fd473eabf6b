"""The embedder interface every layer codes against; the composition root picks the model."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows, so inner product is cosine similarity."""

    model_name: str
    dimension: int
    variant: str  # which encoder made the vectors ("torch-fp32", "onnx-int8"): an index holds one kind

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class QueryPassageEmbedder(Embedder, Protocol):
    """An embedder trained with different prefixes for questions and passages (E5): ``embed``
    encodes passages, ``embed_queries`` questions."""

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...
