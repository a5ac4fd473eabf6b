"""The service layer: the only thing the HTTP routers and the CLI call.

``LoreService`` works on the parts the composition root (``api.bootstrap.build``) made.
Reading the metadata store (listing documents) or the graph needs nothing else;
the first operation that searches or writes makes the vector index, the models and the
engine ready and repairs any interrupted ingest (``open()`` does that up front). The LLM
is loaded on the first question, so ingest and search never pay for it.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.settings import Settings
from core.types import Answer, Entity, Fact, Passage
from generation.answerer import Answerer
from generation.finetune.registry import AdapterRegistry
from generation.followup import Turn, standalone_question
from ingest.enrich import EnrichProgress, EnrichReport
from retrieval.query import Query
from storage.metadata import DocumentRecord, StoredChunk

from api.bootstrap import Parts, build

if TYPE_CHECKING:
    from api.meetings import MeetingService
    from graph import EntityView, GraphStats, GraphStore
    from retrieval.engine import SearchEngine
    from storage.vectors import FaissVectorStore
    from ingest.extract.resolution import Merge
    from generation.finetune.pipeline import FinetuneReport
    from generation.minutes import MeetingTurn, Minutes
    from ingest.pipeline import IngestPipeline, IngestPlan, IngestReport, ProgressCallback, ReconcileReport


log = logging.getLogger(__name__)


def as_query(query: Query | str) -> Query:
    """A plain string is a question with every search default."""
    return Query(text=query) if isinstance(query, str) else query


@dataclass(frozen=True)
class SearchResult:
    query: str
    passages: list[Passage]
    facts: list[Fact]
    seconds: float
    # Words of the question no chunk holds (``SearchEngine.unseen_terms``); filled for answers only.
    unseen_terms: list[str] = field(default_factory=list)


class LoreService:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.settings = parts.settings
        self.metadata = parts.metadata
        self.merges = parts.merges
        self.llm = parts.llm
        self._answerer: Answerer | None = None
        self._answerer_lock = threading.Lock()
        # One writer at a time: ingest, delete and reconcile mutate three stores together.
        self._write_lock = threading.Lock()
        self._ready_lock = threading.Lock()
        self._ready = False
        self.open_error: Exception | None = None  # why a background open failed, for /readyz
        self.last_reconcile: ReconcileReport | None = None
        # Searches and answers in flight: the background graph enrichment waits while any run.
        self._queries = 0
        self._queries_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "LoreService":
        """A service over ``build(settings)``; nothing heavy is loaded yet."""
        return cls(build(settings))

    # ---- lifecycle --------------------------------------------------------
    def open(self) -> "LoreService":
        """Make everything ready now (graph, index, embedding model, engine) and repair any
        interrupted ingest; otherwise the first search or write does it. Idempotent."""
        if self._ready:  # every search passes here: no lock once the service is ready
            return self
        with self._ready_lock:
            if not self._ready:
                self.parts.embedder.get()
                with self._write_lock:
                    self.last_reconcile = self.parts.pipeline.reconcile()
                    self.parts.engine.refresh()
                self._ready = True
                self.open_error = None
        return self

    @property
    def ready(self) -> bool:
        return self._ready

    def open_in_background(self) -> threading.Thread:
        """``open()`` on a thread of its own, so a server answers /healthz while models load.
        Requests that need the models wait for it; /readyz says when it is done (or why it failed)."""

        def run() -> None:
            try:
                self.open()
            except Exception as exc:  # reported by /readyz and the log; the next request retries
                self.open_error = exc
                log.exception("opening the knowledge base failed")
                return
            # Then the LLM (seconds with llama.cpp), so the first question does not wait for it. A
            # model that fails to load fails that question with its reason; search is unaffected.
            try:
                self.llm.get()
            except Exception:
                log.exception("loading the LLM failed; questions will report why")

        thread = threading.Thread(target=run, name="lore-open", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.parts.close()

    def __enter__(self) -> "LoreService":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def graph(self) -> GraphStore:
        return self.parts.graph

    @property
    def vectors(self) -> FaissVectorStore:
        return self.parts.vectors

    @property
    def pipeline(self) -> IngestPipeline:
        return self.parts.pipeline

    @property
    def engine(self) -> SearchEngine:
        """The search engine, over stores made ready (reconciled) on first use."""
        self.open()
        return self.parts.engine

    @property
    def meetings(self) -> MeetingService:
        return self.parts.meetings

    @property
    def answerer(self) -> Answerer:
        with self._answerer_lock:
            if self._answerer is None:
                self._answerer = Answerer.from_settings(self.llm, self.settings, embedder=self.parts.embedder)
            return self._answerer

    @property
    def model_loaded(self) -> bool:
        return self.llm.loaded

    # ---- operations -------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[Path],
        *,
        sync: bool = False,
        progress: ProgressCallback | None = None,
        workers: int | None = None,
        collection: str | None = None,
        sources: Mapping[Path, str] | None = None,
    ) -> IngestReport:
        """Ingest files and folders; ``sources`` names documents other than by their path (uploads)."""
        paths = list(paths)
        self.open()
        with self._write_lock:
            if workers is not None:
                self.pipeline.workers = workers
            try:
                report = self.pipeline.ingest(paths, progress, collection=collection, sources=sources)
                if sync:
                    report.deleted = self.pipeline.sync(p for p in paths if Path(p).is_dir())
            finally:  # what an interrupted run wrote is searchable too
                self.engine.refresh()
        return report

    def plan_ingest(self, paths: Iterable[Path], *, workers: int | None = None) -> IngestPlan:
        """What ``ingest`` would do (``--dry-run``): nothing is written."""
        if workers is not None:
            self.pipeline.workers = workers
        return self.pipeline.dry_run(list(paths))

    def enrich_graph(self, limit: int | None = None, *, progress: EnrichProgress | None = None,
                     stop: Callable[[], bool] = lambda: False) -> EnrichReport:
        """Run the LLM over chunks not yet enriched (``lore graph enrich``; see ``ingest.enrich``),
        yielding to queries between chunks; graph rewrites take the write lock like any write."""
        self.open()

        def rewrite(document_ids: Iterable[str]) -> int:
            ids = list(document_ids)
            if not ids:
                return 0
            with self._write_lock:
                rewritten = self.pipeline.rewrite_graph(ids)
                if self.parts.loaded("engine"):
                    self.parts.engine.refresh()
            return rewritten

        return self.parts.enricher(busy=self.queries_running, rewrite=rewrite).run(limit, progress=progress, stop=stop)

    def enrichment_progress(self) -> tuple[int, int]:
        """(chunks enriched, chunks stored)."""
        return self.metadata.enrichment_progress()

    def delete_document(self, document_id: str) -> bool:
        with self._write_lock:
            deleted = self.pipeline.delete(document_id)  # a meeting's minutes go with it
            if self.parts.loaded("engine"):  # an engine not made yet reads the stores as they are when it is
                self.parts.engine.refresh()
            return deleted

    def documents(self, collections: list[str] | None = None) -> list[DocumentRecord]:
        return self.metadata.documents(collections)

    def document(self, document_id: str) -> tuple[DocumentRecord, list[StoredChunk]] | None:
        """A document's record and its chunks, or None when the id is unknown."""
        record = self.metadata.document(document_id)
        return None if record is None else (record, self.metadata.chunks_for_document(document_id))

    def document_entities(self, chunk_ids: Sequence[str]) -> list[tuple[Entity, list[str]]]:
        """The entities the chunks mention, each with the chunks that mention it, in name order."""
        mentions: dict[str, list[str]] = {}
        for chunk_id, entity_id in self.graph.entities_in_chunks(list(chunk_ids)):
            mentions.setdefault(entity_id, []).append(chunk_id)
        entities = self.graph.neighbourhood(list(mentions), hops=0).nodes
        return sorted(((e, mentions[e.id]) for e in entities.values()), key=lambda pair: pair[0].name.casefold())

    def search(self, query: Query | str) -> SearchResult:
        """Ranked passages (with dense/sparse/graph/fused score components) and graph facts.

        ``query.mode`` is dense, sparse, graph or hybrid (default: the ``retrieval_mode`` setting);
        ``query.collections`` (None: all) narrows its filters, which every retriever enforces
        before ranking. A plain string is a question with every default.
        """
        query = as_query(query)
        started = time.perf_counter()
        with self._query():
            found = self.engine.search(query, max_facts=self.settings.max_facts)
        return SearchResult(query.text, found.passages, found.facts, time.perf_counter() - started)

    @contextmanager
    def _query(self) -> Iterator[None]:
        with self._queries_lock:
            self._queries += 1
        try:
            yield
        finally:
            with self._queries_lock:
                self._queries -= 1

    def queries_running(self) -> bool:
        """Whether a search or an answer is in progress (what background work yields to)."""
        return self._queries > 0

    def search_for_answer(self, query: Query | str) -> SearchResult:
        """``search`` as an answer needs it: with sentence selection (``answer_units``) a wider net of
        ``answer_passages`` passages, whose best sentences are all the model reads."""
        query = as_query(query)
        if query.k is None and self.settings.answer_units == "sentences":
            query = query.model_copy(update={"k": self.settings.answer_passages})
        found = self.search(query)
        if not self.settings.answer_unseen_terms:
            return found
        return replace(found, unseen_terms=self.engine.unseen_terms(query.text))

    def standalone(self, query: Query, history: Sequence[Turn]) -> Query:
        """The query with its question rewritten to stand alone given the earlier ``history`` turns."""
        if not history:
            return query
        self.open()
        text = standalone_question(self.llm, query.text, history, timeout=self.settings.generation_timeout)
        return query.model_copy(update={"text": text})

    def ask(self, query: Query | str, history: Sequence[Turn] = ()) -> Answer:
        """Answer from retrieved passages and facts, searched for as ``search_for_answer`` does; a
        follow-up question (``history``: the conversation before it) is first made to stand alone."""
        query = self.standalone(as_query(query), history)
        self.open()
        if (summary := self._summary_answer(query)) is not None:
            return summary
        with self._query():
            found = self.search_for_answer(query)
            answer = self.answerer.answer(query.text, found.passages, found.facts, unseen_terms=found.unseen_terms)
        return answer.model_copy(update={"timings": {"retrieve": found.seconds, **answer.timings}})

    def ask_stream(self, query: Query | str, history: Sequence[Turn] = ()) -> Iterator[str | Answer]:
        """``ask`` as the answer's text pieces while they are generated, then the ``Answer``."""
        query = self.standalone(as_query(query), history)
        self.open()
        if (summary := self._summary_answer(query)) is not None:
            yield summary.text
            yield summary
            return
        with self._query():
            found = self.search_for_answer(query)
            for piece in self.answerer.stream(query.text, found.passages, found.facts, unseen_terms=found.unseen_terms):
                if isinstance(piece, Answer):
                    yield piece.model_copy(update={"timings": {"retrieve": found.seconds, **piece.timings}})
                else:
                    yield piece

    def _summary_answer(self, query: Query) -> Answer | None:
        """A summary question's answer from whole meetings; None for any other question.

        A caller limited to collections, or asking for a retrieval mode or filters, gets
        the ordinary, filtered retrieval path instead.
        """
        if not query.plain:
            return None
        return self.meetings.answer_summary_question(query.text, query.k)

    # ---- meetings -------------------------------------------------------------
    def minutes(self, meeting: str, *, collections: list[str] | None = None) -> Minutes | None:
        """Minutes of a meeting given by document id or source path; None when there is no such meeting
        (or, with ``collections``, it is in none of them)."""
        return self.meetings.minutes(meeting, collections=collections)

    def meeting_turns(self, meeting: str, *, collections: list[str] | None = None) -> list[MeetingTurn] | None:
        return self.meetings.turns(meeting, collections=collections)

    def write_minutes(self, meeting: str) -> Minutes | None:
        """(Re)build and store a meeting's minutes; None when there is no such meeting."""
        document_id = self.meetings.resolve(meeting)
        if document_id is None:
            return None
        self.open()
        with self._write_lock:
            return self.meetings.write(document_id)

    def graph_reachable(self) -> bool:
        """Whether the graph server answers a trivial read now (no scan of the graph)."""
        try:
            self.graph.ping()
        except Exception:  # any driver or connection failure means not reachable
            return False
        return True

    def graph_stats(self, *, collections: list[str] | None = None) -> GraphStats:
        """Graph counts; with ``collections``, only what their documents contributed."""
        return self.graph.stats(document_ids=self._document_scope(collections))

    # ---- knowledge graph inspection and curation ---------------------------
    def search_entities(
        self, query: str, limit: int = 20, *, collections: list[str] | None = None
    ) -> list[tuple[Entity, int]]:
        """Entities whose name contains ``query``, most connected first, with their degree.

        With ``collections``, the graph query itself keeps only entities their documents support.
        """
        return self.graph.search_entities(query, limit, document_ids=self._document_scope(collections))

    def entity(self, entity_id: str, *, collections: list[str] | None = None) -> EntityView | None:
        """An entity with its sourced relationships; with ``collections``, only what their documents
        support (None when they do not support it at all)."""
        return self.graph.entity(entity_id, document_ids=self._document_scope(collections))

    def _document_scope(self, collections: list[str] | None) -> list[str] | None:
        """The ids of the documents in ``collections`` (None: no limit), which graph reads are confined to."""
        return None if collections is None else [d.id for d in self.metadata.documents(collections)]

    def find_entity(self, name_or_id: str) -> EntityView | None:
        """An entity by id, else by exact name (ignoring case), else the best partial match."""
        return self.graph.lookup(name_or_id)

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

    # ---- fine-tuning --------------------------------------------------------
    @property
    def adapters(self) -> AdapterRegistry:
        return self.parts.adapters

    def all_chunks(self) -> list[Passage]:
        return [
            stored.passage()
            for record in self.metadata.documents()
            for stored in self.metadata.chunks_for_document(record.id)
        ]

    def passages_by_id(self, chunk_ids: Sequence[str]) -> dict[str, Passage]:
        return {cid: stored.passage() for cid, stored in self.metadata.chunks_by_ids(chunk_ids).items()}

    def passages_of_source(self, source: str) -> list[Passage]:
        """Chunks of the documents whose path is ``source`` or ends with it ("docs/handbook.md")."""
        wanted = Path(source).as_posix().lstrip("./")
        return [
            stored.passage()
            for record in self.metadata.documents()
            if Path(record.source).as_posix() == wanted or Path(record.source).as_posix().endswith("/" + wanted)
            for stored in self.metadata.chunks_for_document(record.id)
        ]

    def typed_facts(self) -> list[Fact]:
        return self.graph.typed_facts()

    def finetune(
        self,
        *,
        data: Path | None = None,
        include_kb: bool = True,
        evaluate: bool = False,
        activate: bool = True,
        max_steps: int | None = None,
        progress: bool = True,
        log_line: Callable[[str], None] = lambda line: None,
    ) -> FinetuneReport:
        """Build RAFT data from this knowledge base (and ``data``), train a LoRA adapter, save it versioned."""
        from generation.finetune.pipeline import finetune

        report = finetune(
            self,
            user_data=data,
            include_kb=include_kb,
            run_eval=evaluate,
            activate=activate,
            max_steps=max_steps,
            progress=progress,
            log_line=log_line,
        )
        if activate:
            self.reload_model()
        return report

    def reload_model(self) -> None:
        """Forget the loaded LLM: the next question loads it again (with the now active adapter)."""
        self.llm.reset()
