"""The search engine: one catalog, four retrievers (dense, sparse, graph, hybrid), one ``search``."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import faiss

from core.settings import Settings
from retrieval.catalog import ChunkCatalog
from core.protocols import Embedder
from storage.protocols import GraphReader, LanguageIndex, MetadataStore, VectorStore
from retrieval.reranker import Reranker
from retrieval.query import Query
from retrieval.tokenize import tokenize
from retrieval.retrievers import (
    MODES,
    DenseRetriever,
    FusionSettings,
    GraphRetriever,
    GraphSettings,
    HybridRetriever,
    Retrieved,
    Retriever,
    SparseRetriever,
)


log = logging.getLogger(__name__)

# A word is seen when the index holds a stem with the same first letters (Snowball keeps "accrual"
# and "accru" apart).
SEEN_PREFIX = 5
# Words at least this common in English (Zipf 4: about ten per million words) are everyday words whose
# absence says nothing about what the documents cover.
DISTINCTIVE_ZIPF = 4.0
_ENGLISH_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


class SearchEngine:
    def __init__(self, *, embedder: Embedder, vectors: VectorStore, metadata: MetadataStore, graph: GraphReader,
                 settings: Settings, reranker: Reranker | None = None,
                 language_indexes: Sequence[LanguageIndex] = ()) -> None:
        self.settings = settings
        # One query at a time is searched; FAISS's OpenMP threads then cost more than they save,
        # and collapse when the cores are busy (100 ms instead of 0.5 ms at 10k chunks on 2 busy cores).
        faiss.omp_set_num_threads(settings.faiss_query_threads)
        self.catalog = ChunkCatalog(metadata, k1=settings.bm25_k1, b=settings.bm25_b)
        self.dense = DenseRetriever(embedder, vectors, self.catalog, metadata, language_indexes)
        self.sparse = SparseRetriever(self.catalog, metadata)
        self.graph = GraphRetriever(
            graph,
            self.catalog,
            metadata,
            GraphSettings(hops=settings.graph_hops, damping=settings.graph_damping,
                          fuzzy_threshold=settings.graph_fuzzy_threshold),
        )
        self.hybrid = HybridRetriever(
            self.dense,
            self.sparse,
            self.graph,
            FusionSettings(
                weights={"dense": settings.fusion_weight_dense, "sparse": settings.fusion_weight_sparse,
                         "graph": settings.fusion_weight_graph},
                method=settings.fusion_method,
                rrf_k=settings.rrf_k,
                candidates=settings.fusion_candidates,
                graph_seeds=settings.graph_seed_chunks,
                mmr_lambda=settings.mmr_lambda,
                rerank_candidates=settings.rerank_candidates,
                dense_languages=tuple(settings.dense_languages) if settings.dense_languages is not None else None,
                document_prior=settings.document_prior,
                document_evidence_chunks=settings.document_evidence_chunks,
                parallel=settings.search_parallel,
            ),
            reranker=reranker,
        )

    def refresh(self) -> bool:
        """Re-sync the BM25 index and filter catalog with the metadata store (after ingest or delete),
        and the graph retriever's in-memory entity names and mentions with them."""
        changed = self.catalog.refresh()
        self.graph.warm()
        return changed

    def unseen_terms(self, text: str) -> list[str]:
        """Distinctive English words of ``text`` that no chunk in the index holds in any form: "sabbatical"
        in a handbook that never mentions one. Distinctive: less common in English than
        ``DISTINCTIVE_ZIPF`` (wordfreq's scale), so an everyday word the documents happen not to use
        ("office", "heads") is never reported. A word is held when a chunk holds its stem, or a stem
        sharing its first ``SEEN_PREFIX`` letters ("accrual" and "accrues"). Numbers and Chinese are
        never reported."""
        from wordfreq import zipf_frequency

        words = [w for w in dict.fromkeys(_ENGLISH_WORD.findall(text.lower()))
                 if len(w) >= 4 and zipf_frequency(w, "en") < DISTINCTIVE_ZIPF]
        with self.catalog.reading():
            bm25 = self.catalog.bm25
            # A hyphenated word is held only when each of its parts is ("ping-pong" is not held by "ping").
            missing = {w: [t for t in tokenize(w) if bm25.document_frequency(t) == 0] for w in words}
            if not any(missing.values()):
                return []
            prefixes = {term[:SEEN_PREFIX] for term in bm25.vocabulary if bm25.document_frequency(term) > 0}
        unseen = [w for w, stems in missing.items()
                  if any(len(t) < SEEN_PREFIX or t[:SEEN_PREFIX] not in prefixes for t in stems)]
        return _things_named(text, unseen, self.settings.spacy_model) if unseen else []

    def retriever(self, mode: str) -> Retriever:
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; expected one of {', '.join(MODES)}")
        return {"dense": self.dense, "sparse": self.sparse, "graph": self.graph, "hybrid": self.hybrid}[mode]

    def search(self, query: Query, *, max_facts: int = 0) -> Retrieved:
        """``query`` in its mode (default: the ``retrieval_mode`` setting), ``query.k`` passages (default:
        ``top_k``) and up to ``max_facts`` graph facts, all within its filters and collections."""
        retriever = self.retriever(query.mode or self.settings.retrieval_mode)
        with self.catalog.reading():  # an ingest's refresh waits until this search is done
            return retriever.search(query.text, query.k or self.settings.top_k, query.search_filters(),
                                    max_facts=max_facts)


@lru_cache(maxsize=2)
def _tagger(model: str) -> Any:
    import spacy

    # Part-of-speech tags only: the parser and entity recogniser are not needed here.
    return spacy.load(model, exclude=["parser", "ner", "lemmatizer"])


def _things_named(text: str, words: list[str], model: str) -> list[str]:
    """The ``words`` that ``text`` does not use as adverbs or verbs: "outright" in "buys a robot outright"
    is how it is bought, not a thing the documents would have to mention. The tagger loads only when
    some word is unseen."""
    try:
        tagged = _tagger(model)(text)
    except (OSError, ImportError) as exc:  # no English pipeline installed: keep every word
        log.warning("cannot tag %r with %s (%s); treating every unseen word as a noun", text, model, exc)
        return words
    # How and what is done (adverbs, verbs) is said in many ways; things are named (nouns, and the
    # adjectives a small tagger takes "sabbatical" or "offsite" for).
    said = {token.lower_ for token in tagged if token.pos_ in ("ADV", "VERB", "AUX")}
    return [w for w in words if not all(part in said for part in w.split("-"))]
