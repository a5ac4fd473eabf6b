"""Hybrid retrieval: dense and sparse fused (distribution-based score fusion, or weighted RRF), graph PageRank seeded from the fused
top, fused again, optionally reranked by a cross-encoder, then diversified by MMR."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from core.language import script_language
from core.types import Passage
from retrieval.catalog import ChunkCatalog
from retrieval.filters import SearchFilters
from retrieval.fusion import distribution_fusion, mmr, weighted_rrf
from retrieval.reranker import Reranker
from retrieval.retrievers.base import Hits, Retrieved, Retriever, passages_for, top_hits
from retrieval.retrievers.dense import DenseRetriever
from retrieval.retrievers.graph import GraphRanking, GraphRetriever
from retrieval.retrievers.sparse import SparseRetriever
from retrieval.tokenize import tokenize


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
    if values.size == 0:  # an empty knowledge base: nothing to standardise (and no warning about it)
        return values
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
    weights: dict[str, float] = field(default_factory=lambda: {"dense": 1.0, "sparse": 1.25, "graph": 0.0})
    # "dbsf": each list's scores spread over [0, 1] by their mean and deviation, then weighted and
    # added; "rrf": reciprocal ranks (weights x 1/(rrf_k + rank)). Defaults from bench/fusion_grid.py.
    method: str = "dbsf"
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


class HybridRetriever(Retriever):
    """Dense + sparse fused (DBSF or weighted RRF), graph PageRank seeded from the fused top, fused again,
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

    def _search(self, query: str, k: int, filters: SearchFilters | None, max_facts: int) -> Retrieved:
        passages, ranking = self._ranked(query, k, filters)
        # Facts about the entities the graph walk linked or ranked highest.
        facts = self.graph.facts(query, max_facts, ranking, filters) if max_facts and self.graph is not None else []
        return Retrieved(passages, facts, ranking)

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

    def _fuse(self, lists: dict[str, Hits], prior: np.ndarray | None) -> dict[int, float]:
        """The ranked lists fused (RRF or DBSF), each chunk's value scaled by its document's evidence when that is on."""
        cfg = self.settings
        if cfg.method == "dbsf":
            fused = distribution_fusion(lists, cfg.weights)
        else:
            fused = weighted_rrf({name: [row for row, _ in hits] for name, hits in lists.items()}, cfg.weights, cfg.rrf_k)
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

    def _ranked(self, query: str, k: int, filters: SearchFilters | None) -> tuple[list[Passage], GraphRanking | None]:
        cfg = self.settings
        mask = self.catalog.allowed(filters)
        n = max(cfg.candidates, k)
        lists: dict[str, Hits] = {}
        language = script_language(query)
        dense_ok = cfg.dense_languages is None or language in cfg.dense_languages or self.dense.covers(language)
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
            sparse_hits = top_hits(self.catalog.bm25.scores(tokens), depth, mask)
            if cfg.weights.get("sparse", 0) > 0:
                lists["sparse"] = sparse_hits[:n]
            if cfg.document_prior > 0:
                prior = self.document_evidence(tokens, sparse_hits)
        if dense_job is not None:
            lists["dense"] = dense_job.result()
            lists = {"dense": lists.pop("dense"), **lists}
        graph_ranking = None
        if use_graph:
            base = self._fuse(lists, prior)
            seeds = dict(sorted(base.items(), key=lambda kv: -kv[1])[: cfg.graph_seeds])
            graph_ranking = self.graph.rank_graph(query, n, mask, seeds, prepared=graph_job.result())
            lists["graph"] = graph_ranking.hits
        fused = self._fuse(lists, prior)
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
        return passages, graph_ranking
