"""Retrievers, one module each, behind one contract: ``search(query, k, filters, max_facts)``
returns a ``Retrieved`` (passages, graph facts, graph evidence) in every mode."""

from retrieval.retrievers.base import MODES, CatalogRetriever, Hits, Mode, Retrieved, Retriever, passages_for, top_hits
from retrieval.retrievers.dense import DenseRetriever
from retrieval.retrievers.graph import (
    GraphQuery,
    GraphRanking,
    GraphRetriever,
    GraphSettings,
    candidate_names,
    personalised_pagerank,
    rank_facts,
)
from retrieval.retrievers.hybrid import FusionSettings, HybridRetriever, term_jaccard
from retrieval.retrievers.sparse import SparseRetriever

__all__ = [
    "MODES", "CatalogRetriever", "DenseRetriever", "FusionSettings", "GraphQuery", "GraphRanking", "GraphRetriever",
    "GraphSettings", "Hits", "HybridRetriever", "Mode", "Retrieved", "Retriever", "SparseRetriever", "candidate_names",
    "passages_for", "personalised_pagerank", "rank_facts", "term_jaccard", "top_hits",
]
