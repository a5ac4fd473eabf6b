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

import errno
import fnmatch
import logging
import multiprocessing
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import IngestError
from core.types import Chunk, Document
from ingest.chunking import Chunker
from ingest.derived import DerivedDocuments
from ingest.extract import Extractor
from core.extraction import document_text
from ingest.loaders import DEFAULT_MAX_BYTES, file_hash, load_document, supported_suffixes
from core.protocols import Embedder
from storage.protocols import GraphWriter, MetadataStore, VectorStore

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
    # Seconds per stage: parse (waiting for parsed files), embed, store (SQLite + FAISS), extract, graph,
    # derive (derived documents: meeting minutes).
    timings: dict[str, float] = field(default_factory=dict)

    def _add_time(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_json(self) -> dict:
        """The ``--report`` file: every list, counts, and each failure with its file and reason."""
        return {
            "ok": self.ok,
            "counts": {k: len(getattr(self, k)) for k in ("added", "updated", "unchanged", "deleted", "failed")},
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged, "deleted": self.deleted,
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


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


def discover(paths: Iterable[Path], *, follow_symlinks: bool = False) -> tuple[list[Path], list[FileFailure]]:
    """Supported files under ``paths`` (recursively, minus hidden files and ``.loreignore``
    matches), in a stable order; what cannot or must not be read comes back as failures.

    Only regular files are read: a FIFO would block the read forever and a device (a link
    to ``/dev/zero``) never ends, so both are reported instead. A symbolic link inside a
    folder is not followed unless ``follow_symlinks``, and never to anything outside the
    folders being ingested (a link to ``/etc/shadow`` must not become a document); a link
    loop is reported. A file name that is not valid UTF-8 is reported for that file alone.
    """
    suffixes = supported_suffixes()
    found: list[Path] = []
    failed: list[FileFailure] = []
    roots = [Path(r) for r in paths]
    for root in roots:
        if root.is_dir():
            patterns = _ignore_patterns(root)
            inside = [root.resolve()]
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    path = Path(dirpath) / name
                    if name.startswith(".") or path.suffix.lower() not in suffixes:
                        continue
                    if _ignored(path.relative_to(root).as_posix(), patterns):
                        continue
                    refused = _refusal(path, follow_symlinks, inside)
                    if refused:
                        failed.append(FileFailure(printable_path(path), refused))
                    else:
                        found.append(path)
        elif root.exists() or root.is_symlink():
            # A file named on the command line: its links are the user's own choice, but it must
            # still be a regular file with a readable name.
            refused = _refusal(root, follow_symlinks=True, inside=None)
            if refused:
                failed.append(FileFailure(printable_path(root), refused))
            else:
                found.append(root)
        else:
            failed.append(FileFailure(printable_path(root), "no such file or directory"))
    return list(dict.fromkeys(found)), failed


def printable_path(path: Path) -> str:
    """The path as text that can be printed and stored: undecodable bytes of a name are escaped."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _refusal(path: Path, follow_symlinks: bool, inside: list[Path] | None) -> str | None:
    """Why ``path`` must not be read (None: it may). ``inside``: the folders a followed link must stay in."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return "file name is not valid UTF-8"
    try:
        if path.is_symlink():
            if not follow_symlinks:
                return "symbolic link, not followed (LORE_FOLLOW_SYMLINKS=true follows links inside the ingested folders)"
            target = path.resolve(strict=True)
            if inside is not None and not any(target.is_relative_to(folder) for folder in inside):
                return f"symbolic link to {printable_path(target)}, outside the folders being ingested"
        mode = path.stat().st_mode
    except RuntimeError:  # raised by resolve() on a loop
        return "symbolic link loop"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        return f"cannot read file: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
        return f"not a regular file ({kind})"
    return None


@dataclass
class PlannedFile:
    """A discovered file and what ingest would do with it."""

    path: Path
    source: str
    action: str  # "add" | "update" | "unchanged"
    size: int


@dataclass
class IngestPlan:
    files: list[PlannedFile] = field(default_factory=list)
    failed: list[FileFailure] = field(default_factory=list)
    chunks: int = 0  # chunks the added and updated files split into
    estimated_seconds: float | None = None

    def of(self, action: str) -> list[PlannedFile]:
        return [f for f in self.files if f.action == action]


# ---- parsing (runs in worker processes with --workers > 1) -------------------------------
_CHUNKERS: dict[tuple[int, int], Chunker] = {}


def parse_file(path: Path, max_bytes: int, chunk_size: int, chunk_overlap: int) -> tuple[Document, list[Chunk]] | FileFailure:
    """Load and chunk one file. A module-level function, so a process pool can run it;
    failures come back as values because an exception with extra fields does not survive pickling."""
    chunker = _CHUNKERS.get((chunk_size, chunk_overlap))
    if chunker is None:
        chunker = _CHUNKERS[(chunk_size, chunk_overlap)] = Chunker(chunk_size, chunk_overlap)
    try:
        document = load_document(path, max_bytes=max_bytes)
        chunks = chunker.split(document)
        if not chunks:
            raise IngestError(path, "no text to index after parsing")
    except IngestError as exc:
        return FileFailure(exc.path, exc.reason)
    return document, chunks


def _parse_star(args: tuple) -> tuple[Document, list[Chunk]] | FileFailure:
    return parse_file(*args)


def _in_collection(document: Document, chunks: list[Chunk], collection: str | None) -> tuple[Document, list[Chunk]]:
    """Tag a parsed document and its chunks with the collection they join (None: leave as parsed)."""
    if collection is None:
        return document, chunks
    document = document.model_copy(update={"metadata": {**document.metadata, "collection": collection}})
    chunks = [c.model_copy(update={"metadata": {**c.metadata, "collection": collection}}) for c in chunks]
    return document, chunks


class IngestPipeline:
    """Parsing and chunking may run in worker processes. Then, batch by batch: one embedding
    call, SQLite and FAISS, then extraction and graph writes document by document, in order
    (so each document's extraction sees the names the ones before it put in the graph).

    Embedding and extraction take turns rather than overlap: each already uses every core
    (torch's threads; the spaCy extractor splits its passes over processes), and run side by
    side on a small CPU they slowed each other down by more than the overlap gained.
    """

    def __init__(
        self,
        *,
        embedder: Embedder,
        vectors: VectorStore,
        metadata: MetadataStore,
        graph: GraphWriter,
        extractor: Extractor,
        chunker: Chunker,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        batch_chunks: int = 1024,
        workers: int = 1,
        save_interval: float = 30.0,
        derived: DerivedDocuments | None = None,
        follow_symlinks: bool = False,
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.metadata = metadata
        self.graph = graph
        self.extractor = extractor
        self.chunker = chunker
        self.max_file_bytes = max_file_bytes
        self.batch_chunks = batch_chunks
        self.workers = workers
        # FAISS is saved at most this often during a run (and always at its end): saving a
        # big index after every batch would make ingest quadratic, and a crash in between
        # only costs re-embedding the unsaved chunks, which reconcile() does from SQLite.
        self.save_interval = save_interval
        # Documents made from ingested ones (meeting minutes), built by whoever composes the pipeline.
        self.derived = derived
        self.follow_symlinks = follow_symlinks

    # ---- plan -------------------------------------------------------------
    def plan(self, paths: Iterable[Path]) -> IngestPlan:
        """What ingest would do with each file: add, update (content changed) or leave unchanged."""
        files, missing = discover(paths, follow_symlinks=self.follow_symlinks)
        plan = IngestPlan(failed=list(missing))
        for path in files:
            source = str(path.resolve())
            try:
                size = path.stat().st_size
                previous_hash = self.metadata.content_hash_for(source)
                if previous_hash is not None and size <= self.max_file_bytes:
                    # Hash only what is stored already: a new file is hashed when it is parsed.
                    if file_hash(path.read_bytes()) == previous_hash:
                        plan.files.append(PlannedFile(path, source, "unchanged", size))
                        continue
            except OSError as exc:
                plan.failed.append(FileFailure(str(path), f"cannot read file: {exc.strerror or exc}"))
                continue
            plan.files.append(PlannedFile(path, source, "update" if previous_hash is not None else "add", size))
        return plan

    def dry_run(self, paths: Iterable[Path], sample_chunks: int = 32) -> IngestPlan:
        """The plan, with the exact chunk count of the files to (re)ingest (they are parsed and
        chunked, nothing is written) and a time estimate from embedding and extracting a sample."""
        plan = self.plan(paths)
        sample: tuple[Document, list[Chunk]] | None = None
        for result in self._parsed(plan.of("add") + plan.of("update")):
            if isinstance(result, FileFailure):
                plan.failed.append(result)
                continue
            plan.chunks += len(result[1])
            if sample is None:
                sample = (result[0], result[1][:sample_chunks])
        if sample is not None:
            started = time.perf_counter()
            self.embedder.embed([c.text for c in sample[1]])
            self.extractor.extract(*sample)
            plan.estimated_seconds = (time.perf_counter() - started) / len(sample[1]) * plan.chunks
        return plan

    # ---- ingest -----------------------------------------------------------
    def ingest(
        self, paths: Iterable[Path], progress: ProgressCallback | None = None, *, collection: str | None = None
    ) -> IngestReport:
        """Ingest ``paths``; ``collection`` (stored in document and chunk metadata) groups documents for access control."""
        started = time.perf_counter()
        plan = self.plan(paths)
        report = IngestReport(failed=list(plan.failed), timings={"plan": time.perf_counter() - started})
        report.unchanged = [f.source for f in plan.of("unchanged")]
        if progress and report.unchanged:
            progress("file", len(report.unchanged))
        todo = [f for f in plan.files if f.action != "unchanged"]
        existed = {f.source for f in plan.of("update")}
        last_save = time.perf_counter()
        batch: list[tuple[Document, list[Chunk]]] = []
        parsed = self._parsed(todo)
        while True:
            waited = time.perf_counter()
            result = next(parsed, None)
            report._add_time("parse", time.perf_counter() - waited)
            if result is None:
                break
            if isinstance(result, FileFailure):
                report.failed.append(result)
                log.warning("skipped %s: %s", result.path, result.reason)
                if progress:
                    progress("file", 1)
                continue
            batch.append(_in_collection(*result, collection))
            if sum(len(c) for _, c in batch) >= self.batch_chunks:
                self._write_batch(batch, existed, report, progress)
                batch = []
                if time.perf_counter() - last_save > self.save_interval:
                    self.vectors.save()
                    last_save = time.perf_counter()
        self._write_batch(batch, existed, report, progress)
        self.vectors.save()
        if self.derived is not None:
            waited = time.perf_counter()
            for source in report.added + report.updated:
                try:
                    self.derive(Document.make_id(source))
                except Exception as exc:  # the derived document is extra: its file stays ingested, the failure is reported
                    log.warning("derived document failed for %s: %s", source, exc)
                    report.failed.append(FileFailure(source, f"derived document not written: {exc}"))
            report._add_time("derive", time.perf_counter() - waited)
        report.seconds = time.perf_counter() - started
        return report

    def _parsed(self, files: list[PlannedFile]) -> Iterator[tuple[Document, list[Chunk]] | FileFailure]:
        """Parsed files in input order: in this process, or in a pool of ``workers`` processes."""
        args = [(f.path, self.max_file_bytes, self.chunker.chunk_size, self.chunker.chunk_overlap) for f in files]
        if self.workers <= 1 or len(files) <= 1:
            yield from (_parse_star(a) for a in args)
            return
        # "spawn": the parent holds torch's thread pools, which do not survive fork().
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield from pool.map(_parse_star, args, chunksize=max(1, min(8, len(args) // (4 * self.workers))))

    def _write_batch(
        self,
        batch: list[tuple[Document, list[Chunk]]],
        existed: set[str],
        report: IngestReport,
        progress: ProgressCallback | None,
    ) -> None:
        """Embed the batch in one call, store each document in SQLite then FAISS, then write each one's graph."""
        if not batch:
            return
        all_chunks = [chunk for _, chunks in batch for chunk in chunks]
        started = time.perf_counter()
        embeddings = self.embedder.embed([c.text for c in all_chunks])
        report._add_time("embed", time.perf_counter() - started)
        started = time.perf_counter()
        offset = 0
        for document, chunks in batch:
            vectors = embeddings[offset : offset + len(chunks)]
            offset += len(chunks)
            self._store(document, chunks, vectors)
            (report.updated if document.source in existed else report.added).append(document.source)
            report.chunks += len(chunks)
        report._add_time("store", time.perf_counter() - started)
        for document, chunks in batch:
            try:
                self._write_graph(document, chunks, report)
            except Exception as exc:  # the graph server's errors: report, keep the batch going
                # The document stays unsynced in SQLite; the next run's reconcile() writes it again.
                log.warning("graph write failed for %s: %s", document.source, exc)
                report.failed.append(FileFailure(document.source, f"graph write failed (retried on next run): {exc}"))
            if progress:
                progress("chunks", len(chunks))
                progress("file", 1)

    def _store(self, document: Document, chunks: list[Chunk], vectors: np.ndarray) -> None:
        """SQLite first (the source of truth, graph marked unsynced), then FAISS in place of the old vectors."""
        old_ids, new_ids = self.metadata.replace_document(document, chunks)
        self.vectors.delete(np.array(old_ids, dtype=np.int64))
        self.vectors.upsert(np.array(new_ids, dtype=np.int64), vectors)

    def _write_graph(self, document: Document, chunks: list[Chunk], report: IngestReport | None = None) -> None:
        started = time.perf_counter()
        extraction = self.extractor.extract(document, chunks)
        if self.derived is not None:  # a derived document's own facts (minutes: the meeting's decisions)
            self.derived.add_facts(document, chunks, extraction)
        extracted = time.perf_counter()
        self.graph.upsert_document(
            document, chunks, list(extraction.entities.values()), extraction.mentions, extraction.relations,
            meetings=extraction.meetings,
        )
        self.metadata.mark_graph_synced(document.id)
        if report is not None:
            report._add_time("extract", extracted - started)
            report._add_time("graph", time.perf_counter() - extracted)

    def stored_document(self, document_id: str) -> tuple[Document, list[Chunk]] | None:
        """A stored document rebuilt from its chunks (so offsets, and turn spans, are the original ones)."""
        record = self.metadata.document(document_id)
        if record is None:
            return None
        chunks = [s.chunk for s in self.metadata.chunks_for_document(document_id)]
        document = Document(id=record.id, source=record.source, title=record.title, text=document_text(chunks),
                            content_hash=record.content_hash, kind=record.kind, language=record.language,
                            metadata=record.metadata)
        return document, chunks

    def derive(self, document_id: str) -> Document | None:
        """Build and store the document derived from a stored one; None when it has none."""
        stored = self.stored_document(document_id) if self.derived is not None else None
        derived = self.derived.derive(*stored) if stored is not None else None
        if derived is not None:
            self.write_derived(derived)
        return derived

    def write_derived(self, document: Document) -> int:
        """Store a document Lore made from another (meeting minutes) like an ingested file; returns its chunk count."""
        chunks = self.chunker.split(document)
        if not chunks:
            return 0
        self._store(document, chunks, self.embedder.embed([c.text for c in chunks]))
        self._write_graph(document, chunks)
        self.vectors.save()
        return len(chunks)

    # ---- delete / sync ----------------------------------------------------
    def delete(self, document_id: str) -> bool:
        """Delete a document from the three stores, and the document derived from it with it."""
        record = self.metadata.document(document_id)
        if record is None:
            return False
        derived_id = self.derived.derived_id(record.source, record.kind) if self.derived is not None else None
        vector_ids = self.metadata.delete_document(document_id)
        self.vectors.delete(np.array(vector_ids, dtype=np.int64))
        self.graph.delete_document(document_id)
        self.vectors.save()
        if derived_id is not None and derived_id != document_id:
            self.delete(derived_id)
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
