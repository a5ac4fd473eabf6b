"""Retrieval evaluation on QMSum (meetings) and CMRC2018 (Chinese reading comprehension).

Definitions (also in docs/retrieval.md):

* QMSum, specific queries. Each query has gold ``relevant_text_span``s, inclusive
  ranges of turn indexes into ``meeting_transcripts``. A retrieved chunk *hits* a
  span when its turn range (``turn_start``..``turn_end``) overlaps it.
  ``recall@k`` = the fraction of the query's gold spans hit by the top k chunks,
  averaged over queries. ``MRR@10`` = 1 / rank of the first chunk that hits any
  gold span (0 if none in the top 10), averaged.
* CMRC2018: each paragraph is one document; ``recall@k`` = the fraction of
  questions whose paragraph is among the documents of the top k chunks.

Systems are run in one process on the same chunks: BM25 only, dense only, plain
RRF of the two (equal weights, no graph, no MMR), hybrid without the graph
(the ablation), graph alone, and the full hybrid.

``baselines`` adds two rankers independent of Lore's retrievers, for ``lore eval``:
BM25 from the ``rank-bm25`` package and exact (numpy) inner product over the stored
chunk vectors. ``covered_counts``/``score_counts`` turn any gold-hit function into
recall@k and MRR@10, so the same arithmetic serves spans, paragraphs and documents.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.types import Document, Passage
from retrieval.catalog import ChunkCatalog
from retrieval.engine import SearchEngine
from retrieval.filters import SearchFilters
from storage.protocols import MetadataStore
from retrieval.retrievers import (
    CatalogRetriever,
    DenseRetriever,
    FusionSettings,
    Hits,
    HybridRetriever,
    Retriever,
    top_hits,
)
from retrieval.tokenize import tokenize
from storage.vectors import FaissVectorStore

KS = tuple(range(1, 21))


def shared_data_dir(start: Path | None = None) -> Path:
    """``$LORE_SHARED_DATA``, else the nearest ``shared/data`` folder beside the repository or one of its parents."""
    if os.environ.get("LORE_SHARED_DATA"):
        return Path(os.environ["LORE_SHARED_DATA"])
    root = (start or Path(__file__)).resolve()
    return next((p / "shared" / "data" for p in root.parents if (p / "shared" / "data").is_dir()),
                root.parents[1] / ".." / "shared" / "data")


@dataclass(frozen=True)
class MeetingQuery:
    query: str
    document_id: str
    spans: tuple[tuple[int, int], ...]
    answer: str = ""  # QMSum's abstractive reference answer


@dataclass
class SystemScores:
    recall: dict[int, float] = field(default_factory=dict)
    mrr10: float = 0.0
    queries: int = 0


def qmsum_queries(files: Iterable[Path]) -> list[MeetingQuery]:
    """The specific queries of QMSum meeting files, keyed to the document id ingest gives each file."""
    out = []
    for path in files:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        document_id = Document.make_id(str(Path(path).resolve()))
        for item in payload.get("specific_query_list", []):
            spans = tuple((int(a), int(b)) for a, b in item.get("relevant_text_span", []))
            if spans:
                out.append(MeetingQuery(item["query"], document_id, spans, item.get("answer", "")))
    return out


def plain_rrf(engine: SearchEngine) -> HybridRetriever:
    """Equal-weight RRF of Lore's own BM25 and dense rankings: no graph, no document evidence,
    no MMR, no language gate. The bar hybrid search has to clear."""
    return HybridRetriever(
        engine.dense, engine.sparse, None,
        FusionSettings(weights={"dense": 1.0, "sparse": 1.0}, method="rrf", rrf_k=60, candidates=engine.hybrid.settings.candidates,
                       mmr_lambda=1.0),
    )


def ablations(engine: SearchEngine) -> dict[str, Retriever]:
    """Hybrid search with one of its parts taken away (or its weight evened) at a time."""
    hybrid = engine.hybrid
    cfg = hybrid.settings

    def without(**changes) -> HybridRetriever:
        return HybridRetriever(engine.dense, engine.sparse, engine.graph, replace(cfg, **changes), reranker=hybrid.reranker)

    return {
        "hybrid-no-graph": without(weights={**cfg.weights, "graph": 0.0}),
        "hybrid-even-weights": without(weights={name: 1.0 for name in cfg.weights}),
        "hybrid-no-document-evidence": without(document_prior=0.0),
        "hybrid-no-mmr": without(mmr_lambda=1.0),
    }


def systems(engine: SearchEngine, *, ablate: bool = False) -> dict[str, Retriever]:
    """The compared systems, all over the engine's one catalog, index and graph."""
    chosen: dict[str, Retriever] = {"bm25": engine.sparse, "dense": engine.dense, "rrf": plain_rrf(engine),
                                    "graph": engine.graph}
    if ablate:
        chosen |= ablations(engine)
    else:  # everything the hybrid does (document-level evidence included) except the graph
        chosen["hybrid-no-graph"] = ablations(engine)["hybrid-no-graph"]
    return {**chosen, "hybrid": engine.hybrid}


def evaluate_qmsum(engine: SearchEngine, queries: list[MeetingQuery], *, scope: str = "meeting",
                   names: Iterable[str] | None = None, ablate: bool = False,
                   progress: Callable[[int], None] | None = None) -> dict[str, SystemScores]:
    """Score each system. ``scope="meeting"`` filters each query to its own meeting (QMSum's setting);
    ``scope="all"`` searches every ingested meeting."""
    chosen = systems(engine, ablate=ablate)
    if names is not None:
        chosen = {n: chosen[n] for n in names}
    engine.dense.warm([q.query for q in queries])
    results = {}
    for name, retriever in chosen.items():
        covered: list[list[int]] = []
        firsts: list[int | None] = []
        for q in queries:
            filters = SearchFilters(document_ids=[q.document_id]) if scope == "meeting" else None
            passages = retriever.search(q.query, max(KS), filters).passages
            covered.append(_covered_counts(passages, q))
            firsts.append(next((i for i, p in enumerate(passages, start=1) if _overlapping(p, q)), None))
            if progress:
                progress(1)
        results[name] = _score_counts(covered, [len(q.spans) for q in queries], firsts)
    return results


def _overlapping(p: Passage, q: MeetingQuery) -> set[int]:
    if p.document_id != q.document_id:
        return set()
    start, end = p.metadata.get("turn_start"), p.metadata.get("turn_end")
    if start is None or end is None:
        return set()
    return {i for i, (a, b) in enumerate(q.spans) if start <= b and end >= a}


def _covered_counts(passages: list[Passage], q: MeetingQuery) -> list[int]:
    return covered_counts(passages, lambda p: _overlapping(p, q))


def covered_counts(passages: list[Passage], hits: Callable[[Passage], set[int]], depth: int = max(KS)) -> list[int]:
    """covered[k-1] = number of distinct gold targets covered by the first k passages (k = 1..depth)."""
    seen: set[int] = set()
    out = []
    for i in range(depth):
        if i < len(passages):
            seen |= hits(passages[i])
        out.append(len(seen))
    return out


def score_counts(covered: list[list[int]], totals: list[int], firsts: list[int | None]) -> SystemScores:
    """Recall@k (k = 1..20) and MRR@10 from per-query covered counts, gold totals and first-hit ranks."""
    return _score_counts(covered, totals, firsts)


def _score_counts(covered: list[list[int]], totals: list[int], firsts: list[int | None]) -> SystemScores:
    result = SystemScores(queries=len(covered))
    if not covered:
        return result
    for k in KS:
        result.recall[k] = statistics.fmean(c[k - 1] / t for c, t in zip(covered, totals))
    result.mrr10 = statistics.fmean(1.0 / r if r is not None and r <= 10 else 0.0 for r in firsts)
    return result


@dataclass(frozen=True)
class ParagraphQuery:
    query: str
    document_id: str
    answers: tuple[str, ...] = ()  # the span answers (SQuAD/CMRC lists several)
    id: str = ""


def write_cmrc_corpus(trial: Path, folder: Path) -> list[ParagraphQuery]:
    """Write each CMRC2018 paragraph as its own .txt file under ``folder``; return the questions with their paragraph's document id."""
    payload = json.loads(Path(trial).read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    queries = []
    for article in payload["data"]:
        for paragraph in article["paragraphs"]:
            path = folder / f"{paragraph['id']}.txt"
            path.write_text(paragraph["context"], encoding="utf-8")
            document_id = Document.make_id(str(path.resolve()))
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", []) if a.get("text")))
                queries.append(ParagraphQuery(qa["question"], document_id, answers, str(qa.get("id", ""))))
    return queries


def evaluate_paragraphs(engine: SearchEngine, queries: list[ParagraphQuery], *,
                        names: Iterable[str] | None = None, ablate: bool = False) -> dict[str, SystemScores]:
    chosen = systems(engine, ablate=ablate)
    if names is not None:
        chosen = {n: chosen[n] for n in names}
    engine.dense.warm([q.query for q in queries])
    results = {}
    for name, retriever in chosen.items():
        found: list[list[int]] = []
        firsts: list[int | None] = []
        for q in queries:
            passages = retriever.search(q.query, max(KS)).passages
            hits = [p.document_id == q.document_id for p in passages]
            first = next((i for i, h in enumerate(hits, start=1) if h), None)
            found.append([1 if first is not None and first <= k else 0 for k in KS])
            firsts.append(first)
        results[name] = _score_counts(found, [1] * len(found), firsts)
    return results


# ---- baselines: the same chunks, ranked by a library BM25 and by exact dense search ----
class Bm25Baseline(CatalogRetriever):
    """Okapi BM25 from the ``rank-bm25`` package over the catalog's chunks, with Lore's tokenizer.

    An independent implementation next to Lore's sparse retriever, so a gain over it
    is not an artefact of Lore's own BM25."""

    name = "bm25"

    def __init__(self, catalog: ChunkCatalog, metadata: MetadataStore, *, k1: float = 1.2, b: float = 0.75) -> None:
        from rank_bm25 import BM25Okapi

        super().__init__(catalog, metadata)
        rows = {vid: text for vid, _, _, _, text, _ in metadata.search_rows([int(v) for v in catalog.vector_ids])}
        self._bm25 = BM25Okapi([tokenize(rows.get(int(v), "")) or [""] for v in catalog.vector_ids], k1=k1, b=b)

    def rank(self, query: str, k: int, mask: np.ndarray | None) -> Hits:
        scores = np.asarray(self._bm25.get_scores(tokenize(query)), dtype=np.float64)
        # The library's ranking as it is: its idf goes negative for terms in most chunks of a small
        # corpus, so scores are shifted (order kept) rather than cut at zero.
        return top_hits(scores - scores.min() + 1.0, k, mask) if len(scores) else []


class PlainDense(CatalogRetriever):
    """Exact inner product over the stored chunk vectors (numpy), no fusion, no language gate; a
    question goes to the index the dense retriever would search it in (Chinese: the multilingual one)."""

    name = "dense"

    def __init__(self, dense: DenseRetriever, vectors: FaissVectorStore) -> None:
        super().__init__(dense.catalog, dense.metadata)
        self._dense = dense
        self._matrices = {None: self._matrix(vectors)}
        for index in dense.language_indexes:
            self._matrices[index] = self._matrix(index.store)

    def _matrix(self, vectors: FaissVectorStore) -> np.ndarray:
        """The store's vectors in catalog row order (zeros for rows it does not hold)."""
        ids, matrix = vectors._all_vectors()
        position = {int(v): i for i, v in enumerate(ids)}
        order = [position.get(int(v), -1) for v in self.catalog.vector_ids]
        rows = np.zeros((len(order), vectors.dimension), dtype=np.float32)
        present = [i for i, o in enumerate(order) if o >= 0]
        if present:
            rows[present] = matrix[[order[i] for i in present]]
        return rows

    def rank(self, query: str, k: int, mask: np.ndarray | None) -> Hits:
        matrix = self._matrices[self._dense.index_for(query)]
        scores = matrix @ self._dense.query_vector(query).reshape(-1)
        # Cosine can be negative; shift so _top's "positive" cut keeps every chunk.
        return top_hits(scores + 2.0, k, mask)


def baselines(engine: SearchEngine) -> dict[str, Retriever]:
    """The library BM25 and plain exact dense baselines over the engine's chunks, and the plain
    RRF of Lore's own BM25 and dense rankings."""
    return {
        "rrf (plain)": plain_rrf(engine),
        "bm25 (rank-bm25)": Bm25Baseline(engine.catalog, engine.dense.metadata, k1=engine.settings.bm25_k1, b=engine.settings.bm25_b),
        "dense (plain)": PlainDense(engine.dense, engine.dense.vectors),
    }


# ---- reports ------------------------------------------------------------------
def to_json(results: dict[str, dict[str, SystemScores]]) -> dict:
    return {
        setting: {
            name: {"queries": s.queries, "mrr@10": round(s.mrr10, 4), "recall": {str(k): round(v, 4) for k, v in s.recall.items()}}
            for name, s in systems_.items()
        }
        for setting, systems_ in results.items()
    }


def markdown_table(results: dict[str, dict[str, SystemScores]], ks: tuple[int, ...] = (1, 5, 10)) -> str:
    lines = []
    for setting, systems_ in results.items():
        lines.append(f"**{setting}**\n")
        header = "| system | queries | " + " | ".join(f"recall@{k}" for k in ks) + " | MRR@10 |"
        lines.append(header)
        lines.append("|" + "---|" * (len(ks) + 3))
        for name, s in systems_.items():
            cells = " | ".join(f"{s.recall.get(k, 0.0):.3f}" for k in ks)
            lines.append(f"| {name} | {s.queries} | {cells} | {s.mrr10:.3f} |")
        lines.append("")
    return "\n".join(lines)


def plot_recall(results: dict[str, dict[str, SystemScores]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(results)
    fig, axes = plt.subplots(1, len(settings), figsize=(6 * len(settings), 4.5), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for name, s in results[setting].items():
            ax.plot(list(s.recall), list(s.recall.values()), marker=".", label=name)
        ax.set_title(setting)
        ax.set_xlabel("k")
        ax.set_ylabel("recall@k")
        ax.set_xticks(list(KS))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
