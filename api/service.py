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
from core.types import Answer, Entity, Fact, Passage
from generation.answerer import Answerer
from generation.backends import load_backend
from graph import EntityView, GraphStats, GraphStore
from ingest.chunking import Chunker
from ingest.extract import build_extractor
from ingest.extract.resolution import Merge, MergeStore
from ingest.pipeline import IngestPipeline, IngestReport, ProgressCallback, ReconcileReport
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.metadata_store import DocumentRecord, MetadataStore
from retrieval.retrievers import DenseRetriever, GraphFactRetriever
from retrieval.vector_store import FaissVectorStore

from api.bootstrap import graph_store
from api.minutes import MeetingMinutes


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
        self.merges: MergeStore | None = None
        self._dense: DenseRetriever | None = None
        self._facts: GraphFactRetriever | None = None
        self._answerer: Answerer | None = None
        self._answerer_lock = threading.Lock()
        # One writer at a time: ingest, delete and reconcile mutate three stores together.
        self._write_lock = threading.Lock()
        self.last_reconcile: ReconcileReport | None = None
        self.meetings = MeetingMinutes(self)

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
        self.merges = MergeStore(s.data_dir / "entity_merges.sqlite3").open()
        self.pipeline = IngestPipeline(
            embedder=embedder,
            vectors=self.vectors,
            metadata=self.metadata,
            graph=self.graph,
            extractor=build_extractor(s, graph=self.graph, embedder=embedder, merges=self.merges),
            chunker=Chunker(s.chunk_size, s.chunk_overlap),
        )
        self._dense = DenseRetriever(embedder, self.vectors, self.metadata)
        self._facts = GraphFactRetriever(self.graph)
        with self._write_lock:
            self.last_reconcile = self.pipeline.reconcile()
        return self

    def close(self) -> None:
        if self.graph is not None:
            self.graph.close()
        if self.metadata is not None:
            self.metadata.close()
        if self.merges is not None:
            self.merges.close()

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
            if self.settings.minutes_at_ingest:
                self.meetings.write_for_sources(report.added + report.updated)
        return report

    def delete_document(self, document_id: str) -> bool:
        with self._write_lock:
            derived = self.meetings.derived_id(document_id)
            deleted = self.pipeline.delete(document_id)
            if deleted and derived:  # the meeting's minutes go with it
                self.pipeline.delete(derived)
            return deleted

    def documents(self) -> list[DocumentRecord]:
        return self.metadata.documents()

    def search(self, query: str, top_k: int | None = None) -> SearchResult:
        started = time.perf_counter()
        k = top_k or self.settings.top_k
        passages = self._dense.search(query, k)
        facts = self._facts.facts(query, self.settings.max_facts)
        return SearchResult(query, passages, facts, time.perf_counter() - started)

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        if (summary := self.meetings.answer_summary_question(question, top_k)) is not None:
            return summary
        found = self.search(question, top_k)
        answer = self.answerer.answer(question, found.passages, found.facts)
        return answer.model_copy(update={"timings": {"retrieve": found.seconds, **answer.timings}})

    def ask_stream(self, question: str, top_k: int | None = None) -> Iterator[str | Answer]:
        if (summary := self.meetings.answer_summary_question(question, top_k)) is not None:
            yield summary.text
            yield summary
            return
        found = self.search(question, top_k)
        for piece in self.answerer.stream(question, found.passages, found.facts):
            if isinstance(piece, Answer):
                yield piece.model_copy(update={"timings": {"retrieve": found.seconds, **piece.timings}})
            else:
                yield piece

    # ---- meetings -------------------------------------------------------------
    def minutes(self, meeting: str):
        """Minutes of a meeting given by document id or source path; None when there is no such meeting."""
        return self.meetings.minutes(meeting)

    def write_minutes(self, meeting: str):
        """(Re)build and store a meeting's minutes; None when there is no such meeting."""
        document_id = self.meetings.resolve(meeting)
        if document_id is None:
            return None
        with self._write_lock:
            return self.meetings.write(document_id)

    def graph_stats(self) -> GraphStats:
        return self.graph.stats()

    # ---- knowledge graph inspection and curation ---------------------------
    def search_entities(self, query: str, limit: int = 20) -> list[tuple[Entity, int]]:
        """Entities whose name contains ``query``, most connected first, with their degree."""
        return self.graph.search_entities(query, limit)

    def entity(self, entity_id: str) -> EntityView | None:
        return self.graph.entity(entity_id)

    def find_entity(self, name_or_id: str) -> EntityView | None:
        """An entity by id, else by exact name (ignoring case), else the best substring match."""
        view = self.graph.entity(name_or_id)
        if view is None:
            found = self.graph.find_entities([name_or_id], limit=1) or [e for e, _ in self.graph.search_entities(name_or_id, 1)]
            view = self.graph.entity(found[0].id) if found else None
        return view

    def graph_merges(self, status: str | None = None) -> list[Merge]:
        return self.merges.merges(status)

    def graph_unmerge(self, merge_id: int) -> Merge | None:
        """Undo a merge: it is never made again, and the documents it touched are re-extracted."""
        with self._write_lock:
            merge = self.merges.get(merge_id)
            if merge is None:
                return None
            self.merges.undo(merge_id)
            self.pipeline.rewrite_graph(merge.document_ids)
            return self.merges.get(merge_id)
