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
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.types import Chunk, Document
from ingest.chunking import Chunker
from ingest.derived import DerivedDocuments
from ingest.extract import Extractor
from ingest.extract.base import prepare
from core.extraction import document_text
from ingest.loaders import DEFAULT_MAX_BYTES, file_hash, supported_suffixes
from ingest.parsing import IDLE, FileFailure, ParseLimits, ParserPool
from core.protocols import Embedder
from storage.protocols import GraphWriter, LanguageIndex, MetadataStore, VectorStore

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int], None]  # (event, amount): "file", "chunks"


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[FileFailure] = field(default_factory=list)
    skipped: list[FileFailure] = field(default_factory=list)  # hidden names, not read on purpose
    chunks: int = 0
    seconds: float = 0.0
    # Seconds per stage: parse (waiting for parsed files), embed, store (SQLite + FAISS), extract, graph,
    # derive (derived documents: meeting minutes).
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # what stopped the run before its end, if anything did

    def _add_time(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds

    @property
    def ok(self) -> bool:
        return not self.failed and self.error is None

    @property
    def status(self) -> str:
        """complete: every file is in; partial: some files failed, the others are in; failed: the run
        stopped early, or not one of the files it had to write could be written."""
        if self.error is not None:
            return "failed"
        if not self.failed:
            return "complete"
        written = {*self.added, *self.updated} - {f.path for f in self.failed}
        return "partial" if written or self.unchanged else "failed"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def as_json(self) -> dict:
        """The ``--report`` file: status, every list, counts, and each failure with its file and reason."""
        lists = ("added", "updated", "unchanged", "deleted", "failed", "skipped")
        return {
            "status": self.status,
            "ok": self.ok,
            **({"error": self.error} if self.error is not None else {}),
            "counts": {k: len(getattr(self, k)) for k in lists},
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged, "deleted": self.deleted,
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "skipped": [{"path": f.path, "reason": f.reason} for f in self.skipped],
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


class IngestInterrupted(Exception):
    """An ingest run stopped before its end; ``report`` says what it did and, in ``error``, why it stopped."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__(report.error)
        self.report = report


# `lore ingest` exit codes.
EXIT_CODES = {"complete": 0, "partial": 1, "failed": 2}


@dataclass
class ReconcileReport:
    vectors_removed: int = 0
    vectors_added: int = 0
    graph_rewritten: int = 0
    graph_removed: int = 0
    derived_rebuilt: int = 0


IGNORE_FILE = ".loreignore"
# The smallest batch a slow embedder is given: below it, per-call overhead eats the throughput.
MIN_BATCH_CHUNKS = 32


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


class Discovery(NamedTuple):
    files: list[Path]  # to read
    failed: list[FileFailure]  # must not or cannot be read, with the reason
    skipped: list[FileFailure]  # hidden names, passed over on purpose and listed in the report


def discover(paths: Iterable[Path], *, follow_symlinks: bool = False) -> Discovery:
    """Supported files under ``paths`` (recursively, minus hidden names and ``.loreignore``
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
    skipped: list[FileFailure] = []
    roots = [Path(r) for r in paths]
    for root in roots:
        if root.is_dir():
            patterns = _ignore_patterns(root)
            inside = [root.resolve()]
            for dirpath, dirnames, filenames in os.walk(root):
                hidden = sorted(d for d in dirnames if d.startswith("."))
                skipped += [FileFailure(printable_path(Path(dirpath) / d), "hidden folder, not read") for d in hidden]
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    path = Path(dirpath) / name
                    if path.suffix.lower() not in suffixes or name == IGNORE_FILE:
                        continue
                    if name.startswith("."):
                        skipped.append(FileFailure(printable_path(path), "hidden file, not read"))
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
    return Discovery(list(dict.fromkeys(found)), failed, skipped)


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
    skipped: list[FileFailure] = field(default_factory=list)  # hidden names
    chunks: int = 0  # chunks the added and updated files split into
    estimated_seconds: float | None = None

    def of(self, action: str) -> list[PlannedFile]:
        return [f for f in self.files if f.action == action]


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
        commit_interval: float = 5.0,
        derived: DerivedDocuments | None = None,
        follow_symlinks: bool = False,
        parse_timeout: float = 60.0,
        parse_memory_mb: int = 2048,
        language_indexes: Sequence[LanguageIndex] = (),
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        # Second indexes for languages the embedder does not cover (Chinese): their documents'
        # chunks are embedded again there, under the same ids; the main index keeps every chunk.
        self.language_indexes = tuple(language_indexes)
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
        # Parsed documents are written (and so searchable) within about this many seconds: a
        # batch is cut short when the embedding rate says it would take longer, and a file that
        # parses slowly does not hold back the ones already parsed.
        self.commit_interval = commit_interval
        self.parse_limits = ParseLimits(max_file_bytes, parse_timeout, parse_memory_mb)
        self._parsers: ParserPool | None = None
        # Documents made from ingested ones (meeting minutes), built by whoever composes the pipeline.
        self.derived = derived
        self.follow_symlinks = follow_symlinks

    # ---- plan -------------------------------------------------------------
    def plan(self, paths: Iterable[Path], sources: Mapping[Path, str] | None = None) -> IngestPlan:
        """What ingest would do with each file: add, update (content changed) or leave unchanged.

        ``sources`` names documents by something other than their resolved path (an upload keeps
        the client's file name), keyed by resolved path."""
        files, missing, skipped = discover(paths, follow_symlinks=self.follow_symlinks)
        plan = IngestPlan(failed=list(missing), skipped=skipped)
        for path in files:
            source = str(path.resolve())
            source = (sources or {}).get(Path(source), source)
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
        self, paths: Iterable[Path], progress: ProgressCallback | None = None, *, collection: str | None = None,
        sources: Mapping[Path, str] | None = None,
    ) -> IngestReport:
        """Ingest ``paths``; ``collection`` (stored in document and chunk metadata) groups documents for access control;
        ``sources`` as in ``plan``.

        Raises ``IngestInterrupted``, holding the report of what was done, when something other than a
        file (the graph server, the disk) stops the run; what was written stays consistent for reconcile().
        """
        started = time.perf_counter()
        report = IngestReport()
        try:
            return self._ingest(paths, progress, collection, report, started, sources)
        except Exception as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            report.seconds = time.perf_counter() - started
            raise IngestInterrupted(report) from exc

    def _ingest(self, paths: Iterable[Path], progress: ProgressCallback | None, collection: str | None,
                report: IngestReport, started: float, sources: Mapping[Path, str] | None) -> IngestReport:
        plan = self.plan(paths, sources)
        report.failed, report.skipped = list(plan.failed), plan.skipped
        report.timings["plan"] = time.perf_counter() - started
        report.unchanged = [f.source for f in plan.of("unchanged")]
        if progress and report.unchanged:
            progress("file", len(report.unchanged))
        todo = [f for f in plan.files if f.action != "unchanged"]
        existed = {f.source for f in plan.of("update")}
        last_save = time.perf_counter()
        batch: list[tuple[Document, list[Chunk]]] = []
        batch_started = time.perf_counter()
        limit = min(self.batch_chunks, 4 * MIN_BATCH_CHUNKS)  # then sized by the measured write rate
        parsed = self._parsed(todo, tick=self.commit_interval / 2)
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
            elif result is not IDLE:
                if not batch:
                    batch_started = time.perf_counter()
                batch.append(_in_collection(*result, collection))
            pending = sum(len(c) for _, c in batch)
            # Write when the batch is full, or when what it holds has waited long enough.
            if batch and (pending >= limit or time.perf_counter() - batch_started >= self.commit_interval):
                written = time.perf_counter()
                self._write_batch(batch, existed, report, progress)
                # Size the next batch so that writing it takes about one commit interval.
                rate = pending / max(time.perf_counter() - written, 1e-3)
                limit = min(self.batch_chunks, max(MIN_BATCH_CHUNKS, int(rate * self.commit_interval)))
                batch = []
                if time.perf_counter() - last_save > self.save_interval:
                    self._save_vectors()
                    last_save = time.perf_counter()
        self._write_batch(batch, existed, report, progress)
        self._save_vectors()
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

    def _parsed(self, files: list[PlannedFile], *, tick: float | None = None):
        """Parsed files (or their failures) in input order, from the parser processes; ``IDLE``
        whenever the next one has taken ``tick`` seconds."""
        if self._parsers is None:
            self._parsers = ParserPool(self.parse_limits, self.chunker, self.workers)
        self._parsers.workers = self.workers
        return self._parsers.parse([f.path for f in files], tick=tick, sources=[f.source for f in files])

    def close(self) -> None:
        """Stop the parser processes."""
        if self._parsers is not None:
            self._parsers.close()

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
        extra = [self._embed_for(index, batch) for index in self.language_indexes]
        report._add_time("embed", time.perf_counter() - started)
        started = time.perf_counter()
        offset = 0
        for document, chunks in batch:
            vectors = embeddings[offset : offset + len(chunks)]
            offset += len(chunks)
            self._store(document, chunks, vectors, [vectors_of.get(document.id) for vectors_of in extra])
            (report.updated if document.source in existed else report.added).append(document.source)
            report.chunks += len(chunks)
        report._add_time("store", time.perf_counter() - started)
        started = time.perf_counter()
        try:
            prepare(self.extractor, batch)
        except Exception as exc:  # each document is then read on its own, and fails there if it must
            log.warning("extraction could not read the batch ahead: %s", exc)
        report._add_time("extract", time.perf_counter() - started)
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

    @staticmethod
    def _embed_for(index: LanguageIndex, batch: list[tuple[Document, list[Chunk]]]) -> dict[str, np.ndarray]:
        """The vectors ``index`` holds for the documents of ``batch`` in its languages, by document id."""
        wanted = [(document, chunks) for document, chunks in batch if index.covers(document.language) and chunks]
        if not wanted:
            return {}
        embedded = index.embedder.embed([c.text for _, chunks in wanted for c in chunks])
        found, offset = {}, 0
        for document, chunks in wanted:
            found[document.id] = embedded[offset : offset + len(chunks)]
            offset += len(chunks)
        return found

    def _store(self, document: Document, chunks: list[Chunk], vectors: np.ndarray,
               extra: Sequence[np.ndarray | None] = ()) -> None:
        """SQLite first (the source of truth, graph marked unsynced, a derived document marked
        pending), then FAISS in place of the old vectors, in the main index and in the
        language indexes (``extra``: their vectors for this document, None where it is not theirs)."""
        pending = self.derived is not None and self.derived.expects(document)
        old_ids, new_ids = self.metadata.replace_document(document, chunks, derived_pending=pending)
        old, new = np.array(old_ids, dtype=np.int64), np.array(new_ids, dtype=np.int64)
        self.vectors.delete(old)
        self.vectors.upsert(new, vectors)
        for index, index_vectors in zip(self.language_indexes, extra or [None] * len(self.language_indexes)):
            index.store.delete(old)  # a document whose language changed leaves that index
            if index_vectors is not None:
                index.store.upsert(new, index_vectors)

    def _save_vectors(self) -> None:
        self.vectors.save()
        for index in self.language_indexes:
            index.store.save()

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
        if stored is not None:
            self.metadata.mark_derived(document_id)
        return derived

    def write_derived(self, document: Document) -> int:
        """Store a document Lore made from another (meeting minutes) like an ingested file; returns its chunk count."""
        chunks = self.chunker.split(document)
        if not chunks:
            return 0
        extra = [self._embed_for(index, [(document, chunks)]).get(document.id) for index in self.language_indexes]
        self._store(document, chunks, self.embedder.embed([c.text for c in chunks]), extra)
        self._write_graph(document, chunks)
        self._save_vectors()
        return len(chunks)

    # ---- delete / sync ----------------------------------------------------
    def delete(self, document_id: str) -> bool:
        """Delete a document from the three stores, and the document derived from it with it."""
        record = self.metadata.document(document_id)
        if record is None:
            return False
        derived_id = self.derived.derived_id(record.source, record.kind) if self.derived is not None else None
        vector_ids = np.array(self.metadata.delete_document(document_id), dtype=np.int64)
        self.vectors.delete(vector_ids)
        for index in self.language_indexes:
            index.store.delete(vector_ids)
        self.graph.delete_document(document_id)
        self._save_vectors()
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
        self._reconcile_vectors(self.vectors, self.embedder, self.metadata.vector_ids(), report)
        for index in self.language_indexes:
            self._reconcile_vectors(index.store, index.embedder, self.metadata.vector_ids(index.languages), report)
        report.graph_rewritten = self.rewrite_graph(self.metadata.unsynced_document_ids())
        # Minutes a crash left out: their meeting was stored but its derived document never written.
        for document_id in self.metadata.derived_pending_ids() if self.derived is not None else ():
            try:
                self.derive(document_id)
                report.derived_rebuilt += 1
            except Exception as exc:  # stays pending; the next reconcile tries again
                log.warning("derived document for %s not rebuilt: %s", document_id, exc)
        known_documents = {r.id for r in self.metadata.documents()}
        for stale in self.graph.document_ids() - known_documents:
            self.graph.delete_document(stale)
            report.graph_removed += 1
        if report.vectors_removed or report.vectors_added:
            self._save_vectors()
        return report

    def _reconcile_vectors(self, store: VectorStore, embedder: Embedder, known: set[int], report: ReconcileReport) -> None:
        """Remove the vectors of ``store`` whose chunk is not in ``known``, embed the chunks it lacks."""
        indexed = set(store.ids().tolist())
        orphans = np.array(sorted(indexed - known), dtype=np.int64)
        if len(orphans):
            store.delete(orphans)
            report.vectors_removed += len(orphans)
        missing = sorted(known - indexed)
        if missing:
            stored = self.metadata.chunks_by_vector_ids(missing)
            ids = np.array(list(stored), dtype=np.int64)
            store.upsert(ids, embedder.embed([s.chunk.text for s in stored.values()]))
            report.vectors_added += len(ids)
