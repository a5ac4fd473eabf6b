"""Sentence embeddings with sentence-transformers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from core.errors import ModelLoadError
from core.lazy import Lazy
from core.packaged_models import packaged_model_path
from core.protocols import Embedder


def resolve_model_path(name: str) -> str:
    """A local path for ``name`` when one exists (a directory or a packaged copy), else ``name`` itself."""
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    packaged = packaged_model_path(name)
    return str(packaged) if packaged else name


Model = TypeVar("Model")


def load_model(factory: Callable[..., Model], name: str, what: str, *, allow_downloads: bool, **kwargs: Any) -> Model:
    """``factory(location, local_files_only=..., **kwargs)`` for a model id or path, local copies
    first; a failure names the model and, with downloads off, how to allow them."""
    try:
        return factory(resolve_model_path(name), local_files_only=not allow_downloads, **kwargs)
    except Exception as exc:  # the libraries raise OSError, ValueError or hub errors
        hint = "" if allow_downloads else " (downloads are off: set LORE_ALLOW_DOWNLOADS=true or give a local path)"
        raise ModelLoadError(f"cannot load {what} {name!r}{hint}: {exc}") from exc


class SentenceTransformerEmbedder:
    """L2-normalised float32 embeddings, so inner product equals cosine similarity."""

    def __init__(self, model, model_name: str, batch_size: int = 64) -> None:
        self._model = model
        self.model_name = model_name
        self.batch_size = batch_size
        # Renamed in sentence-transformers 6; older releases only have the long name.
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimension: int = int(dimension())
        # encode() is not documented as thread-safe; the API shares one instance.
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(
        cls,
        model_name: str,
        *,
        device: str | None = None,
        batch_size: int = 64,
        allow_downloads: bool = False,
    ) -> "SentenceTransformerEmbedder":
        from sentence_transformers import SentenceTransformer

        model = load_model(SentenceTransformer, model_name, "embedding model", allow_downloads=allow_downloads,
                           device=device)
        return cls(model, model_name, batch_size)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class LazyEmbedder:
    """An embedder that loads its model on first use, once, for every thread.

    Commands that never embed (listing or deleting documents, graph status) then never
    pay for loading the model; the server loads it in the background after start-up.
    """

    def __init__(self, model_name: str, load: Callable[[], Embedder]) -> None:
        self.model_name = model_name
        self._model = Lazy(load)

    @property
    def loaded(self) -> bool:
        return self._model.loaded

    def get(self) -> Embedder:
        return self._model.get()

    @property
    def dimension(self) -> int:
        return self.get().dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.get().embed(texts)
