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
from retrieval.onnx_embedder import ONNX_INT8, TORCH_FP32, EncoderLayout, OnnxEmbedder


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

    variant = TORCH_FP32

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


def local_model_dir(name: str) -> Path | None:
    """The folder holding model ``name`` on this machine (a path, a packaged copy or the
    Hugging Face cache); None when it would have to be downloaded first."""
    resolved = Path(resolve_model_path(name))
    if resolved.is_dir():
        return resolved
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not a hub id, or not in the cache
        return None


def choose_encoder(backend: str, model_name: str, *, device: str | None, index_encoder: str | None) -> str:
    """The encoder variant to embed with: the configured one, else (``auto``) the one that
    built the existing index, else int8 ONNX on a CPU for a model it can export."""
    if backend != "auto":
        return backend
    if index_encoder is not None:
        return index_encoder  # vectors from two encoders in one index would not compare
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if not device.startswith("cpu"):
        return TORCH_FP32
    directory = local_model_dir(model_name)
    return ONNX_INT8 if directory is not None and EncoderLayout.read(directory) is not None else TORCH_FP32


def load_embedder(
    model_name: str,
    variant: str,
    *,
    device: str | None = None,
    batch_size: int = 64,
    threads: int = 0,
    cache_dir: Path,
    allow_downloads: bool = False,
) -> Embedder:
    """The embedder of ``variant`` for ``model_name``; see ``choose_encoder``."""
    if variant == TORCH_FP32:
        return SentenceTransformerEmbedder.from_pretrained(
            model_name, device=device, batch_size=batch_size, allow_downloads=allow_downloads
        )
    directory = local_model_dir(model_name)
    if directory is None:
        raise ModelLoadError(f"embedding model {model_name!r} is not on this machine, so it cannot be exported to "
                             f"ONNX; give a local path, or use LORE_EMBEDDING_BACKEND=torch-fp32 with downloads on")
    return OnnxEmbedder.from_model(model_name, directory, cache_dir, batch_size=batch_size,
                                   threads=threads)


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

    @property
    def variant(self) -> str:
        return self.get().variant

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.get().embed(texts)
