"""Parsing files in worker processes that a hostile file cannot hang or exhaust.

Every file is loaded and chunked in a child process (pebble's ``ProcessPool``):
one past the time limit has its worker killed and replaced, and each worker runs
under an address-space limit, so a parser that balloons (a zip bomb, a page of a
million nested tags) fails with ``MemoryError`` in its own process instead of
taking the machine's memory. Either way that file is reported and the rest of
the batch goes on.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from core.errors import IngestError
from core.types import Chunk, Document
from ingest.chunking import Chunker
from ingest.loaders import load_document

log = logging.getLogger(__name__)


@dataclass
class FileFailure:
    path: str
    reason: str


Parsed = tuple[Document, list[Chunk]]


@dataclass(frozen=True)
class ParseLimits:
    """What one file may cost to parse. ``timeout_s`` 0 parses in this process, without either guard
    (for debugging a loader); ``memory_mb`` 0 leaves a worker's memory unbounded."""

    max_bytes: int
    timeout_s: float = 60.0
    memory_mb: int = 2048


# Lookahead of the parser pool: files per worker, and bytes of files in flight.
LOOKAHEAD_FILES = 16
LOOKAHEAD_BYTES = 64 * 1024 * 1024


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class Idle:
    """Yielded by ``ParserPool.parse`` when no file finished within its ``tick``: the caller may
    commit what it holds instead of waiting on a slow file."""


IDLE = Idle()

# ---- in the worker --------------------------------------------------------------------
_CHUNKERS: dict[tuple[int, int], Chunker] = {}


def parse_file(path: Path, max_bytes: int, chunk_size: int, chunk_overlap: int,
               source: str | None = None) -> Parsed | FileFailure:
    """Load and chunk one file. Module-level, so a worker process can run it; failures come
    back as values because an exception with extra fields does not survive pickling."""
    chunker = _CHUNKERS.get((chunk_size, chunk_overlap))
    if chunker is None:
        chunker = _CHUNKERS[(chunk_size, chunk_overlap)] = Chunker(chunk_size, chunk_overlap)
    try:
        document = load_document(path, max_bytes=max_bytes, source=source)
        chunks = chunker.split(document)
        if not chunks:
            raise IngestError(path, "no text to index after parsing")
    except IngestError as exc:
        return FileFailure(exc.path, exc.reason)
    except MemoryError:  # the chunker, past the loader's own guard
        return FileFailure(str(path), "file too complex to parse: MemoryError")
    return document, chunks


def _start_worker(memory_mb: int) -> None:
    """Worker initializer: cap the address space, so a runaway parser gets MemoryError, and load
    what parsing needs now (the Office and PDF libraries, the language model), so those seconds
    are not charged to the time limit of the first file a new worker parses."""
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import docx  # noqa: F401
    import pptx  # noqa: F401
    import pypdf  # noqa: F401

    from core.language import detect_language

    detect_language("A sentence to load the language model.")


# ---- in the ingesting process ---------------------------------------------------------
class ParserPool:
    """``workers`` parser processes, started on first use and kept for the next batch
    (a worker costs about a second to start); ``close()`` stops them."""

    def __init__(self, limits: ParseLimits, chunker: Chunker, workers: int = 1) -> None:
        self.limits = limits
        self.chunker = chunker
        self.workers = max(1, workers)
        self._pool = None
        self._pool_workers = 0

    def _get_pool(self):
        from pebble import ProcessPool

        if self._pool is None or self._pool_workers != self.workers or not self._pool.active:
            self.close()
            # "spawn": the parent holds torch's thread pools, which do not survive fork().
            self._pool = ProcessPool(max_workers=self.workers, initializer=_start_worker,
                                     initargs=(self.limits.memory_mb,), context=multiprocessing.get_context("spawn"))
            self._pool_workers = self.workers
        return self._pool

    def parse(self, paths: Sequence[Path], *, tick: float | None = None,
              sources: Sequence[str | None] | None = None) -> Iterator[Parsed | FileFailure | Idle]:
        """Each file's chunks or its failure, in input order (``sources``: each file's document source,
        None for its path). With ``tick``, ``IDLE`` is yielded whenever the next file has not
        finished for that many seconds."""
        sources = sources or [None] * len(paths)
        args = [(Path(p), self.limits.max_bytes, self.chunker.chunk_size, self.chunker.chunk_overlap, s)
                for p, s in zip(paths, sources, strict=True)]
        if self.limits.timeout_s <= 0:
            yield from (parse_file(*a) for a in args)
            return
        pool = self._get_pool()
        # Files in flight ahead of the one the caller waits for, so the workers parse (and reject)
        # while the caller embeds; bounded in count and in bytes, since parsed text held for
        # thousands of files would be memory for nothing.
        pending: deque[tuple[Path, Future, int]] = deque()
        queued = iter(args)
        in_flight = 0

        def refill() -> None:
            nonlocal in_flight
            while len(pending) < self.workers * LOOKAHEAD_FILES and (not pending or in_flight < LOOKAHEAD_BYTES):
                item = next(queued, None)
                if item is None:
                    return
                size = _size(item[0])
                pending.append((item[0], pool.schedule(parse_file, args=item, timeout=self.limits.timeout_s), size))
                in_flight += size

        refill()
        while pending:
            path, future, size = pending[0]
            try:
                result = future.result(timeout=tick)
            except FutureTimeout:
                if not future.done():  # still parsing: let the caller commit meanwhile
                    yield IDLE
                    continue
                result = FileFailure(str(path), f"parsing took longer than the {self.limits.timeout_s:g} s limit "
                                                "(LORE_PARSE_TIMEOUT_S); the parser was stopped")
            except Exception as exc:  # the worker died (killed for memory, a crash in a C parser)
                result = FileFailure(str(path), self._crash_reason(exc))
            pending.popleft()
            in_flight -= size
            refill()
            yield result

    def _crash_reason(self, exc: Exception) -> str:
        from pebble import ProcessExpired

        if isinstance(exc, ProcessExpired):
            return f"the parser process died (exit code {exc.exitcode}) while reading this file"
        if isinstance(exc, MemoryError):
            return f"file too complex to parse: over the {self.limits.memory_mb} MiB parser memory limit"
        return f"cannot parse file: {type(exc).__name__}: {exc}"

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.stop()
            pool.join(timeout=10)

