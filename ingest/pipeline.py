"""The ingest pipeline: files -> documents -> chunks -> vectors + graph, idempotent and crash-safe.

Write order per document, chosen so a crash at any point is repaired by
``reconcile()`` on the next run:

1. SQLite (source of truth): document + chunks in one transaction, ``graph_synced = 0``.
2. FAISS (in memory; saved atomically at the end of each batch).
3. Graph: the document's contribution replaced in one transaction.
4. SQLite: ``graph_synced = 1``.

``reconcile()`` removes vectors whose chunk is gone, embeds chunks that have no
vector, rewrites the graph for documents not marked synced, and deletes graph
documents SQLite no longer knows.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import IngestError
from core.types import Chunk, Document
from graph import GraphStore
from ingest.chunking import Chunker
from ingest.extract import Extractor
from ingest.loaders import DEFAULT_MAX_BYTES, file_hash, load_document, supported_suffixes
from retrieval.embedder import Embedder
from retrieval.metadata_store import MetadataStore
from retrieval.vector_store import FaissVectorStore

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int], None]  # (event, amount): "file", "chunks"


@dataclass
class FileFailure:
    path: str
    reason: str


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[FileFailure] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class ReconcileReport:
    vectors_removed: int = 0
    vectors_added: int = 0
    graph_rewritten: int = 0
    graph_removed: int = 0


IGNORE_FILE = ".loreignore"


def _ignore_patterns(root: Path) -> list[str]:
    """Glob patterns from ``root/.loreignore`` (one a line, ``#`` comments; ``dir/`` ignores a folder)."""
    path = root / IGNORE_FILE
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _ignored(relative: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("/"):
            if relative.startswith(pattern) or fnmatch.fnmatch(relative.split("/")[0] + "/", pattern):
                return True
        elif fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative.rsplit("/", 1)[-1], pattern):
            return True
    return False


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[FileFailure]]:
    """Supported files under ``paths`` (recursively, minus hidden files and ``.loreignore``
    matches), in a stable order; missing paths are failures."""
    suffixes = supported_suffixes()
    found: list[Path] = []
    missing: list[FileFailure] = []
    for root in paths:
        root = Path(root)
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            patterns = _ignore_patterns(root)
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    path = Path(dirpath) / name
                    if name.startswith(".") or path.suffix.lower() not in suffixes:
                        continue
                    if not _ignored(path.relative_to(root).as_posix(), patterns):
                        found.append(path)
        else:
            missing.append(FileFailure(str(root), "no such file or directory"))
    return list(dict.fromkeys(found)), missing


class IngestPipeline:
    def __init__(
        self,
        *,
        embedder: Embedder,
        vectors: FaissVectorStore,
        metadata: MetadataStore,
        graph: GraphStore,
        extractor: Extractor,
        chunker: Chunker,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        batch_size: int = 16,
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.metadata = metadata
        self.graph = graph
        self.extractor = extractor
        self.chunker = chunker
        self.max_file_bytes = max_file_bytes
        self.batch_size = batch_size

    # ---- ingest -----------------------------------------------------------
    def ingest(self, paths: Iterable[Path], progress: ProgressCallback | None = None) -> IngestReport:
        started = time.perf_counter()
        files, missing = discover(paths)
        report = IngestReport(failed=missing)
        batch: list[tuple[Document, list[Chunk], bool]] = []
        for path in files:
            try:
                item = self._prepare(path, report)
            except IngestError as exc:
                report.failed.append(FileFailure(exc.path, exc.reason))
                log.warning("skipped %s", exc)
                item = None
            if item is not None:
                batch.append(item)
            if len(batch) >= self.batch_size:
                self._write_batch(batch, report, progress)
                batch = []
            if progress:
                progress("file", 1)
        self._write_batch(batch, report, progress)
        report.seconds = time.perf_counter() - started
        return report

    def _prepare(self, path: Path, report: IngestReport) -> tuple[Document, list[Chunk], bool] | None:
        source = str(path.resolve())
        previous_hash = self.metadata.content_hash_for(source)
        if previous_hash is not None:
            try:
                unchanged = file_hash(path.read_bytes()) == previous_hash
            except OSError as exc:
                raise IngestError(path, f"cannot read file: {exc.strerror or exc}") from None
            if unchanged:
                report.unchanged.append(source)
                return None
        document = load_document(path, max_bytes=self.max_file_bytes)
        chunks = self.chunker.split(document)
        if not chunks:
            raise IngestError(path, "no text to index after parsing")
        return document, chunks, previous_hash is not None

    def _write_batch(
        self, batch: list[tuple[Document, list[Chunk], bool]], report: IngestReport, progress: ProgressCallback | None
    ) -> None:
        if not batch:
            return
        all_chunks = [chunk for _, chunks, _ in batch for chunk in chunks]
        embeddings = self.embedder.embed([c.text for c in all_chunks])
        offset = 0
        for document, chunks, existed in batch:
            vectors = embeddings[offset : offset + len(chunks)]
            offset += len(chunks)
            self._write_document(document, chunks, vectors)
            (report.updated if existed else report.added).append(document.source)
            report.chunks += len(chunks)
            if progress:
                progress("chunks", len(chunks))
        self.vectors.save()

    def _write_document(self, document: Document, chunks: list[Chunk], vectors: np.ndarray) -> None:
        old_ids, new_ids = self.metadata.replace_document(document, chunks)
        self.vectors.delete(np.array(old_ids, dtype=np.int64))
        self.vectors.upsert(np.array(new_ids, dtype=np.int64), vectors)
        self._write_graph(document, chunks)

    def _write_graph(self, document: Document, chunks: list[Chunk]) -> None:
        extraction = self.extractor.extract(document, chunks)
        if document.kind == "minutes":  # derived minutes: their decisions and action items belong to the meeting
            from generation.minutes.derived import add_minutes_facts

            add_minutes_facts(document, chunks, extraction)
        self.graph.upsert_document(
            document, chunks, list(extraction.entities.values()), extraction.mentions, extraction.relations,
            meetings=extraction.meetings,
        )
        self.metadata.mark_graph_synced(document.id)

    def write_derived(self, document: Document) -> int:
        """Store a document Lore made from another (meeting minutes) like an ingested file; returns its chunk count."""
        chunks = self.chunker.split(document)
        if not chunks:
            return 0
        self._write_document(document, chunks, self.embedder.embed([c.text for c in chunks]))
        self.vectors.save()
        return len(chunks)

    # ---- delete / sync ----------------------------------------------------
    def delete(self, document_id: str) -> bool:
        if self.metadata.document(document_id) is None:
            return False
        vector_ids = self.metadata.delete_document(document_id)
        self.vectors.delete(np.array(vector_ids, dtype=np.int64))
        self.graph.delete_document(document_id)
        self.vectors.save()
        return True

    def sync(self, roots: Iterable[Path]) -> list[str]:
        """Delete documents whose source file under ``roots`` no longer exists."""
        resolved = [str(Path(r).resolve()) for r in roots]
        removed = []
        for record in self.metadata.documents():
            under_root = any(record.source == r or record.source.startswith(r.rstrip(os.sep) + os.sep) for r in resolved)
            # A derived document ("<file>#minutes") lives as long as its file.
            if under_root and not Path(record.source.split("#", 1)[0]).exists():
                self.delete(record.id)
                removed.append(record.source)
        return removed

    def rewrite_graph(self, document_ids: Iterable[str]) -> int:
        """Re-extract stored documents from their chunks and replace their graph contribution
        (after a crash, or when an entity merge is undone); returns how many were rewritten."""
        rewritten = 0
        for document_id in document_ids:
            record = self.metadata.document(document_id)
            if record is None:
                continue
            document = Document(
                id=record.id,
                source=record.source,
                title=record.title,
                text="",
                content_hash=record.content_hash,
                kind=record.kind,
                language=record.language,
                metadata=record.metadata,
            )
            self._write_graph(document, [s.chunk for s in self.metadata.chunks_for_document(document_id)])
            rewritten += 1
        return rewritten

    # ---- crash recovery ---------------------------------------------------
    def reconcile(self) -> ReconcileReport:
        """Bring FAISS and the graph back in line with SQLite after an interrupted run."""
        report = ReconcileReport()
        known = self.metadata.vector_ids()
        indexed = set(self.vectors.ids().tolist())
        orphans = np.array(sorted(indexed - known), dtype=np.int64)
        if len(orphans):
            self.vectors.delete(orphans)
            report.vectors_removed = len(orphans)
        missing = sorted(known - indexed)
        if missing:
            stored = self.metadata.chunks_by_vector_ids(missing)
            ids = np.array(list(stored), dtype=np.int64)
            self.vectors.upsert(ids, self.embedder.embed([s.chunk.text for s in stored.values()]))
            report.vectors_added = len(ids)
        report.graph_rewritten = self.rewrite_graph(self.metadata.unsynced_document_ids())
        known_documents = {r.id for r in self.metadata.documents()}
        for stale in self.graph.document_ids() - known_documents:
            self.graph.delete_document(stale)
            report.graph_removed += 1
        if report.vectors_removed or report.vectors_added:
            self.vectors.save()
        return report
