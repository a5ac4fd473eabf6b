"""Pure retrieval logic: tokens, BM25 scoring, fusion, MMR, PageRank, filters."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from retrieval.bm25 import BM25Matrix
from retrieval.filters import SearchFilters, document_matches
from retrieval.fusion import distribution_fusion, jaccard, mmr, weighted_rrf
from core.types import Fact
from retrieval.retrievers import candidate_names, personalised_pagerank, rank_facts, top_hits
from retrieval.tokenize import tokenize


def test_tokens_are_stemmed_english_without_stopwords_and_jieba_chinese():
    assert tokenize("The designers were designing remote controls") == ["design", "design", "remot", "control"]
    tokens = tokenize("北京大学的学生")
    assert "北京大学" in tokens and "学生" in tokens and "的" not in tokens
    assert tokenize("Kestrel 北京") == ["北京", "kestrel"]


def test_facts_that_share_the_question_terms_come_first_and_ties_keep_their_order():
    facts = [
        Fact(subject="Camille Dufresne", predicate="MEMBER_OF", object="Platform Team"),
        Fact(subject="Owen Kettering", predicate="MEMBER_OF", object="Platform Team"),
        Fact(subject="Platform Team", predicate="OWNS", object="Wren"),
        Fact(subject="Rahul Menon", predicate="LEADS", object="Platform Team"),
        Fact(subject="Camille Dufresne", predicate="REPORTS_TO", object="Rahul Menon"),
    ]
    ranked = rank_facts("Who leads the Platform team?", facts)
    assert ranked[0].subject == "Rahul Menon"  # "leads" meets the predicate LEADS
    assert [f.predicate for f in ranked[1:]] == ["MEMBER_OF", "MEMBER_OF", "OWNS", "REPORTS_TO"]
    assert rank_facts("Who reports to Rahul Menon?", facts)[0].predicate == "REPORTS_TO"
    assert rank_facts("and the of", facts) == facts  # nothing to match: order unchanged
    co_occurrence = Fact(subject="Project Manager", predicate="MENTIONED_WITH", object="Marketing")
    stated = Fact(subject="Project Manager", predicate="OWNS", object="Remote Control")
    ranked = rank_facts("What did the Project Manager think of the idea mentioned by Marketing?", [co_occurrence, stated])
    assert ranked == [stated, co_occurrence]  # co-occurrence last, however many terms it shares


def _bm25(texts: list[str]) -> BM25Matrix:
    bm25 = BM25Matrix()
    bm25.build([bm25.encode(tokenize(t)) for t in texts])
    return bm25


def test_bm25_prefers_rare_terms_and_shorter_documents():
    bm25 = _bm25(["budget review budget", "budget of the kestrel robot arm and many other words here", "lunch menu"])
    scores = bm25.scores(tokenize("kestrel budget"))
    assert scores.argmax() == 1  # the only document with the rare term
    assert scores[2] == 0
    only_budget = bm25.scores(tokenize("budget"))
    assert only_budget[0] > only_budget[1] > 0  # more occurrences in a shorter document
    assert not bm25.scores(tokenize("unknownword")).any()


def test_bm25_idf_matches_the_formula():
    bm25 = _bm25(["alpha beta", "alpha", "gamma"])
    n, df = 3, 2
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    tf, dl, avgdl = 1.0, 1.0, 4 / 3
    expected = idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl))
    assert bm25.scores(["alpha"])[1] == pytest.approx(expected, rel=1e-5)


def test_top_respects_mask_and_drops_zero_scores():
    scores = np.array([0.5, 3.0, 0.0, 2.0])
    assert top_hits(scores, 3, None) == [(1, 3.0), (3, 2.0), (0, 0.5)]
    mask = np.array([True, False, True, True])
    assert [r for r, _ in top_hits(scores, 3, mask)] == [3, 0]


def test_weighted_rrf_sums_weighted_reciprocal_ranks():
    fused = weighted_rrf({"dense": ["a", "b"], "sparse": ["b", "c"]}, {"dense": 1.0, "sparse": 2.0}, k=60)
    assert fused["b"] == pytest.approx(1 / 62 + 2 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert max(fused, key=fused.get) == "b"
    assert "c" in weighted_rrf({"dense": ["a"], "sparse": ["c"]}, {"dense": 0.0}) and \
        "a" not in weighted_rrf({"dense": ["a"], "sparse": ["c"]}, {"dense": 0.0})


def test_distribution_fusion_keeps_how_far_a_hit_stands_out():
    # BM25 has one hit far above the rest; dense ranks "b" first among near-equal scores.
    sparse = [("a", 30.0), ("b", 5.0), ("c", 4.8), ("d", 4.6), ("e", 4.5)]
    dense = [("b", 0.52), ("a", 0.51), ("c", 0.50), ("d", 0.49), ("e", 0.48)]
    fused = distribution_fusion({"sparse": sparse, "dense": dense}, {"sparse": 1.0, "dense": 1.0})
    assert max(fused, key=fused.get) == "a"
    # Equal-weight RRF of the same lists cannot tell the standout from a tie: a and b draw.
    ranks = weighted_rrf({"sparse": ["a", "b", "c", "d", "e"], "dense": ["b", "a", "c", "d", "e"]}, {})
    assert ranks["a"] == pytest.approx(ranks["b"])
    # Each list adds at most its weight; a zero weight drops the list; one score alone counts fully.
    assert all(0.0 <= v <= 2.0 for v in fused.values())
    assert distribution_fusion({"sparse": sparse, "dense": dense}, {"dense": 0.0}).keys() == {k for k, _ in sparse}
    assert distribution_fusion({"graph": [("z", 0.1)]}, {"graph": 0.5}) == {"z": 0.5}


def test_mmr_skips_a_near_duplicate():
    sets = {"a": frozenset({1, 2, 3}), "a2": frozenset({1, 2, 3}), "b": frozenset({7, 8}), "c": frozenset({9})}
    relevance = {"a": 1.0, "a2": 0.95, "b": 0.6, "c": 0.0}
    sim = lambda x, y: jaccard(sets[x], sets[y])  # noqa: E731
    assert mmr(["a", "a2", "b", "c"], relevance, sim, 2, lambda_=0.7) == ["a", "b"]
    assert mmr(["a", "a2", "b", "c"], relevance, sim, 2, lambda_=1.0) == ["a", "a2"]


def test_personalised_pagerank_favours_nodes_near_the_seed():
    # 0 - 1 - 2 - 3, restart at 0
    src, dst = [0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]
    restart = np.array([1.0, 0, 0, 0])
    scores = personalised_pagerank(4, src, dst, [1.0] * 6, restart, damping=0.5)
    assert scores.sum() == pytest.approx(1.0, abs=1e-6)
    assert scores[0] > scores[1] > scores[2] > scores[3] > 0


def test_candidate_names_longest_first():
    names = candidate_names("Who leads Project Beacon?")
    assert names[0] == "Who leads Project Beacon"
    assert "Project Beacon" in names and "Beacon" in names
    # Function words alone never link (a junk entity named "The" would match every question).
    names = candidate_names("Summarize the discussion about the budget of Kestrel")
    assert "the" not in names and "about the" not in names
    assert "the budget" in names and "of Kestrel" in names and "Kestrel" in names


def _matches(filters: SearchFilters, **overrides) -> bool:
    doc = dict(document_id="d1", source="/kb/meetings/m1.md", kind="meeting", language="en",
               metadata={"date": "2024-03-05", "attendees": ["Priya Raman", "Tom Okafor"], "collections": ["eng"]})
    doc.update(overrides)
    return document_matches(filters, **doc)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (SearchFilters(), True),
        (SearchFilters(kinds=["meeting"]), True),
        (SearchFilters(kinds=["document"]), False),
        (SearchFilters(source_prefix="/kb/meetings"), True),
        (SearchFilters(source_prefix="/kb/docs"), False),
        (SearchFilters(date_from=date(2024, 3, 1), date_to=date(2024, 3, 31)), True),
        (SearchFilters(date_from=date(2024, 4, 1)), False),
        (SearchFilters(languages=["zh"]), False),
        (SearchFilters(people=["priya raman"]), True),
        (SearchFilters(people=["Someone Else"]), False),
        (SearchFilters(collections=["eng"]), True),
        (SearchFilters(collections=["sales"]), False),
        (SearchFilters(document_ids=["d2"]), False),
    ],
)
def test_document_filters(filters, expected):
    assert _matches(filters) is expected


def test_undated_document_fails_a_date_filter():
    assert not _matches(SearchFilters(date_from=date(2020, 1, 1)), metadata={})


def test_filters_reject_unknown_fields():
    with pytest.raises(ValueError):
        SearchFilters(colour="red")


def test_term_jaccard_matches_set_jaccard():
    from types import SimpleNamespace

    from retrieval.retrievers import term_jaccard

    sets = [frozenset({1, 2, 3}), frozenset({2, 3, 4}), frozenset()]
    catalog = SimpleNamespace(rows=[SimpleNamespace(terms=t) for t in sets])
    matrix = term_jaccard(catalog, [0, 1, 2])
    for i in range(3):
        for j in range(3):
            expected = jaccard(sets[i], sets[j]) if i != j or sets[i] else 0.0
            assert matrix[i, j] == pytest.approx(expected)
