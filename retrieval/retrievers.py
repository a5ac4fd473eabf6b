"""Retrievers: a question in, ranked passages (or graph facts) out.

Every retriever has one public ``search(query, k, filters) -> list[Passage]`` that
calls its ``_search``. Dense, sparse and graph retrievers rank rows of the shared
``ChunkCatalog``; the hybrid retriever fuses their rankings (weighted RRF), weighs
each chunk by its document's evidence, lets the graph retriever propagate from the
fused top chunks, lets a configured reranker re-score the fused shortlist, and removes
near-duplicates with MMR. Every passage carries its score components (``dense``,
``sparse``, ``graph``, ``document``, ``fused``, ``rerank``) so a user can see why it was
retrieved.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

from core.types import Fact, Passage
from core.language import script_language
from core.vocabulary import CO_OCCURRENCE, name_key
from retrieval.catalog import ChunkCatalog
from core.protocols import Embedder
from retrieval.filters import SearchFilters
from retrieval.fusion import mmr, weighted_rrf
from retrieval.mentions import MentionIndex
from storage.metadata import StoredChunk
from storage.protocols import GraphReader, MetadataStore, VectorStore
from retrieval.reranker import Reranker
from retrieval.tokenize import ENGLISH_STOPWORDS, tokenize

Mode = Literal["dense", "sparse", "graph", "hybrid"]
MODES: tuple[str, ...] = ("dense", "sparse", "graph", "hybrid")

_WORD = re.compile(r"[\w][\w.&'-]*", re.UNICODE)
MAX_SPAN_WORDS = 4
QUERY_CACHE_SIZE = 4096
NEIGHBOURHOOD_CACHE_SIZE = 4096

Hits = list[tuple[int, float]]  # (catalog row, score), best first


def to_passage(stored: StoredChunk, score: float, components: dict[str, float]) -> Passage:
    chunk = stored.chunk
    return Passage(
        chunk_id=chunk.id,
        document_id=chunk.document_id,
        source=stored.source,
        title=stored.title,
        text=chunk.text,
        score=score,
        scores=components,
        start=chunk.start,
        end=chunk.end,
        metadata=chunk.metadata,
    )


def candidate_names(question: str) -> list[str]:
    """Every span of 1-4 words in the question, longest first: the graph decides which are entities.

    Exact (case-insensitive) look-up of all spans is cheap and finds lower-case
    and single-word names that a statistical NER model misses in short questions.
    Spans of function words only ("the", "what is") are left out: a stray entity
    of that name would otherwise link every question.
    """
    words = [w.strip(".'-?,!") for w in _WORD.findall(question)]
    words = [w for w in words if w]
    spans: list[str] = []
    for size in range(min(MAX_SPAN_WORDS, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            span = words[start : start + size]
            if not all(w.lower() in ENGLISH_STOPWORDS for w in span):
                spans.append(" ".join(span))
    return list(dict.fromkeys(spans))


# Facts are fetched this many times over: with filters, so facts supported only by
# filtered-out documents do not crowd out the admitted ones; always, so the facts that
# answer the question can be ranked ahead of the merely well-supported ones.
FACT_OVERFETCH = 4


def rank_facts(query: str, facts: Sequence[Fact]) -> list[Fact]:
    """Stated relations before co-occurrence, each sharing more of the question's search terms
    first, otherwise in the given order.

    A small model answers from the first plausible fact it reads: for "Who leads the Platform
    team?" the fact ``Rahul Menon leads Platform Team`` must come before ``Camille Dufresne
    member of Platform Team``, which names the same team and is better supported. The terms
    are the BM25 ones (stemmed, stop words dropped), so "leads" meets the predicate LEADS.
    Co-occurrence stays last whatever it shares ("...mentioned by Marketing?" would otherwise
    put ``Project Manager mentioned with Marketing`` first, and models copy it as the answer).
    """
    asked = set(tokenize(query))
    overlap = [len(asked.intersection(tokenize(fact.render()))) if asked else 0 for fact in facts]
    order = sorted(range(len(facts)), key=lambda i: (facts[i].predicate == CO_OCCURRENCE, -overlap[i]))
    return [facts[i] for i in order]


def _top(scores: np.ndarray, k: int, mask: np.ndarray | None) -> Hits:
    """The k best positive scores (within mask), best first."""
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
    order = positive[np.argsort(-scores[positive], kind="stable")]
    return [(int(r), float(scores[r])) for r in order]


class Retriever(ABC):
    """One public entry point; subclasses implement ``_search``."""

    name: str = "retriever"

    def search(self, query: str, k: int, filters: SearchFilters | None = None) -> list[Passage]:
        if k <= 0 or not query.strip():
            return []
        return self._search(query, k, filters)[:k]

    @abstractmethod
    def _search(self, query: str, k: int, filters: SearchFilters | None) -> list[Passage]: ...


class CatalogRetriever(Retriever):
    """A retriever that ranks rows of the chunk catalog."""

    def __init__(self, catalog: ChunkCatalog, metadata: MetadataStore) -> None:
        self.catalog = catalog
        self.metadata = metadata

    @abstractmethod
    def rank(self, query: str, k: int, mask: np.ndarray | None) -> Hits: ...

    def _search(self, query: str, k: int, filters: SearchFilters | None) -> list[Passage]:
        hits = self.rank(query, k, self.catalog.allowed(filters))[:k]
        return passages_for(self.catalog, self.metadata, [(row, s, {self.name: s, "fused": s}) for row, s in hits])


def passages_for(catalog: ChunkCatalog, metadata: MetadataStore,
                 ranked: Sequence[tuple[int, float, dict[str, float]]]) -> list[Passage]:
    stored = metadata.chunks_by_vector_ids(int(catalog.vector_ids[row]) for row, _, _ in ranked)
    out = []
    for row, score, components in ranked:
        vid = int(catalog.vector_ids[row])
        # A row whose chunk was deleted since the catalog refreshed is skipped.
        if vid in stored:
            out.append(to_passage(stored[vid], score, components))
    return out


class DenseRetriever(CatalogRetriever):
    """FAISS inner-product search; filters by over-fetching with a growing k until enough pass."""

    name = "dense"

    def __init__(self, embedder: Embedder, vectors: VectorStore, catalog: ChunkCatalog,
                 metadata: MetadataStore) -> None:
        super().__init__(catalog, metadata)
        self.embedder = embedder
        self.vectors = vectors
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding; recent ones are kept, as a hybrid search or a retried query embeds the same text."""
        vector = self._query_vectors.get(query)
        if vector is None:
            vector = self.embedder.embed([query])[0]
            self._query_vectors[query] = vector
            if len(self._query_vectors) > QUERY_CACHE_SIZE:
                self._query_vectors.popitem(last=False)
        else:
            self._query_vectors.move_to_end(query)
        return vector

    def warm(self, queries: Sequence[str]) -> None:
        """Embed many queries in batches up front (an evaluation run), instead of one model call each."""
        todo = list(dict.fromkeys(q for q in queries if q not in self._query_vectors))
        for query, vector in zip(todo, self.embedder.embed(todo) if todo else []):
            self._query_vectors[query] = vector
        while len(self._query_vectors) > QUERY_CACHE_SIZE:
            self._query_vectors.popitem(last=False)

    def rank(self, query: str, k: int, mask: np.ndarray | None) -> Hits:
        vector = self.query_vector(query)
        total = len(self.vectors)
        if mask is not None and not mask.any():
            return []
        fetch = k if mask is None else max(4 * k, 64)
        while True:
            hits: Hits = []
            raw = self.vectors.search(vector, fetch)
            for vid, score in raw:
                row = self.catalog.row(vid)
                if row is not None and (mask is None or mask[row]):
                    hits.append((row, score))
            # Stop when enough passed the filter, or the index has nothing more to give.
            if len(hits) >= k or fetch >= total or len(raw) < fetch:
                return hits[:k]
            fetch = min(fetch * 4, total)


class SparseRetriever(CatalogRetriever):
    """BM25 over the same chunks (stemmed English, jieba-segmented Chinese)."""

    name = "sparse"

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every catalog row."""
        return self.catalog.bm25.scores(tokenize(query))

    def rank(self, query: str, k: int, mask: np.ndarray | None) -> Hits:
        return _top(self.scores(query), k, mask)


@dataclass
class GraphSettings:
    hops: int = 1
    damping: float = 0.5
    per_entity_chunks: int = 50
    neighbour_limit: int = 200
    adjacent_weight: float = 0.5
    speaker_weight: float = 0.3
    fuzzy_threshold: float = 90.0
    relation_weights: dict[str, float] = field(default_factory=lambda: {"MENTIONED_WITH": 0.5})


@dataclass
class GraphQuery:
    linked: list[str]  # entity ids
    speakers: list[str]  # case-folded speaker keys
    edges: list[tuple[str, str, str]]  # (source id, relation type, target id) around the linked entities
    mentioning: dict[str, list[str]]  # linked entity id -> ids of chunks mentioning it


@dataclass
class GraphRanking:
    hits: Hits
    entities: list[str]  # entity ids, best first
    linked: list[str]


class GraphRetriever(CatalogRetriever):
    """HippoRAG-style: link question entities, expand typed hops, rank by personalised PageRank.

    The subgraph holds the linked entities and their 1-2 hop neighbours, the chunks
    that mention them, the speakers of meeting chunks, and NEXT edges between
    adjacent chunks of a document (a meeting topic spans several windows). PageRank
    restarts at the linked entities and, in hybrid search, also at the fused top
    chunks, so mass flows to chunks that share entities, speakers or position with them.
    """

    name = "graph"

    def __init__(self, graph: GraphReader, catalog: ChunkCatalog, metadata: MetadataStore,
                 settings: GraphSettings | None = None) -> None:
        super().__init__(catalog, metadata)
        self.graph = graph
        self.settings = settings or GraphSettings()
        self.mentions = MentionIndex(graph, catalog)
        self._neighbourhoods: OrderedDict[tuple, list[tuple[str, str, str]]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._names_version: tuple[int, int] | None = None
        self._names: dict[str, list[str]] = {}
        self._name_list: list[str] = []

    def warm(self) -> None:
        """Load what linking and ranking keep in memory (entity names, mentions) now, not at the next question."""
        self._entity_names()
        self.mentions.refresh()

    # ---- linking ------------------------------------------------------------
    def _entity_names(self) -> dict[str, list[str]]:
        version = (self.catalog.version, self.graph.writes)
        if self._names_version != version:
            names: dict[str, list[str]] = {}
            for entity in self.graph.entity_names():
                names.setdefault(name_key(entity.name), []).append(entity.id)
            self._names, self._name_list = names, list(names)
            self._names_version = version
        return self._names

    def link(self, query: str) -> tuple[list[str], list[str]]:
        """(entity ids, speaker keys) the question names: exact or alias (case-folded) first, then fuzzy."""
        spans = candidate_names(query)
        names = self._entity_names()
        # Exact and alias links: the case-folded name key, as GraphStore.find_entities matches it,
        # against the entity names held in memory (no round trip per query).
        exact = [i for span in spans for i in names.get(name_key(span), ())][:20]
        fuzzy: list[str] = []
        if self.settings.fuzzy_threshold < 100:
            from rapidfuzz import fuzz, process

            for span in (s for s in spans if len(s) >= 4 and " " in s):
                match = process.extractOne(name_key(span), self._name_list, scorer=fuzz.ratio,
                                           score_cutoff=self.settings.fuzzy_threshold)
                if match:
                    fuzzy.extend(names[match[0]])
        speakers = self.catalog.speakers_named(spans)
        return list(dict.fromkeys(exact + fuzzy)), speakers

    # ---- ranking ------------------------------------------------------------
    def rank(self, query: str, k: int, mask: np.ndarray | None) -> Hits:
        return self.rank_graph(query, k, mask).hits

    def prepare(self, query: str, mask: np.ndarray | None = None) -> GraphQuery:
        """The question-side graph work: entity and speaker links, typed edges around the linked
        entities and the chunks that mention them. Hybrid search runs it while the text retrievers rank."""
        cfg = self.settings
        linked, speakers = self.link(query)
        if not linked:
            return GraphQuery(linked, speakers, [], {})
        mentioning = self.mentions.chunks_mentioning(linked, cfg.per_entity_chunks, mask)
        return GraphQuery(linked, speakers, self.neighbourhood(tuple(linked)), mentioning)

    def neighbourhood(self, linked: tuple[str, ...]) -> list[tuple[str, str, str]]:
        """Typed edges up to ``hops`` around the linked entities.

        Kept for recent entity sets until the catalog or the graph changes: questions about the
        same people and products repeat, and each hop is a graph server round trip.
        """
        cfg = self.settings
        key = (self.catalog.version, self.graph.writes, linked)
        with self._cache_lock:
            cached = self._neighbourhoods.get(key)
            if cached is not None:
                self._neighbourhoods.move_to_end(key)
                return cached
        edges: list[tuple[str, str, str]] = []
        seen, frontier = set(linked), list(linked)
        for _ in range(cfg.hops):
            if not frontier:
                break
            found = self.graph.entity_neighbours(frontier, limit=cfg.neighbour_limit)
            edges.extend(found)
            frontier = list(dict.fromkeys(t for _, _, t in found if t not in seen))
            seen.update(frontier)
        with self._cache_lock:
            self._neighbourhoods[key] = edges
            while len(self._neighbourhoods) > NEIGHBOURHOOD_CACHE_SIZE:
                self._neighbourhoods.popitem(last=False)
        return edges

    def rank_graph(self, query: str, k: int, mask: np.ndarray | None,
                   seeds: dict[int, float] | None = None, prepared: GraphQuery | None = None) -> GraphRanking:
        cfg = self.settings
        prepared = prepared or self.prepare(query, mask)
        linked, speakers = prepared.linked, prepared.speakers
        seeds = seeds or {}
        if not linked and not speakers:
            # Nothing in the question is in the graph: PageRank from the seeds alone would only
            # re-order the text retrievers' own ranking, which fusion already has.
            return GraphRanking([], [], [])
        catalog = self.catalog
        entity_edges, mentioning = prepared.edges, prepared.mentioning
        seed_chunk_ids = [catalog.rows[r].chunk_id for r in seeds]
        for row in seeds:
            seed_chunk_ids.extend(catalog.rows[o].chunk_id for o in catalog.neighbours(row))
        pairs = self.mentions.entities_in([*seed_chunk_ids, *(c for ids in mentioning.values() for c in ids)])
        entities = list(dict.fromkeys([*linked, *(t for _, _, t in entity_edges)]))
        # Chunks: the seeds, those mentioning linked entities, speaker turns, and their neighbours.
        rows: dict[int, None] = dict.fromkeys(seeds)
        mention_edges: list[tuple[int, str]] = []
        for entity_id, chunk_ids in mentioning.items():
            for chunk_id in chunk_ids:
                row = catalog.row_of_chunk(chunk_id)
                if row is not None and (mask is None or mask[row]):
                    rows[row] = None
        if not seeds:
            # Alone, the graph starts from every turn window the named speakers talk in.
            for speaker in speakers:
                rows.update(dict.fromkeys(catalog.speaker_rows(speaker, mask)[: cfg.per_entity_chunks].tolist()))
        for row in list(rows):
            for other in catalog.neighbours(row):
                if mask is None or mask[other]:
                    rows[other] = None
        chunk_rows = list(rows)
        # With seeds, a named speaker ties together the candidate windows they talk in.
        named = set(speakers)
        speaker_edges = [
            (row, s.casefold()) for row in chunk_rows for s in catalog.rows[row].speakers if s.casefold() in named
        ]
        known_entities = set(entities)
        in_subgraph = set(chunk_rows)
        for chunk_id, entity_id in pairs:
            row = catalog.row_of_chunk(chunk_id)
            if row is not None and row in in_subgraph:
                mention_edges.append((row, entity_id))
                known_entities.add(entity_id)
        # Node numbering: chunks, then entities, then speakers.
        index: dict[object, int] = {("c", r): i for i, r in enumerate(chunk_rows)}
        for e in known_entities:
            index[("e", e)] = len(index)
        for s in speakers:
            index[("s", s)] = len(index)
        src, dst, weight = [], [], []

        def connect(a: object, b: object, w: float) -> None:
            if a in index and b in index and w > 0:
                src.extend((index[a], index[b]))
                dst.extend((index[b], index[a]))
                weight.extend((w, w))

        for row, entity_id in dict.fromkeys(mention_edges):
            connect(("c", row), ("e", entity_id), 1.0)
        for row, speaker in speaker_edges:
            connect(("c", row), ("s", speaker), cfg.speaker_weight)
        for a, rel, b in entity_edges:
            connect(("e", a), ("e", b), cfg.relation_weights.get(rel, 1.0))
        for row in chunk_rows:
            for other in catalog.neighbours(row):
                if ("c", other) in index and other > row:
                    connect(("c", row), ("c", other), cfg.adjacent_weight)
        restart = np.zeros(len(index))
        for e in linked:
            restart[index[("e", e)]] += 1.0
        for s in speakers:
            restart[index[("s", s)]] += 0.5
        if seeds:
            total = sum(seeds.values()) or 1.0
            entity_mass = restart.sum()
            # Seeds share the restart mass with the linked entities, half each when both exist.
            scale = entity_mass if entity_mass else 1.0
            for row, w in seeds.items():
                restart[index[("c", row)]] += scale * w / total
        scores = personalised_pagerank(len(index), src, dst, weight, restart, cfg.damping)
        chunk_scores = scores[: len(chunk_rows)]
        order = np.argsort(-chunk_scores, kind="stable")[:k]
        hits = [(chunk_rows[i], float(chunk_scores[i])) for i in order if chunk_scores[i] > 0]
        entity_ids = [key[1] for key in index if key[0] == "e"]
        entity_scores = np.array([scores[index[("e", e)]] for e in entity_ids])
        ranked_entities = [entity_ids[i] for i in np.argsort(-entity_scores, kind="stable")] if entity_ids else []
        return GraphRanking(hits, ranked_entities, linked)

    def facts(
        self, query: str, limit: int, ranking: GraphRanking | None = None, filters: SearchFilters | None = None
    ) -> list[Fact]:
        """Facts about the linked (else the top-ranked) entities, each with its supporting chunk ids,
        in ``rank_facts`` order.

        With ``filters`` (collections included), a fact keeps only supporting chunks the filters
        admit and is dropped when none is left, so no fact reaches a caller from a document it
        may not read.
        """
        if limit <= 0:
            return []
        ids = ranking.linked or ranking.entities[:10] if ranking else self.link(query)[0]
        if not ids:
            return []
        mask = self.catalog.allowed(filters)
        kept: list[Fact] = []
        for fact in self.graph.facts_about(ids, limit=limit * FACT_OVERFETCH):
            if mask is None:
                kept.append(fact)
                continue
            rows = ((c, self.catalog.row_of_chunk(c)) for c in fact.chunk_ids)
            chunk_ids = tuple(c for c, row in rows if row is not None and mask[row])
            if chunk_ids:
                kept.append(fact.model_copy(update={"chunk_ids": chunk_ids}))
        return rank_facts(query, kept)[:limit]


def personalised_pagerank(n: int, src: list[int], dst: list[int], weight: list[float], restart: np.ndarray,
                          damping: float, iterations: int = 30) -> np.ndarray:
    """Power iteration of ``r = (1 - d) p + d P^T r`` on a row-normalised weighted graph.

    ``P^T r`` is one ``bincount`` over the edge list per step: for the few thousand edges of a
    question's subgraph that is cheaper than building scipy matrices for every query.
    """
    if n == 0 or restart.sum() <= 0:
        return np.zeros(n)
    p = restart / restart.sum()
    sources = np.asarray(src, dtype=np.int64)
    targets = np.asarray(dst, dtype=np.int64)
    weights = np.asarray(weight, dtype=np.float64)
    out_weight = np.bincount(sources, weights=weights, minlength=n)
    share = weights / out_weight[sources] if len(sources) else weights
    dangling = out_weight == 0
    r = p.copy()
    for _ in range(iterations):
        nxt = (1 - damping) * p + damping * np.bincount(targets, weights=share * r[sources], minlength=n)
        # Mass at nodes without edges returns to the restart distribution.
        nxt += damping * r[dangling].sum() * p
        if np.abs(nxt - r).sum() < 1e-8:
            return nxt
        r = nxt
    return r


_POOL_LOCK = threading.Lock()


def _submit(pool: ThreadPoolExecutor | None, fn, *args) -> Future:
    """Run ``fn`` on the pool, or at once when there is none (a finished future either way)."""
    if pool is not None:
        return pool.submit(fn, *args)
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # re-raised by result(), as from a pool
        future.set_exception(exc)
    return future


def _standardise(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def term_jaccard(catalog: ChunkCatalog, rows: Sequence[int]) -> np.ndarray:
    """Pairwise Jaccard similarity of the chunks' BM25 term sets, as one sparse product."""
    sets = [catalog.rows[r].terms for r in rows]
    indices = np.fromiter((t for terms in sets for t in terms), dtype=np.int64)
    indptr = np.cumsum([0, *(len(terms) for terms in sets)])
    width = int(indices.max()) + 1 if len(indices) else 1
    binary = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(sets), width))
    shared = (binary @ binary.T).toarray()
    sizes = np.diff(indptr).astype(np.float32)
    union = sizes[:, None] + sizes[None, :] - shared
    return np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)


@dataclass
class FusionSettings:
    weights: dict[str, float] = field(default_factory=lambda: {"dense": 1.0, "sparse": 2.0, "graph": 1.0})
    rrf_k: int = 60
    candidates: int = 50
    graph_seeds: int = 20
    mmr_lambda: float = 0.7
    # Fused passages a configured reranker re-scores before MMR picks the final k.
    rerank_candidates: int = 30
    # Query languages the embedding model covers; None: all. An English-only model ranks a
    # Chinese question's chunks close to randomly, and fusing that noise costs recall.
    dense_languages: tuple[str, ...] | None = None
    # Document-level evidence (hierarchical retrieval): each fused chunk score is multiplied by
    # exp(document_prior * z), z = the standardised sum of its document's whole-document BM25 and
    # of its best ``document_evidence_chunks`` (non-adjacent) chunk BM25 scores. 0 turns it off.
    document_prior: float = 0.0
    document_evidence_chunks: int = 3
    document_evidence_pool: int = 200
    # Run dense search and the graph's question-side reads in threads beside BM25.
    parallel: bool = True


@dataclass
class HybridResult:
    passages: list[Passage]
    graph: GraphRanking | None


class HybridRetriever(Retriever):
    """Dense + sparse fused by weighted RRF, graph PageRank seeded from the fused top, fused again,
    optionally reranked, then MMR."""

    name = "hybrid"

    def __init__(self, dense: DenseRetriever, sparse: SparseRetriever, graph: GraphRetriever | None,
                 settings: FusionSettings | None = None, reranker: Reranker | None = None) -> None:
        self.dense = dense
        self.sparse = sparse
        self.graph = graph
        self.settings = settings or FusionSettings()
        self.reranker = reranker
        self.catalog = sparse.catalog
        self.metadata = sparse.metadata
        self._executor: ThreadPoolExecutor | None = None

    def _search(self, query: str, k: int, filters: SearchFilters | None) -> list[Passage]:
        return self.search_with_graph(query, k, filters).passages

    def document_evidence(self, tokens: list[str], chunk_hits: Hits) -> np.ndarray:
        """Per document (indexed like ``catalog.document_codes``), how strongly the text points to it.

        Two views of the same question: BM25 over the whole document, and the sum of its best few
        chunk BM25 scores among ``chunk_hits`` (the top chunks by BM25, best first), so a document
        with several matching passages beats one with a single lucky match. A chunk next to one
        already counted is skipped: consecutive chunks share their overlap, and a sentence matching
        there would count twice, which favours long documents. Each view is standardised over the
        documents and the two are added; a chunk inherits its document's value. On a corpus of
        similar meetings the right meeting is often the one whose vocabulary matches as a whole,
        not the one holding the single best chunk.
        """
        cfg = self.settings
        catalog = self.catalog
        whole = catalog.document_scores(tokens).astype(np.float64)
        evidence = np.zeros(catalog.document_count)
        taken: dict[int, list[int]] = {}  # document code -> chunk indexes counted
        codes = catalog.document_codes
        for row, score in chunk_hits:
            code = int(codes[row])
            if code < 0:
                continue
            counted = taken.setdefault(code, [])
            index = catalog.rows[row].index
            if len(counted) < cfg.document_evidence_chunks and all(abs(index - i) > 1 for i in counted):
                evidence[code] += score
                counted.append(index)
        return _standardise(whole) + _standardise(evidence)

    def _fuse(self, rankings: dict[str, list[int]], prior: np.ndarray | None) -> dict[int, float]:
        """Weighted RRF, each chunk's value scaled by its document's evidence when that is on."""
        cfg = self.settings
        fused = weighted_rrf(rankings, cfg.weights, cfg.rrf_k)
        if prior is None or not fused:
            return fused
        codes = self.catalog.document_codes
        rows = np.fromiter(fused, dtype=np.int64, count=len(fused))
        row_codes = codes[rows]
        boost = np.where(row_codes >= 0, np.exp(cfg.document_prior * prior[np.maximum(row_codes, 0)]), 1.0)
        return {int(r): v * float(f) for r, v, f in zip(rows, fused.values(), boost)}

    def _pool(self) -> ThreadPoolExecutor:
        with _POOL_LOCK:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lore-search")
            return self._executor

    def search_with_graph(self, query: str, k: int, filters: SearchFilters | None = None) -> HybridResult:
        cfg = self.settings
        mask = self.catalog.allowed(filters)
        n = max(cfg.candidates, k)
        lists: dict[str, Hits] = {}
        dense_ok = cfg.dense_languages is None or script_language(query) in cfg.dense_languages
        use_graph = self.graph is not None and cfg.weights.get("graph", 0) > 0
        # FAISS search and the graph server round trips release the GIL, so they run beside BM25
        # (numpy/scipy) instead of one after another.
        pool = self._pool() if cfg.parallel else None
        dense_job = graph_job = None
        if cfg.weights.get("dense", 0) > 0 and dense_ok:
            dense_job = _submit(pool, self.dense.rank, query, n, mask)
        if use_graph:
            graph_job = _submit(pool, self.graph.prepare, query, mask)
        tokens = tokenize(query)
        prior = None
        if cfg.weights.get("sparse", 0) > 0 or cfg.document_prior > 0:
            # One BM25 pass and one top-k selection serve the sparse ranking and the document evidence.
            depth = max(n, cfg.document_evidence_pool if cfg.document_prior > 0 else 0)
            sparse_hits = _top(self.catalog.bm25.scores(tokens), depth, mask)
            if cfg.weights.get("sparse", 0) > 0:
                lists["sparse"] = sparse_hits[:n]
            if cfg.document_prior > 0:
                prior = self.document_evidence(tokens, sparse_hits)
        if dense_job is not None:
            lists["dense"] = dense_job.result()
            lists = {"dense": lists.pop("dense"), **lists}
        rankings = {name: [row for row, _ in hits] for name, hits in lists.items()}
        graph_ranking = None
        if use_graph:
            base = self._fuse(rankings, prior)
            seeds = dict(sorted(base.items(), key=lambda kv: -kv[1])[: cfg.graph_seeds])
            graph_ranking = self.graph.rank_graph(query, n, mask, seeds, prepared=graph_job.result())
            lists["graph"] = graph_ranking.hits
            rankings["graph"] = [row for row, _ in graph_ranking.hits]
        fused = self._fuse(rankings, prior)
        components = {name: dict(hits) for name, hits in lists.items()}
        codes = self.catalog.document_codes

        def explained(row: int) -> dict[str, float]:
            scores = {name: c[row] for name, c in components.items() if row in c}
            if prior is not None and codes[row] >= 0:
                scores["document"] = float(prior[codes[row]])  # the document's standardised evidence
            return {**scores, "fused": fused[row]}

        shortlist = max(3 * k, 30, cfg.rerank_candidates if self.reranker is not None else 0)
        ordered = sorted(fused, key=lambda r: -fused[r])[:shortlist]
        relevance: dict[int, float] = fused
        reranked: dict[int, Passage] = {}
        if self.reranker is not None and ordered:
            # The reranker sees a deeper pool than k, so it can return what fusion placed lower.
            pool = ordered[: max(cfg.rerank_candidates, k)]
            row_of = {self.catalog.rows[row].chunk_id: row for row in pool}
            candidates = passages_for(self.catalog, self.metadata, [(row, fused[row], explained(row)) for row in pool])
            reranked = {row_of[p.chunk_id]: p for p in self.reranker.rerank(query, candidates)}
            ordered = list(reranked)
            relevance = {row: p.score for row, p in reranked.items()}
        if cfg.mmr_lambda < 1.0 and len(ordered) > 1:
            similarity = term_jaccard(self.catalog, ordered)
            position = {row: i for i, row in enumerate(ordered)}
            ordered = mmr(ordered, relevance, lambda a, b: similarity[position[a], position[b]], k, cfg.mmr_lambda)
        if reranked:
            passages = [reranked[row] for row in ordered[:k]]
        else:
            passages = passages_for(self.catalog, self.metadata, [(row, fused[row], explained(row)) for row in ordered[:k]])
        return HybridResult(passages, graph_ranking)
