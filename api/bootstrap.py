"""The composition root: ``build(settings)`` makes every part of Lore, in one place.

Parts that cost nothing to make (the metadata store, the merge store) are made at
once; parts that load a model, read the vector index or reach the graph server
are made on first use, once, and shared. So ``lore documents list`` opens one SQLite
file, ``lore search`` never loads the LLM, and the server answers ``/healthz`` before
its models have loaded. The LLM is one ``BackendProvider`` for the answerer, the LLM
extractor and the abstractive minutes engine: its weights are in memory at most once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.lazy import Lazy
from core.settings import Settings
from generation.backends.provider import BackendProvider
from generation.finetune.registry import AdapterRegistry
from generation.minutes import MinutesBuilder
from generation.minutes.derived import MinutesDocuments
from ingest.enrich import GraphEnricher, StoredEnrichments
from ingest.extract.base import prepare
from ingest.extract.resolution import MergeStore
from retrieval.embedder import LazyEmbedder, choose_encoder, load_embedder
from retrieval.query import Query
from storage.metadata import SqliteMetadataStore
from storage.protocols import LanguageIndex

if TYPE_CHECKING:
    from api.meetings import MeetingService
    from core.extraction import Extraction
    from core.types import Chunk, Document
    from graph import GraphStore, LocalGraphServer
    from ingest.chunking import Chunker
    from ingest.extract import Extractor
    from ingest.pipeline import IngestPipeline
    from retrieval.engine import SearchEngine
    from retrieval.reranker import Reranker
    from storage.vectors import FaissVectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraphEndpoint:
    uri: str
    auth: tuple[str, str]
    database: str | None
    managed: bool  # True when Lore owns a local server for it


def local_graph_server(settings: Settings) -> LocalGraphServer:
    from graph import LocalGraphServer

    return LocalGraphServer(settings.graph_dir, heap=settings.graph_heap, start_timeout=settings.graph_start_timeout)


def graph_endpoint(settings: Settings) -> GraphEndpoint:
    """Where the graph lives: the configured server, or the local one (started or reused)."""
    if settings.graph_uri:
        password = settings.graph_password.get_secret_value() if settings.graph_password else ""
        return GraphEndpoint(settings.graph_uri, (settings.graph_user, password), settings.graph_database, managed=False)
    info = local_graph_server(settings).start()
    return GraphEndpoint(info.uri, (info.user, info.password), settings.graph_database or info.database, managed=True)


class _LazyExtractor:
    """The ingest extractor, built (spaCy and its pipelines loaded) when the first document is extracted."""

    def __init__(self, build: Lazy[Extractor]) -> None:
        self._extractor = build

    def prepare(self, batch: Sequence[tuple[Document, list[Chunk]]]) -> None:
        prepare(self._extractor.get(), batch)

    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction:
        return self._extractor.get().extract(document, chunks)


class Parts:
    """Everything ``LoreService`` and the evaluation harness work with, built from one ``Settings``."""

    def __init__(self, settings: Settings) -> None:
        s = self.settings = settings
        # Private when Lore creates it: the stores hold every collection's text, and a key's
        # collection limit means nothing to a local user who can read the files.
        s.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.metadata = SqliteMetadataStore(s.metadata_path).open()
        self.merges = MergeStore(s.merges_path).open()
        self.adapters = AdapterRegistry(s.adapters_dir)
        self._encoder = Lazy(self._choose_encoder)
        self.embedder = LazyEmbedder(s.embedding_model, lambda: load_embedder(
            s.embedding_model, self.encoder, device=s.embedding_device, batch_size=s.embedding_batch_size,
            threads=s.embedding_threads, cache_dir=s.shared_model_dir, allow_downloads=s.allow_downloads,
        ))
        self.llm = BackendProvider(s, self.adapters)
        self.minutes_builder = MinutesBuilder(
            self.embedder, engine=s.minutes_engine, backend=self.llm if s.minutes_engine == "abstractive" else None
        )
        self._chunker = Lazy(lambda: _chunker(s))
        self._graph = Lazy(self._open_graph)
        self._vectors = Lazy(self._open_vectors)
        self._language_indexes = Lazy(self._open_language_indexes)
        self._extractor = Lazy(self._build_extractor)
        self._pipeline = Lazy(self._build_pipeline)
        self._reranker = Lazy(self._load_reranker)
        self._engine = Lazy(self._build_engine)
        self._meetings = Lazy(self._build_meetings)

    # ---- parts made on first use ---------------------------------------------------------
    @property
    def chunker(self) -> Chunker:
        return self._chunker.get()

    @property
    def graph(self) -> GraphStore:
        return self._graph.get()

    @property
    def vectors(self) -> FaissVectorStore:
        return self._vectors.get()

    @property
    def language_indexes(self) -> tuple[LanguageIndex, ...]:
        return self._language_indexes.get()

    @property
    def extractor(self) -> Extractor:
        return self._extractor.get()

    @property
    def pipeline(self) -> IngestPipeline:
        return self._pipeline.get()

    @property
    def reranker(self) -> Reranker | None:
        return self._reranker.get()

    @property
    def engine(self) -> SearchEngine:
        return self._engine.get()

    @property
    def meetings(self) -> MeetingService:
        return self._meetings.get()

    def loaded(self, name: str) -> bool:
        """Whether the part called ``name`` (graph, vectors, pipeline, engine, ...) has been made yet."""
        return getattr(self, f"_{name}").loaded

    def _open_graph(self) -> GraphStore:
        from graph import GraphStore

        endpoint = graph_endpoint(self.settings)
        store = GraphStore(endpoint.uri, endpoint.auth, endpoint.database)
        store.open()
        store.ensure_schema()
        return store

    @property
    def encoder(self) -> str:
        """The encoder variant that embeds chunks and queries (``retrieval.embedder.choose_encoder``)."""
        return self._encoder.get()

    def _choose_encoder(self) -> str:
        from storage.vectors import stored_manifest

        s = self.settings
        manifest = stored_manifest(s.index_dir)
        built_by = manifest.encoder if manifest is not None and manifest.embedding_model == s.embedding_model else None
        return choose_encoder(s.embedding_backend, s.embedding_model, device=s.embedding_device, index_encoder=built_by)

    def _open_vectors(self) -> FaissVectorStore:
        from storage.vectors import FaissVectorStore, stored_manifest

        s = self.settings
        # A saved index names its model and dimension: opening it (to delete, say) needs no model loaded.
        manifest = stored_manifest(s.index_dir)
        known = manifest is not None and manifest.embedding_model == s.embedding_model
        dimension = manifest.dimension if known else self.embedder.dimension
        return FaissVectorStore.open(s.index_dir, embedding_model=s.embedding_model, dimension=dimension,
                                     encoder=self.encoder, exact_max=s.faiss_exact_max, nprobe=s.faiss_nprobe, use_gpu=s.faiss_use_gpu)

    def _open_language_indexes(self) -> tuple[LanguageIndex, ...]:
        """The multilingual index (Chinese), when on; its encoder loads when it first embeds."""
        s = self.settings
        if not s.multilingual_index or not s.multilingual_languages:
            return ()
        from retrieval.multilingual import E5Embedder
        from storage.vectors import FaissVectorStore

        embedder = E5Embedder()
        store = FaissVectorStore.open(s.multilingual_index_dir, embedding_model=embedder.model_name,
                                      dimension=embedder.dimension, encoder=embedder.variant,
                                      exact_max=s.faiss_exact_max, nprobe=s.faiss_nprobe, use_gpu=s.faiss_use_gpu)
        return (LanguageIndex(frozenset(s.multilingual_languages), embedder, store),)

    def _build_extractor(self) -> Extractor:
        from ingest.extract import build_extractor

        s = self.settings
        # LLM extraction shares the answerer's backend: one copy of the weights.
        generator = self.llm if s.extractor in ("llm", "spacy+llm") else None
        return build_extractor(s, graph=self.graph, embedder=self.embedder, merges=self.merges, generator=generator,
                               enrichments=StoredEnrichments(self.metadata))

    def enricher(self, busy: Callable[[], bool] = lambda: False,
                 rewrite: Callable[[Iterable[str]], int] | None = None) -> GraphEnricher:
        """The background LLM pass over stored chunks (``lore graph enrich``), on the shared model;
        ``rewrite`` replaces documents' graph contributions (default: the pipeline's, unlocked)."""
        from ingest.extract import known_types
        from ingest.extract.llm import LLMExtractor

        reader = LLMExtractor(self.llm, max_new_tokens=self.settings.llm_extraction_max_tokens,
                              timeout=self.settings.generation_timeout, known_types=known_types(self.graph))
        return GraphEnricher(self.metadata, reader, rewrite or self.pipeline.rewrite_graph, busy=busy)

    def _build_pipeline(self) -> IngestPipeline:
        from ingest.pipeline import IngestPipeline

        s = self.settings
        return IngestPipeline(
            embedder=self.embedder,
            vectors=self.vectors,
            metadata=self.metadata,
            graph=self.graph,
            extractor=_LazyExtractor(self._extractor),
            chunker=self.chunker,
            max_file_bytes=int(s.max_file_mb * 1024 * 1024),
            batch_chunks=s.ingest_batch_chunks,
            commit_interval=s.ingest_commit_seconds,
            workers=s.ingest_workers,
            derived=MinutesDocuments(self.minutes_builder, at_ingest=s.minutes_at_ingest),
            follow_symlinks=s.follow_symlinks,
            parse_timeout=s.parse_timeout_s,
            parse_memory_mb=s.parse_memory_mb,
            language_indexes=self.language_indexes,
        )

    def _load_reranker(self) -> Reranker | None:
        s = self.settings
        if not s.reranker_model:
            return None
        from retrieval.reranker import CrossEncoderReranker

        return CrossEncoderReranker.from_pretrained(s.reranker_model, device=s.embedding_device,
                                                    allow_downloads=s.allow_downloads)

    def _build_engine(self) -> SearchEngine:
        from retrieval.engine import SearchEngine

        engine = SearchEngine(embedder=self.embedder, vectors=self.vectors, metadata=self.metadata, graph=self.graph,
                              settings=self.settings, reranker=self.reranker,
                              language_indexes=self.language_indexes)
        engine.refresh()  # its lexical index and entity names, read from the stores now
        return engine

    def _build_meetings(self) -> MeetingService:
        from api.meetings import MeetingService

        return MeetingService(
            settings=self.settings,
            metadata=self.metadata,
            documents=lambda: self.pipeline,
            search=lambda question, k: self.engine.search(Query(text=question, k=k)).passages,
            embedder=self.embedder,
            builder=self.minutes_builder,
            llm=self.llm,
        )

    def close(self) -> None:
        if self._pipeline.loaded:
            self.pipeline.close()
        if self._graph.loaded:
            self.graph.close()
        self.metadata.close()
        self.merges.close()


def _chunker(settings: Settings) -> Chunker:
    from ingest.chunking import Chunker

    return Chunker(settings.chunk_size, settings.chunk_overlap)


def build(settings: Settings) -> Parts:
    """Lore's parts for ``settings``; nothing heavy is loaded until a part is first used."""
    return Parts(settings)
