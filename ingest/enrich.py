"""`lore graph enrich`: an LLM reads the stored chunks in the background and adds typed triples.

Ingest stays fast and searchable at once (the rules extractor); enrichment comes later, at
the model's pace, and never blocks a query:

* **What it reads.** Every chunk no enrichment has read yet, document by document. The
  model answers against the closed schema (grammar-constrained on llama.cpp, see
  :data:`ingest.extract.llm.TRIPLES_SCHEMA`); a triple is kept only when both names occur in
  the chunk and both types are in the schema.
* **Where it goes.** The chunk's extraction is stored in SQLite (``enrichments``, one row per
  chunk, deleted with its chunk), and in the same transaction the document is marked as
  behind the graph. When a document's chunks are done its graph contribution is rewritten
  from the rules extractor plus every stored enrichment, through entity resolution, by the
  pipeline's one graph write (:meth:`IngestPipeline.rewrite_graph`). So an enriched fact has
  the provenance of any other (chunk, document, evidence sentence, offsets; ``origin: "llm"``),
  a re-ingested document loses the enrichment of text it no longer has, and a deleted one
  takes its enriched facts with it.
* **Resuming.** A kill loses at most the chunk being read: finished chunks have their row,
  and a document whose graph was not rewritten yet is still marked unsynced, which the next
  run (or ``lore reconcile``) repairs first.
* **Yielding.** Between chunks the job waits while ``busy()`` says queries are running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from core.errors import LoreError
from core.extraction import Extraction
from core.types import Chunk, Document, Entity, Mention, Relation

log = logging.getLogger(__name__)


class ChunkExtractor(Protocol):
    """What reads one chunk (``ingest.extract.llm.LLMExtractor``)."""

    model: str

    def extract_chunk(self, chunk: Chunk) -> Extraction: ...


class EnrichmentStore(Protocol):
    """The part of the metadata store enrichment uses (``storage.metadata.SqliteMetadataStore``)."""

    def chunks_to_enrich(self, limit: int | None = None) -> list: ...

    def store_enrichment(self, chunk_id: str, document_id: str, model: str, payload: dict) -> None: ...

    def enrichments_for(self, chunk_ids: Iterable[str]) -> dict[str, dict]: ...

    def enrichment_progress(self) -> tuple[int, int]: ...

    def unsynced_document_ids(self) -> list[str]: ...


def to_payload(extraction: Extraction) -> dict:
    """An extraction as JSON-safe data (what the ``enrichments`` table holds)."""
    return {
        "entities": [e.model_dump() for e in extraction.entities.values()],
        "mentions": [m.model_dump() for m in extraction.mentions],
        "relations": [r.model_dump() for r in extraction.relations],
    }


def from_payload(payload: dict) -> Extraction:
    extraction = Extraction()
    for raw in payload.get("entities", ()):
        entity = Entity.model_validate(raw)
        extraction.entities[entity.id] = entity
    extraction.mentions = [Mention.model_validate(m) for m in payload.get("mentions", ())]
    extraction.relations = [Relation.model_validate(r) for r in payload.get("relations", ())]
    return extraction


class StoredEnrichments:
    """An extractor that returns what enrichment stored for a document's chunks.

    Composed beside the rules extractor and inside entity resolution (``build_extractor``), so
    every graph write of a document, at ingest, on rewrite and on reconcile, carries its
    enriched facts, resolved against the same entities as the rest.
    """

    def __init__(self, store: EnrichmentStore) -> None:
        self.store = store

    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction:
        extraction = Extraction()
        for payload in self.store.enrichments_for(c.id for c in chunks).values():
            extraction.merge(from_payload(payload))
        return extraction


@dataclass
class EnrichReport:
    chunks_read: int = 0
    chunks_failed: int = 0
    relations_added: int = 0
    documents_rewritten: int = 0
    seconds: float = 0.0
    remaining: int = 0
    interrupted: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def chunks_per_minute(self) -> float:
        return 60.0 * self.chunks_read / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict:
        return {**asdict(self), "chunks_per_minute": round(self.chunks_per_minute, 2)}


# (chunks read, chunks to read in this run, seconds so far) after each chunk.
EnrichProgress = Callable[[int, int, float], None]


class GraphEnricher:
    """Runs the LLM over chunks not yet enriched; ``rewrite`` is the pipeline's graph rewrite."""

    def __init__(self, store: EnrichmentStore, extractor: ChunkExtractor,
                 rewrite: Callable[[Iterable[str]], int], *, busy: Callable[[], bool] = lambda: False,
                 poll_seconds: float = 0.5) -> None:
        self.store = store
        self.extractor = extractor
        self.rewrite = rewrite
        self.busy = busy
        self.poll_seconds = poll_seconds

    def pending(self) -> int:
        done, total = self.store.enrichment_progress()
        return total - done

    def run(self, limit: int | None = None, *, progress: EnrichProgress | None = None,
            stop: Callable[[], bool] = lambda: False) -> EnrichReport:
        """Enrich up to ``limit`` chunks (all when None); ``stop()`` ends the run between chunks."""
        report = EnrichReport()
        # Documents a killed run enriched but did not rewrite: their graph first.
        report.documents_rewritten += self.rewrite(self.store.unsynced_document_ids())
        chunks = [stored.chunk for stored in self.store.chunks_to_enrich(limit)]
        started = time.perf_counter()
        current: str | None = None
        for position, chunk in enumerate(chunks):
            if stop():
                report.interrupted = True
                break
            while self.busy() and not stop():
                time.sleep(self.poll_seconds)  # a query is running: it gets the cores
            if current is not None and chunk.document_id != current:
                report.documents_rewritten += self.rewrite([current])
            current = chunk.document_id
            try:
                extraction = self.extractor.extract_chunk(chunk)
            except LoreError as exc:
                # Recorded as read with nothing found, so one chunk the model cannot do is not retried forever.
                log.warning("enrichment could not read chunk %s: %s", chunk.id, exc)
                report.chunks_failed += 1
                report.failures.append(f"{chunk.id}: {exc}")
                extraction = Extraction()
            self.store.store_enrichment(chunk.id, chunk.document_id, self.extractor.model, to_payload(extraction))
            report.chunks_read += 1
            report.relations_added += len(extraction.relations)
            report.seconds = time.perf_counter() - started
            if progress is not None:
                progress(position + 1, len(chunks), report.seconds)
        if current is not None:
            report.documents_rewritten += self.rewrite([current])
        report.seconds = time.perf_counter() - started
        report.remaining = self.pending()
        return report
