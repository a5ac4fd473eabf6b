"""The service layer: the only thing the HTTP routers and the CLI call.

``LoreService`` owns the stores and models. ``open()`` connects and loads what
every operation needs (graph, metadata, index, embedder, extractor) and repairs
any interrupted ingest; the LLM is loaded on the first question, so ingest and
search never pay for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from core.types import Answer, Fact, Passage
from generation.answerer import Answerer
from generation.backends import load_backend
from graph import GraphStats, GraphStore
from ingest.chunking import Chunker
from ingest.extract import SpacyExtractor
from ingest.pipeline import IngestPipeline, IngestReport, ProgressCallback, ReconcileReport
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.metadata_store import DocumentRecord, MetadataStore
from retrieval.engine import SearchEngine
from retrieval.filters import SearchFilters
from retrieval.vector_store import FaissVectorStore

from api.bootstrap import graph_store


@dataclass(frozen=True)
class SearchResult:
    query: str
    passages: list[Passage]
    facts: list[Fact]
    seconds: float


class LoreService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.graph: GraphStore | None = None
        self.metadata: MetadataStore | None = None
        self.vectors: FaissVectorStore | None = None
        self.pipeline: IngestPipeline | None = None
        self.engine: SearchEngine | None = None
        self._answerer: Answerer | None = None
        self._answerer_lock = threading.Lock()
        # One writer at a time: ingest, delete and reconcile mutate three stores together.
        self._write_lock = threading.Lock()
        self.last_reconcile: ReconcileReport | None = None

    # ---- lifecycle --------------------------------------------------------
    def open(self) -> "LoreService":
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.graph = graph_store(s)
        self.graph.open()
        self.graph.ensure_schema()
        self.metadata = MetadataStore(s.metadata_path).open()
        embedder = SentenceTransformerEmbedder.from_pretrained(
            s.embedding_model, device=s.embedding_device, batch_size=s.embedding_batch_size, allow_downloads=s.allow_downloads
        )
        self.vectors = FaissVectorStore.open(s.index_dir, embedding_model=s.embedding_model, dimension=embedder.dimension)
        self.pipeline = IngestPipeline(
            embedder=embedder,
            vectors=self.vectors,
            metadata=self.metadata,
            graph=self.graph,
            extractor=SpacyExtractor.from_pretrained(s.spacy_model),
            chunker=Chunker(s.chunk_size, s.chunk_overlap),
        )
        self.engine = SearchEngine(
            embedder=embedder, vectors=self.vectors, metadata=self.metadata, graph=self.graph, settings=s
        )
        with self._write_lock:
            self.last_reconcile = self.pipeline.reconcile()
            self.engine.refresh()
        return self

    def close(self) -> None:
        if self.graph is not None:
            self.graph.close()
        if self.metadata is not None:
            self.metadata.close()

    def __enter__(self) -> "LoreService":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def answerer(self) -> Answerer:
        with self._answerer_lock:
            if self._answerer is None:
                s = self.settings
                self._answerer = Answerer(
                    load_backend(s),
                    context_tokens=s.context_tokens,
                    max_new_tokens=s.max_new_tokens,
                    timeout=s.generation_timeout,
                )
            return self._answerer

    @property
    def model_loaded(self) -> bool:
        return self._answerer is not None

    # ---- operations -------------------------------------------------------
    def ingest(self, paths: Iterable[Path], *, sync: bool = False, progress: ProgressCallback | None = None) -> IngestReport:
        paths = list(paths)
        with self._write_lock:
            report = self.pipeline.ingest(paths, progress)
            if sync:
                report.deleted = self.pipeline.sync(p for p in paths if Path(p).is_dir())
            self.engine.refresh()
        return report

    def delete_document(self, document_id: str) -> bool:
        with self._write_lock:
            deleted = self.pipeline.delete(document_id)
            self.engine.refresh()
            return deleted

    def documents(self) -> list[DocumentRecord]:
        return self.metadata.documents()

    def search(
        self,
        query: str,
        top_k: int | None = None,
        *,
        mode: str | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchResult:
        """Ranked passages (with dense/sparse/graph/fused score components) and graph facts.

        ``mode`` is dense, sparse, graph or hybrid (default: the ``retrieval_mode`` setting).
        """
        started = time.perf_counter()
        k = top_k or self.settings.top_k
        found = self.engine.search(query, k, mode=mode, filters=filters, max_facts=self.settings.max_facts)
        return SearchResult(query, found.passages, found.facts, time.perf_counter() - started)

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        found = self.search(question, top_k)
        answer = self.answerer.answer(question, found.passages, found.facts)
        return answer.model_copy(update={"timings": {"retrieve": found.seconds, **answer.timings}})

    def ask_stream(self, question: str, top_k: int | None = None) -> Iterator[str | Answer]:
        found = self.search(question, top_k)
        for piece in self.answerer.stream(question, found.passages, found.facts):
            if isinstance(piece, Answer):
                yield piece.model_copy(update={"timings": {"retrieve": found.seconds, **piece.timings}})
            else:
                yield piece

    def graph_stats(self) -> GraphStats:
        return self.graph.stats()
