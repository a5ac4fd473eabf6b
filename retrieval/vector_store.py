"""FAISS vector store keyed by the metadata store's integer vector ids.

``IndexIDMap2`` over an exact inner-product index: ids are the SQLite row ids of
chunks, so a vector can be removed or replaced by id (``remove_ids`` before
re-adding, never a duplicate). Saves are atomic (write to a temporary file, then
``os.replace``) and carry a manifest that refuses an index built with another
embedding model or dimension.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from core.errors import IndexMismatchError

INDEX_FILE = "faiss.index"
MANIFEST_FILE = "manifest.json"


class VectorStore(Protocol):
    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def delete(self, ids: np.ndarray) -> None: ...
    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]: ...
    def ids(self) -> np.ndarray: ...
    def save(self) -> None: ...


@dataclass(frozen=True)
class IndexManifest:
    embedding_model: str
    dimension: int
    metric: str = "inner_product"
    index_type: str = "IDMap2,Flat"
    count: int = 0


def _write_atomically(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class FaissVectorStore:
    """Thread-safe: searches and writes take one lock, so readers never see a half-applied batch."""

    def __init__(self, directory: Path, *, embedding_model: str, dimension: int) -> None:
        self.directory = Path(directory)
        self.embedding_model = embedding_model
        self.dimension = dimension
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._lock = threading.RLock()

    @classmethod
    def open(cls, directory: Path, *, embedding_model: str, dimension: int) -> "FaissVectorStore":
        """Load the index in ``directory`` or start an empty one; refuse one built by another model."""
        store = cls(directory, embedding_model=embedding_model, dimension=dimension)
        manifest_path = store.directory / MANIFEST_FILE
        index_path = store.directory / INDEX_FILE
        if manifest_path.exists() and index_path.exists():
            manifest = IndexManifest(**json.loads(manifest_path.read_text()))
            if manifest.embedding_model != embedding_model or manifest.dimension != dimension:
                raise IndexMismatchError(
                    f"index in {store.directory} was built with {manifest.embedding_model!r} "
                    f"({manifest.dimension} dims), but the configured model is {embedding_model!r} "
                    f"({dimension} dims); re-ingest into a new data directory or configure the original model"
                )
            store._index = faiss.read_index(str(index_path))
        return store

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dimension):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dimension}), got {vectors.shape}")
        with self._lock:
            self._index.remove_ids(ids)
            self._index.add_with_ids(vectors, ids)

    def delete(self, ids: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids):
            with self._lock:
                self._index.remove_ids(ids)

    def search(self, query: np.ndarray, k: int, allowed_ids: Iterable[int] | None = None) -> list[tuple[int, float]]:
        """The ``k`` nearest vectors; with ``allowed_ids``, only among those ids (filtered inside FAISS)."""
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dimension)
        params = None
        if allowed_ids is not None:
            allowed = np.fromiter(allowed_ids, dtype=np.int64)
            if not len(allowed):
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        with self._lock:
            if self._index.ntotal == 0:
                return []
            scores, ids = self._index.search(query, min(k, int(self._index.ntotal)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def ids(self) -> np.ndarray:
        with self._lock:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            manifest = IndexManifest(self.embedding_model, self.dimension, count=len(self))
            _write_atomically(self.directory / INDEX_FILE, lambda p: faiss.write_index(self._index, str(p)))
            _write_atomically(
                self.directory / MANIFEST_FILE, lambda p: p.write_text(json.dumps(asdict(manifest), indent=2))
            )
