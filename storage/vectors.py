"""FAISS vector store keyed by the metadata store's integer vector ids.

Two index types, chosen by size and migrated transparently as the collection grows
or shrinks:

- up to ``exact_max`` vectors: ``IndexIDMap2`` over an exact ``IndexFlatIP``;
- past it: ``IndexIVFFlat`` (inner product) with its own 64-bit ids.

Why IVF-Flat and not HNSW for the large index: HNSW cannot remove vectors
(``remove_ids`` is unsupported), while Lore replaces a changed file's vectors by
id on every update; with HNSW every update would need tombstones and periodic
full rebuilds. IVF-Flat removes by id natively, keeps full vectors (so rebuilding
on growth needs no re-embedding), and has a GPU implementation, which HNSW does
not. Its coarse quantiser is trained on the vectors present at migration and
retrained when the index has grown ``RETRAIN_GROWTH`` times past that.

Ids are the SQLite row ids of chunks, so a vector can be removed or replaced by
id (``remove_ids`` before re-adding, never a duplicate). Saves are atomic (write
to a temporary file, then ``os.replace``) and carry a manifest that refuses an
index built with another embedding model or dimension.

With the GPU build of FAISS (the ``faiss-gpu-cu12`` extra) and a GPU present,
searches run on a GPU copy of the index; writes and saves stay on the CPU index,
which is the one persisted, and the GPU copy is refreshed lazily after writes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from dataclasses import asdict, dataclass
from collections.abc import Iterable
from pathlib import Path

import faiss
import numpy as np

from core.errors import IndexMismatchError

log = logging.getLogger(__name__)

INDEX_FILE = "faiss.index"
MANIFEST_FILE = "manifest.json"
FLAT = "IDMap2,Flat"
IVF = "IVF,Flat"
RETRAIN_GROWTH = 4  # retrain the IVF quantiser when the index is this many times its training size
TRAINING_POINTS_PER_LIST = 39  # FAISS's own guidance: fewer points per centroid gives poor clusters
DEFAULT_EXACT_MAX = 200_000


@dataclass(frozen=True)
class IndexManifest:
    embedding_model: str
    dimension: int
    metric: str = "inner_product"
    index_type: str = FLAT
    count: int = 0
    trained_on: int = 0  # vectors the IVF quantiser was trained on (0 for the flat index)
    # The encoder variant that made the vectors; indexes saved before it was recorded were all torch's.
    encoder: str = "torch-fp32"


def _write_atomically(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.chmod(tmp, 0o600)  # vectors can be inverted back to text: as private as the text itself
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def stored_manifest(directory: Path) -> IndexManifest | None:
    """The manifest of the index saved in ``directory``; None when there is no saved index."""
    manifest_path, index_path = Path(directory) / MANIFEST_FILE, Path(directory) / INDEX_FILE
    if not (manifest_path.exists() and index_path.exists()):
        return None
    fields = json.loads(manifest_path.read_text())
    # Fields added by newer versions are ignored, so an older Lore can still open the index.
    return IndexManifest(**{k: v for k, v in fields.items() if k in IndexManifest.__dataclass_fields__})


def gpu_count() -> int:
    """GPUs FAISS can use: 0 with the CPU build (which has no ``get_num_gpus`` or reports 0)."""
    try:
        return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0
    except RuntimeError:  # a GPU build without a working driver
        return 0


def ivf_list_count(n: int) -> int:
    """Inverted lists for ``n`` vectors: about 4·√n, but never so many that a list trains on < 39 points."""
    return max(1, min(int(4 * math.sqrt(n)), n // TRAINING_POINTS_PER_LIST, 65_536))


class FaissVectorStore:
    """Thread-safe: searches and writes take one lock, so readers never see a half-applied batch."""

    def __init__(
        self,
        directory: Path,
        *,
        embedding_model: str,
        dimension: int,
        encoder: str = "torch-fp32",
        exact_max: int = DEFAULT_EXACT_MAX,
        nprobe: int = 32,
        use_gpu: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.embedding_model = embedding_model
        self.dimension = dimension
        self.encoder = encoder
        self.exact_max = exact_max
        self.nprobe = nprobe
        self.use_gpu = use_gpu and gpu_count() > 0
        self._index: faiss.Index = self._flat()
        self._trained_on = 0
        self._gpu_index: faiss.Index | None = None
        self._gpu_stale = True
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        embedding_model: str,
        dimension: int,
        encoder: str = "torch-fp32",
        exact_max: int = DEFAULT_EXACT_MAX,
        nprobe: int = 32,
        use_gpu: bool = True,
    ) -> "FaissVectorStore":
        """Load the index in ``directory`` or start an empty one; refuse one built by another
        model or another encoder variant of it."""
        store = cls(directory, embedding_model=embedding_model, dimension=dimension, encoder=encoder,
                    exact_max=exact_max, nprobe=nprobe, use_gpu=use_gpu)
        manifest = stored_manifest(store.directory)
        if manifest is not None:
            if manifest.embedding_model != embedding_model or manifest.dimension != dimension:
                raise IndexMismatchError(
                    f"index in {store.directory} was built with {manifest.embedding_model!r} "
                    f"({manifest.dimension} dims), but the configured model is {embedding_model!r} "
                    f"({dimension} dims); re-ingest into a new data directory or configure the original model"
                )
            if manifest.encoder != encoder:
                raise IndexMismatchError(
                    f"index in {store.directory} was built by the {manifest.encoder} encoder, but the configured "
                    f"one is {encoder}; set LORE_EMBEDDING_BACKEND={manifest.encoder} (or auto), or re-ingest "
                    f"into a new data directory"
                )
            store._index = faiss.read_index(str(store.directory / INDEX_FILE))
            store._trained_on = manifest.trained_on
            if store.is_ivf:
                store._index.nprobe = nprobe
            # A changed exact_max setting takes effect on open, not only at the next write.
            store._migrate_if_needed()
        return store

    # ---- index type -------------------------------------------------------
    @property
    def is_ivf(self) -> bool:
        return isinstance(self._index, faiss.IndexIVF)

    @property
    def index_type(self) -> str:
        return IVF if self.is_ivf else FLAT

    def _flat(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ids()
        if not len(ids):
            return ids, np.zeros((0, self.dimension), dtype=np.float32)
        if self.is_ivf:
            return ids, self._index.reconstruct_batch(ids)
        return ids, self._index.index.reconstruct_n(0, self._index.ntotal)  # flat storage is in id_map order

    def _migrate_if_needed(self) -> None:
        """Flat -> IVF past ``exact_max``; retrain IVF after large growth; IVF -> flat when it shrinks to half."""
        n = int(self._index.ntotal)
        if not self.is_ivf and n > self.exact_max and n >= TRAINING_POINTS_PER_LIST:
            self._rebuild(ivf=True)
        elif self.is_ivf and n > RETRAIN_GROWTH * max(self._trained_on, 1):
            self._rebuild(ivf=True)
        elif self.is_ivf and n < self.exact_max // 2:
            self._rebuild(ivf=False)

    def _rebuild(self, *, ivf: bool) -> None:
        ids, vectors = self._all_vectors()
        if ivf and len(ids) >= TRAINING_POINTS_PER_LIST:
            lists = ivf_list_count(len(ids))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dimension), self.dimension, lists,
                                       faiss.METRIC_INNER_PRODUCT)
            index.train(vectors)
            # A hash-table direct map lets vectors be read back and removed by id.
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
            index.nprobe = self.nprobe
            self._trained_on = len(ids)
            log.info("FAISS index: %d vectors, now IVF-Flat with %d lists", len(ids), lists)
        else:
            index = self._flat()
            self._trained_on = 0
            log.info("FAISS index: %d vectors, now exact (flat)", len(ids))
        if len(ids):
            index.add_with_ids(vectors, ids)
        self._index = index
        self._gpu_stale = True

    # ---- writes -----------------------------------------------------------
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
            self._gpu_stale = True
            self._migrate_if_needed()

    def delete(self, ids: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids):
            with self._lock:
                self._index.remove_ids(ids)
                self._gpu_stale = True
                self._migrate_if_needed()

    # ---- reads ------------------------------------------------------------
    def _search_index(self) -> faiss.Index:
        """The index to search: a GPU copy when one is available, else the CPU index."""
        if not self.use_gpu:
            return self._index
        if self._gpu_stale:
            try:
                self._gpu_index = faiss.index_cpu_to_all_gpus(self._index)
                if self.is_ivf:
                    faiss.GpuParameterSpace().set_index_parameter(self._gpu_index, "nprobe", self.nprobe)
            except (RuntimeError, AttributeError) as exc:  # an index type or build without GPU support
                log.warning("FAISS GPU search unavailable (%s); searching on the CPU", exc)
                self.use_gpu = False
                return self._index
            self._gpu_stale = False
        return self._gpu_index

    def search(self, query: np.ndarray, k: int, allowed_ids: Iterable[int] | None = None) -> list[tuple[int, float]]:
        """The ``k`` nearest vectors; with ``allowed_ids``, only among those ids (filtered inside FAISS)."""
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dimension)
        params = None
        if allowed_ids is not None:
            allowed = np.fromiter(allowed_ids, dtype=np.int64)
            if not len(allowed):
                return []
            selector = faiss.IDSelectorBatch(allowed)
            # IVF indexes insist on their own parameter type (and take nprobe with it).
            params = (faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe) if self.is_ivf
                      else faiss.SearchParameters(sel=selector))
        with self._lock:
            if self._index.ntotal == 0:
                return []
            # A selector only runs on the CPU index (GPU indexes take no search parameters).
            index = self._search_index() if params is None else self._index
            scores, ids = index.search(query, min(k, int(self._index.ntotal)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def ids(self) -> np.ndarray:
        with self._lock:
            if not self.is_ivf:
                return faiss.vector_to_array(self._index.id_map).astype(np.int64)
            lists = self._index.invlists
            parts = [
                faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                for i in range(self._index.nlist)
                if lists.list_size(i)
            ]
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def save(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._lock:
            manifest = IndexManifest(self.embedding_model, self.dimension, index_type=self.index_type,
                                     count=len(self), trained_on=self._trained_on, encoder=self.encoder)
            _write_atomically(self.directory / INDEX_FILE, lambda p: faiss.write_index(self._index, str(p)))
            _write_atomically(
                self.directory / MANIFEST_FILE, lambda p: p.write_text(json.dumps(asdict(manifest), indent=2))
            )
