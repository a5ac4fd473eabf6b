"""spaCy's pipeline over several processes.

spaCy runs its models on one core, and the NER and parser passes are most of
ingest's extraction time. :class:`SpacyRunner` splits a pass's texts between
this process and worker processes that each load their own copy of the
pipeline, so extraction uses every core while the embedder waits (the two take
turns: side by side on a small CPU each slowed the other more than it gained).

spaCy's own ``nlp.pipe(n_process=...)`` starts its processes anew on every call;
extraction makes three calls per document, so the workers here are started once
and kept.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from core.errors import ModelLoadError

T = TypeVar("T")
Reader = Callable[[Any], T]  # what a pass keeps of each Doc (module-level, so it pickles by name)

# Below this many characters a pass runs here alone: shipping texts and results costs more than it saves.
MIN_SPLIT_CHARS = 6000
# Texts per spaCy batch: larger batches than spaCy's default of 32 ran the passes a few per cent faster on QMSum.
BATCH_SIZE = 512


def load_pipeline(model: str) -> Any:
    """The spaCy pipeline ``model`` (a package name or path) without its lemmatizer, sentence segmenter on."""
    import spacy

    try:
        nlp = spacy.load(model, exclude=["lemmatizer"])
    except OSError as exc:
        raise ModelLoadError(f"cannot load spaCy model {model!r}: {exc}") from exc
    if "senter" in nlp.disabled:  # shipped disabled: the parser sets sentences by default
        nlp.enable_pipe("senter")
    return nlp


class SpacyRunner:
    """Runs texts through ``nlp`` (less some components) in this process, or split with ``processes - 1`` workers.

    ``model`` is what the workers load; without it everything runs here. Workers are shared by every
    runner of this process with the same model and count, and stop when the process exits.
    """

    def __init__(self, nlp: Any, *, model: str | None = None, processes: int = 1, batch_size: int = BATCH_SIZE) -> None:
        self.nlp = nlp
        self.model = model
        self.processes = processes if model is not None else 1
        self.batch_size = batch_size

    def pipe(self, texts: list[str], disable: list[str], read: Reader[T] | None = None) -> list[Any]:
        """``read(doc)`` for each text (the Doc itself when ``read`` is None), in input order."""
        parts = _split(texts, self.processes) if sum(map(len, texts)) >= MIN_SPLIT_CHARS else [texts]
        pool = _workers(self.model, self.processes - 1) if len(parts) > 1 else None
        futures = [pool.submit(_pipe_in_worker, part, disable, read, self.batch_size) for part in parts[1:]] if pool else []
        results = self._here(parts[0], disable, read)
        for part, future in zip(parts[1:], futures):
            try:
                found = future.result()
            except BrokenProcessPool:  # a worker died (out of memory, killed): do its share here
                _discard(self.model, self.processes - 1, pool)
                results += self._here(part, disable, read)
                continue
            results += list(_from_bytes(found, self.nlp.vocab)) if read is None else found
        return results

    def _here(self, texts: list[str], disable: list[str], read: Reader[T] | None) -> list[Any]:
        docs = self.nlp.pipe(texts, batch_size=self.batch_size, disable=disable)
        return [doc if read is None else read(doc) for doc in docs]


_POOLS: dict[tuple[str, int], ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _workers(model: str | None, count: int) -> ProcessPoolExecutor:
    with _POOLS_LOCK:
        pool = _POOLS.get((model, count))
        if pool is None:
            # "spawn": the embedder's torch thread pools in this process do not survive fork().
            pool = _POOLS[(model, count)] = ProcessPoolExecutor(
                max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker, initargs=(model, os.getpid()),
            )
        return pool


def _discard(model: str | None, count: int, pool: ProcessPoolExecutor) -> None:
    with _POOLS_LOCK:
        if _POOLS.get((model, count)) is pool:
            del _POOLS[(model, count)]
    pool.shutdown(wait=False, cancel_futures=True)


def _split(texts: list[str], parts: int) -> list[list[str]]:
    """Consecutive runs of ``texts`` with about equal numbers of characters (order kept)."""
    total = sum(map(len, texts))
    runs: list[list[str]] = [[]]
    done = 0
    for text in texts:
        if len(runs) < parts and done >= total * len(runs) / parts and runs[-1]:
            runs.append([])
        runs[-1].append(text)
        done += len(text)
    return runs


def _from_bytes(data: bytes, vocab: Any) -> Any:
    from spacy.tokens import DocBin

    return DocBin().from_bytes(data).get_docs(vocab)


# ---- in the worker processes ----------------------------------------------------
_NLP: Any = None


def _start_worker(model: str, parent: int) -> None:
    global _NLP
    _NLP = load_pipeline(model)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="lore-parent-watch").start()


def _exit_with(parent: int) -> None:
    """A worker whose parent was killed (kill -9 skips every clean-up) would wait for work forever."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _pipe_in_worker(texts: list[str], disable: list[str], read: Reader[T] | None, batch_size: int) -> list[T] | bytes:
    docs = _NLP.pipe(texts, batch_size=batch_size, disable=disable)
    if read is not None:
        return [read(doc) for doc in docs]
    from spacy.tokens import DocBin

    return DocBin(docs=docs, store_user_data=False).to_bytes()
