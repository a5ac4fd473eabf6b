"""Rank fusion and diversification: pure functions over ranked id lists."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar


K = TypeVar("K", bound=Hashable)


def weighted_rrf(rankings: Mapping[str, Sequence[K]], weights: Mapping[str, float], k: int = 60) -> dict[K, float]:
    """Weighted reciprocal-rank fusion: ``sum_m w_m / (k + rank_m(d))`` with ranks from 1.

    Ranks, not scores, are fused, so retrievers with incomparable score scales
    (cosine, BM25, PageRank mass) combine without calibration.
    """
    fused: dict[K, float] = {}
    for name, ranking in rankings.items():
        weight = weights.get(name, 1.0)
        if weight <= 0:
            continue
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return fused


def distribution_fusion(scored: Mapping[str, Sequence[tuple[K, float]]], weights: Mapping[str, float]) -> dict[K, float]:
    """Distribution-based score fusion: ``sum_m w_m * clip((s - (mu_m - 3 sd_m)) / (6 sd_m), 0, 1)``.

    Each retriever's scores are placed on [0, 1] by their own spread over the candidates it
    returned (mean +- 3 standard deviations), then added. Unlike RRF this keeps how far apart
    the scores are: a BM25 hit far above the rest of its list (an exact rare-term match) counts
    for more than a first place among near-equals, and a flat dense list adds little.
    """
    fused: dict[K, float] = {}
    for name, hits in scored.items():
        weight = weights.get(name, 1.0)
        if weight <= 0 or not hits:
            continue
        values = [score for _, score in hits]
        mean = sum(values) / len(values)
        spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
        low, width = mean - 3 * spread, 6 * spread
        for key, score in hits:
            share = min(1.0, max(0.0, (score - low) / width)) if width > 0 else 1.0
            fused[key] = fused.get(key, 0.0) + weight * share
    return fused


def mmr(
    candidates: Sequence[K],
    relevance: Mapping[K, float],
    similarity: Callable[[K, K], float],
    k: int,
    lambda_: float = 0.7,
) -> list[K]:
    """Maximal marginal relevance: greedily pick the candidate with the best
    ``lambda * relevance - (1 - lambda) * max similarity to those picked``.

    Relevance is min-max normalised first so ``lambda`` means the same for any score scale.
    """
    if not candidates or k <= 0:
        return []
    values = [relevance[c] for c in candidates]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    norm = {c: (relevance[c] - low) / span for c in candidates}
    chosen: list[K] = []
    remaining = list(candidates)
    while remaining and len(chosen) < k:
        best, best_score = None, float("-inf")
        for c in remaining:
            redundancy = max((similarity(c, s) for s in chosen), default=0.0)
            score = lambda_ * norm[c] - (1.0 - lambda_) * redundancy
            if score > best_score:
                best, best_score = c, score
        chosen.append(best)
        remaining.remove(best)
    return chosen


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
