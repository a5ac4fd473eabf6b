"""Citation markers: parsing, cleaning, mapping to sources, abstention, and the Answerer's post-processing.

Pure logic: the Answerer tests use a scripted backend that returns fixed text;
the real model runs in tests/integration/test_local_llm.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.types import Fact, Passage
from generation.answerer import Answerer, is_abstention
from generation.citations import SNIPPET_CHARS, clean_citations, map_citations, parse_markers, snippet
from generation.prompts import ABSTENTIONS


def passage(n: int, text: str = "") -> Passage:
    body = text or f"Passage {n} says something specific about topic {n}. " * 3
    return Passage(
        chunk_id=f"chk_{n}",
        document_id=f"doc_{n}",
        source=f"docs/file{n}.md",
        title=f"File {n}",
        text=body,
        score=1.0,
        start=10 * n,
        end=10 * n + len(body),
    )


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Paris [1].", [(1,)]),
        ("Paris [1, 2].", [(1, 2)]),
        ("Paris [1-3].", [(1, 2, 3)]),
        ("Paris [3–1].", [(1, 2, 3)]),
        ("Paris [2][3].", [(2,), (3,)]),
        ("Paris [1, 4-5].", [(1, 4, 5)]),
        ("巴黎【1】。", [(1,)]),
        ("巴黎[1，2]。", [(1, 2)]),
        ("Paris [Source 2].", [(2,)]),
        ("Paris [sources: 1, 3].", [(1, 3)]),
        ("Paris [1, 1].", [(1,)]),
        ("No markers [here] or [a1].", []),
    ],
)
def test_parse_markers(text, numbers):
    assert [m.numbers for m in parse_markers(text)] == numbers


def test_parse_markers_spans():
    text = "A [1] and B [2-3]."
    spans = [text[m.start : m.end] for m in parse_markers(text)]
    assert spans == ["[1]", "[2-3]"]


def test_huge_ranges_keep_only_endpoints():
    assert parse_markers("x [1-5000]")[0].numbers == (1, 5000)


@pytest.mark.parametrize(
    ("raw", "cleaned", "cited"),
    [
        ("Paris is the capital [1].", "Paris is the capital [1].", [1]),
        ("Paris is the capital [7].", "Paris is the capital.", []),
        ("Paris [7] is the capital [2].", "Paris is the capital [2].", [2]),
        ("Paris [1, 9].", "Paris [1].", [1]),
        ("Paris [2-5].", "Paris [2, 3].", [2, 3]),
        ("Paris [0].", "Paris.", []),
        ("A [3] B [1][3] C [1].", "A [3] B [1][3] C [1].", [3, 1]),
        ("巴黎是首都【4】。", "巴黎是首都。", []),
    ],
)
def test_clean_citations(raw, cleaned, cited):
    assert clean_citations(raw, source_count=3) == (cleaned, cited)


def test_map_citations_points_at_the_numbered_sources():
    sources = [passage(1), passage(2, "x" * 500)]
    citations = map_citations([2, 1, 2, 5], sources)

    assert [c.number for c in citations] == [2, 1]
    second = citations[0]
    assert (second.chunk_id, second.document_id, second.source) == ("chk_2", "doc_2", "docs/file2.md")
    assert (second.start, second.end) == (20, 520)
    assert len(second.snippet) <= SNIPPET_CHARS and second.snippet.endswith("…")


def test_snippet_is_one_line_and_cut_at_a_word():
    text = "word " * 100
    cut = snippet("line one\n\nline   two")
    assert cut == "line one line two"
    long = snippet(text)
    assert len(long) <= SNIPPET_CHARS and long.endswith("word…")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I don't know based on the available documents.", True),
        ("I don’t know based on the available documents", True),
        ("  i don't know based on the available documents. The sources cover travel only.", True),
        ("I don't know based on the available documents [1].", True),
        ("根据现有文档，我不知道。", True),
        ("Dana leads Apollo [1]. I don't know based on the available documents who funds it.", False),
        ("I don't know.", False),
        ("Dana leads Apollo [1].", False),
    ],
)
def test_is_abstention(text, expected):
    assert is_abstention(text) is expected


class ScriptedBackend:
    """Returns fixed text; counts tokens by words. Records the prompts it was given."""

    name = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls: list[list[dict[str, str]]] = []

    def generate(self, messages, *, max_new_tokens, temperature=0.0, timeout=None) -> str:
        self.calls.append(messages)
        return self.reply

    def stream(self, messages, *, max_new_tokens, temperature=0.0, timeout=None) -> Iterator[str]:
        self.calls.append(messages)
        for i in range(0, len(self.reply), 5):
            yield self.reply[i : i + 5]

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def make_answerer(reply: str) -> tuple[Answerer, ScriptedBackend]:
    backend = ScriptedBackend(reply)
    return Answerer(backend, context_tokens=1000, max_new_tokens=50, timeout=30.0), backend


def test_answer_keeps_valid_citations_and_drops_the_rest():
    answerer, _ = make_answerer(" Topic 2 is specific [2]. Also [5] see [1, 7]. ")
    answer = answerer.answer("What about topic 2?", [passage(1), passage(2)], [])

    assert answer.text == "Topic 2 is specific [2]. Also see [1]."
    assert [(c.number, c.chunk_id) for c in answer.citations] == [(2, "chk_2"), (1, "chk_1")]
    assert [p.chunk_id for p in answer.passages] == ["chk_1", "chk_2"]
    assert answer.timings["completion_tokens"] > 0 and answer.timings["generate"] >= 0
    assert answer.timings["timed_out"] == 0.0


def test_an_unmarked_sentence_is_attributed_to_the_passage_that_supports_it():
    answerer, _ = make_answerer("Topic 2 is specific.")
    answer = answerer.answer("What about topic 2?", [passage(1), passage(2)], [])
    assert [c.chunk_id for c in answer.citations] == ["chk_2"] and answer.text == "Topic 2 is specific [2]."
    assert len(answer.passages) == 2 and answer.unsupported == ()
    assert not answer.abstained


def test_an_unmarked_sentence_no_passage_supports_gets_no_citation():
    answerer, _ = make_answerer("Lunch is served at noon.")
    answer = answerer.answer("What about lunch?", [passage(1), passage(2)], [])
    assert answer.citations == () and answer.unsupported == ("Lunch is served at noon.",)


def test_an_answer_of_invented_specifics_becomes_the_abstention_and_says_why():
    answerer, _ = make_answerer("Marcus Webb pays 10% of salary in March [1].")
    answer = answerer.answer("Who pays the bonus?", [passage(1), passage(2)], [])
    assert answer.abstained and answer.abstention_rule == "specifics-not-in-sources" and answer.citations == ()


def test_abstention_carries_no_citations():
    answerer, _ = make_answerer("I don't know based on the available documents. [1]")
    answer = answerer.answer("Who funds Apollo?", [passage(1)], [])
    assert is_abstention(answer.text) and answer.abstained
    assert answer.citations == () and answer.abstention_rule == "model-declined"


def test_nothing_retrieved_abstains_without_calling_the_model():
    answerer, backend = make_answerer("should not be used")
    answer = answerer.answer("阿波罗项目由谁负责？", [], [])
    assert answer.text == ABSTENTIONS["zh"] and answer.abstained
    assert backend.calls == []


def test_stream_yields_pieces_then_the_final_answer():
    answerer, backend = make_answerer("Topic 1 [1] and nothing [9].")
    items = list(answerer.stream("What about topic 1?", [passage(1)], [Fact(subject="a", predicate="B", object="c")]))

    *pieces, final = items
    assert all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == "Topic 1 [1] and nothing [9]."
    assert final.text == "Topic 1 [1] and nothing."
    assert [c.number for c in final.citations] == [1]
    assert "first_token" in final.timings
    assert "- a b c" in backend.calls[0][1]["content"]


def scored(n: int, dense: float | None) -> Passage:
    # Fused scores are ranks (high for the best of anything); the cut-off reads the dense similarity.
    scores = {"fused": 0.5, **({"dense": dense} if dense is not None else {})}
    return passage(n).model_copy(update={"scores": scores})


@pytest.mark.parametrize("stream", [False, True])
def test_passages_below_the_relevance_cut_off_abstain_without_calling_the_model(stream):
    backend = ScriptedBackend("Topic 1 [1].")
    answerer = Answerer(backend, context_tokens=1000, max_new_tokens=50, timeout=30.0, min_relevance=0.3)
    passages = [scored(1, 0.12), scored(2, 0.25)]
    if stream:
        *pieces, answer = list(answerer.stream("Who founded Rome?", passages, []))
        assert "".join(pieces) == answer.text
    else:
        answer = answerer.answer("Who founded Rome?", passages, [])
    assert answer.abstained and answer.text == ABSTENTIONS["en"] and answer.citations == ()
    assert answer.abstention_rule == "low-relevance"
    assert backend.calls == []


def test_one_relevant_passage_or_no_dense_scores_reach_the_model():
    backend = ScriptedBackend("Topic 1 [1].")
    answerer = Answerer(backend, context_tokens=1000, max_new_tokens=50, timeout=30.0, min_relevance=0.3)
    assert not answerer.answer("What about topic 1?", [scored(1, 0.1), scored(2, 0.55)], []).abstained
    # A Chinese question has no dense scores (the dense model is English): no cut-off.
    assert not answerer.answer("话题一是什么？", [scored(1, None)], []).abstained
    assert len(backend.calls) == 2


def test_a_reply_that_is_only_a_marker_is_an_abstention_unless_it_points_at_a_sentence():
    whole_passage = passage(1, "Topic 1 is described at length here. " * 12)  # a passage, not a sentence
    answerer, _ = make_answerer("[1]")
    answer = answerer.answer("What about topic 1?", [whole_passage, passage(2)], [])
    assert answer.abstained and answer.abstention_rule == "empty-answer" and answer.citations == ()
    assert make_answerer("")[0].answer("What about topic 1?", [passage(1)], []).abstention_rule == "empty-answer"

    # Shown numbered sentences, a small model may answer with the number of the one that answers.
    sentences = [passage(1, "2013: 18F funding approved and hiring begins."), passage(2, "2016: 18F gets procurement authority.")]
    answerer, _ = make_answerer("[2]")
    answer = answerer.answer("When did 18F receive procurement authority?", sentences, [])
    assert not answer.abstained and answer.text == "2016: 18F gets procurement authority [2]."
    assert [c.chunk_id for c in answer.citations] == ["chk_2"]


def test_a_question_word_the_knowledge_base_never_holds_abstains_without_the_model():
    answerer, backend = make_answerer("Twelve weeks of sabbatical [1].")
    answer = answerer.answer("How long is the sabbatical?", [passage(1)], [], unseen_terms=["sabbat"])
    assert answer.abstained and answer.abstention_rule == "not-in-knowledge-base" and backend.calls == []
    streamed = list(answerer.stream("How long is the sabbatical?", [passage(1)], [], unseen_terms=["sabbat"]))
    assert streamed[-1].abstention_rule == "not-in-knowledge-base" and backend.calls == []


def test_a_graph_fact_about_what_is_asked_stands_where_the_passages_score_low():
    backend = ScriptedBackend("Camille Dufresne is based in the Leeds Office.")
    answerer = Answerer(backend, context_tokens=1000, max_new_tokens=50, timeout=30.0, min_relevance=0.3)
    passages = [scored(1, 0.12)]
    located = Fact(subject="Camille Dufresne", predicate="LOCATED_IN", object="Leeds Office", chunk_ids=("c1",))
    answer = answerer.answer("Which office is Camille Dufresne based in?", passages, [located])
    assert not answer.abstained and "Leeds Office" in answer.text
    assert len(backend.calls) == 1
    # A fact that only names the same person does not answer what else is asked.
    unrelated = answerer.answer("What is Camille Dufresne's salary?", passages, [located])
    assert unrelated.abstained and unrelated.abstention_rule == "low-relevance"
    assert len(backend.calls) == 1
