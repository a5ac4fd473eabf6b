"""Sentence selection for the answer prompt: sentence boundaries, scoring, the budget, sentence-level citations."""

from __future__ import annotations

import pytest

from core.sentences import sentence_spans, sentences
from core.types import Fact, Passage
from core.vocabulary import asks_through_a_relation
from generation.answerer import Answerer
from generation.prompts import build_prompt
from generation.selection import candidates, plain, select_facts, select_sentences

LEAVE = """---
title: Leave types
keywords: leave, vacation, annual leave, sick leave
---

## Annual leave

You may use annual leave for any reason. Annual leave accrues based on how long you've worked for
the federal government:

* Fewer than 3 years: 4 hours per pay period
* Between 3 and 15 years: 6 hours per pay period
* 15+ years: 8 hours per pay period

## Sick leave

All federal employees accrue four hours of sick leave per pay period. There is no maximum amount of
sick leave you can accrue, and see [the transfer rules]({% page "/leave/#transfer" %}) for more.
"""
PHONES = "## Phones\n\nChange the phone's passcode. It must be longer than 14 characters and contain letters and numbers.\n"


def words(text: str) -> int:
    return len(text.split())


def passage(n: int, text: str, offset: int = 0) -> Passage:
    return Passage(chunk_id=f"chk_{n}", document_id=f"doc_{n}", source=f"/kb/handbook/page{n}.md", title=f"Page {n}",
                   text=text, score=1.0 / n, start=offset, end=offset + len(text),
                   metadata={"heading_path": [f"Page {n}"]})


def test_wrapped_prose_is_one_sentence_and_list_items_are_their_own():
    found = sentences(LEAVE.split("## Annual leave")[1].split("## Sick")[0])
    assert found[1].startswith("Annual leave accrues") and found[1].endswith("government:")
    assert "\n" in found[1]  # the wrapped line was joined, not cut
    assert found[2:] == ["* Fewer than 3 years: 4 hours per pay period", "* Between 3 and 15 years: 6 hours per pay period",
                         "* 15+ years: 8 hours per pay period"]


def test_sentence_ends_keep_versions_domains_and_closing_quotes():
    assert sentences('Loomline 3.1 ships on cloud.gov. She said "done." Next!') == [
        "Loomline 3.1 ships on cloud.gov.", 'She said "done."', "Next!"]
    assert sentences("**Change the passcode.** It must be long.") == ["**Change the passcode.**", "It must be long."]
    assert sentences("第一句。第二句！」第三句") == ["第一句。", "第二句！」", "第三句"]
    text = "  One here.  Two there.\n"
    assert [text[a:b] for a, b in sentence_spans(text)] == ["One here.", "Two there."]


def test_candidates_skip_front_matter_and_headings_and_carry_their_heading():
    found = candidates([passage(1, LEAVE)])
    texts = [c.text for c in found]
    assert not any("keywords" in t or t.startswith("title:") for t in texts)
    assert "Annual leave" not in texts and "Sick leave" not in texts  # headings are context, not sentences
    item = next(c for c in found if c.text.startswith("Fewer than 3 years"))
    assert item.context == "Annual leave"  # the title is shown once, above the group
    sick = next(c for c in found if "no maximum" in c.text)
    assert sick.context == "Sick leave"
    assert "the transfer rules for more" in sick.text and "{%" not in sick.text  # link text kept, markup gone


ROLLOUT = """## Requirements

1. **Signed images.** Robots refuse an image without a valid signature.
2. **Staged rollout.** Each release goes to 1% of robots, then 10%, then 100%, over 72 hours. Each stage waits for health checks.
3. **Pricing** is set per site.

Releases are announced in the changelog.
"""


def test_a_bold_lead_in_heads_the_rest_of_its_line_and_is_not_a_sentence_of_its_own():
    found = {c.text: c.context for c in candidates([passage(1, ROLLOUT)])}
    assert found["Each release goes to 1% of robots, then 10%, then 100%, over 72 hours."] == "Requirements › Staged rollout"
    assert found["Each stage waits for health checks."] == "Requirements › Staged rollout"
    assert found["Robots refuse an image without a valid signature."] == "Requirements › Signed images"
    assert "Staged rollout." not in found and "Signed images." not in found
    # Bold words inside a sentence are no label, and a label ends with its line.
    assert found["Pricing is set per site."] == "Requirements"
    assert found["Releases are announced in the changelog."] == "Requirements"
    # The stages sentence shares no word with the question but "stage"/"rollout" of its label.
    chosen = select_sentences("What stages does a rollout go through?", [passage(1, ROLLOUT)], count_tokens=words, budget=30)
    assert any("1% of robots" in s.text for s in chosen)


def test_sentences_of_one_passage_under_different_headings_are_shown_under_their_own():
    prompt = build_prompt("How many hours of annual and sick leave accrue per pay period?", [passage(1, LEAVE)], [],
                          count_tokens=words, budget=400, units="sentences")
    shown = prompt.messages[-1]["content"]
    annual, sick = shown.index("Page 1 › Annual leave"), shown.index("Page 1 › Sick leave")
    assert annual < shown.index("4 hours per pay period") < sick < shown.index("four hours of sick leave")


def test_a_question_of_what_someone_will_pay_asks_for_an_amount():
    text = "## Flex plan\n\nCustomers pay for what robots do on this plan, billed monthly to the site owner.\n\n" \
           "Customers pay $0.60 per robot-hour.\n"
    scored = {c.text: c for c in candidates([passage(1, text)])}
    chosen = select_sentences("What will customers pay on the Flex plan?", [passage(1, text)], count_tokens=words, budget=22)
    assert [s.text for s in chosen] == ["Customers pay $0.60 per robot-hour."] and len(scored) == 2


def test_markup_is_removed_from_what_the_model_reads():
    assert plain("* **Bold** and [a link](https://x.y/z_(1)) {% raw %}<b>tag</b> `code`") == "Bold and a link tag code"


def test_the_sentence_that_answers_is_chosen_over_its_neighbours():
    question = "How much annual leave do I earn with fewer than 3 years of service?"
    chosen = select_sentences(question, [passage(1, LEAVE), passage(2, PHONES)], count_tokens=words, budget=40)
    assert chosen and chosen[0].text == "Fewer than 3 years: 4 hours per pay period" or any(
        c.text == "Fewer than 3 years: 4 hours per pay period" for c in chosen)
    assert all(c.chunk_id == "chk_1" for c in chosen)  # the passcode passage says nothing about leave


@pytest.mark.parametrize("budget", [5, 12, 25, 60, 400])
def test_selection_never_exceeds_its_budget(budget):
    question = "How long must the phone passcode be, and how much sick leave accrues?"
    chosen = select_sentences(question, [passage(1, LEAVE), passage(2, PHONES)], count_tokens=words, budget=budget)
    fixed = build_prompt(question, [], [], count_tokens=words, budget=1000, units="sentences", overhead=0).tokens
    prompt = build_prompt(question, [passage(1, LEAVE), passage(2, PHONES)], [], count_tokens=words,
                          budget=fixed + budget, units="sentences", overhead=0)
    shown = prompt.messages[1]["content"].split("Sources:")[1].split("Question:")[0]
    assert sum(words(f"[{i + 1}] {c.text}") + 1 for i, c in enumerate(chosen)) <= budget
    assert prompt.tokens <= fixed + budget and all(s.text in shown for s in prompt.sources)
    assert (budget >= 12) == bool(prompt.sources)  # 12 words fit the shortest sentence with its heading


def test_sentence_sources_point_at_the_sentence_in_the_document():
    document = "Intro line that is not retrieved.\n\n" + PHONES
    offset = document.index("## Phones")
    chosen = select_sentences("How long must the phone passcode be?", [passage(2, PHONES, offset)],
                              count_tokens=words, budget=60)
    rule = next(c for c in chosen if "14 characters" in c.text)
    assert document[rule.start:rule.end] == "It must be longer than 14 characters and contain letters and numbers."
    assert rule.chunk_id == "chk_2" and rule.metadata["sentence"] is True


def test_sentence_citations_resolve_to_the_cited_sentence():
    class Reply:
        name = "scripted"

        def generate(self, messages, **_):
            content = messages[1]["content"]
            number = next(line.split("]")[0][1:] for line in content.splitlines() if "14 characters" in line)
            return f"It must be longer than 14 characters [{number}]."

        def count_tokens(self, text):
            return words(text)

    answerer = Answerer(Reply(), context_tokens=200, max_new_tokens=50, timeout=10, units="sentences")
    answer = answerer.answer("How long must the phone passcode be?", [passage(1, LEAVE), passage(2, PHONES)], [])
    (citation,) = answer.citations
    assert citation.chunk_id == "chk_2" and "14 characters" in citation.snippet
    assert PHONES[citation.start:citation.end].startswith("It must be longer than 14 characters")


def test_graph_facts_are_ranked_and_co_mentions_left_out():
    facts = [Fact(subject="Annual Leave", predicate="MENTIONED_WITH", object="Central Office"),
             Fact(subject="Dana Reyes", predicate="LEADS", object="Platform team"),
             Fact(subject="Rahul Menon", predicate="MEMBER_OF", object="Billing")]
    assert select_facts("Who leads the Platform team?", facts) == [facts[1]]


def test_a_chinese_question_keeps_whole_passages():
    class Counter:
        name = "counter"

        def count_tokens(self, text):
            return len(text)

    text = "上海办公室位于浦东新区。办公室有十二名工程师，经理是陈静。"
    answerer = Answerer(Counter(), context_tokens=300, max_new_tokens=20, timeout=10, units="sentences")
    prompt = answerer.prepare("上海办公室的经理是谁？", [passage(1, text)], [])
    assert prompt.language == "zh" and len(prompt.sources) == 1 and prompt.sources[0].text == text
    english = answerer.prepare("Who manages the office?", [passage(1, PHONES)], [])
    assert all(s.metadata.get("sentence") for s in english.sources)


def test_only_facts_that_speak_to_what_is_asked_reach_the_prompt():
    depends = Fact(subject="Paid Parental Leave", predicate="DEPENDS_ON", object="FMLA")
    assert select_facts("How long is paid parental leave?", [depends]) == []  # names the leave, says nothing of how long
    assert select_facts("What does paid parental leave depend on?", [depends]) == [depends]
    # The question asks with the relation's own words: "contain" for PART_OF, "manager" for REPORTS_TO.
    part = Fact(subject="Solutions", predicate="PART_OF", object="Technology Transformation Services (TTS)")
    assert select_facts("Which offices does TTS contain?", [part]) == [part]
    reports = Fact(subject="Anika Sharma", predicate="REPORTS_TO", object="Gareth Pryce")
    assert select_facts("Who is Anika Sharma's manager?", [reports]) == [reports]
    assert select_facts("What is Anika Sharma's salary?", [reports]) == []


def test_a_fact_that_restates_the_question_comes_after_the_one_that_answers_it():
    restates = Fact(subject="TTS", predicate="PART_OF", object="GSA")
    answers = Fact(subject="TTS", predicate="PART_OF", object="Federal Acquisition Service")
    assert select_facts("Which part of GSA does TTS belong to?", [restates, answers]) == [answers, restates]


@pytest.mark.parametrize(("question", "through"), [
    ("Who manages the person who leads the Platform Team?", True),
    ("Who leads the team that owns Tally?", True),
    ("Which team leader does the owner of Roster's team report to?", True),
    ("Who leads the Platform Team?", False),
    ("Which office is the Innovation Portfolio part of?", False),
])
def test_a_question_may_name_what_it_asks_about_through_a_relation(question, through):
    assert asks_through_a_relation(question) is through


def test_a_question_through_a_relation_reaches_the_fact_one_step_beyond_what_it_names():
    leads = Fact(subject="Rahul Menon", predicate="LEADS", object="Platform Team")
    reports = Fact(subject="Rahul Menon", predicate="REPORTS_TO", object="Tomasz Wierzbicki")
    member = Fact(subject="Camille Dufresne", predicate="MEMBER_OF", object="Platform Team")
    elsewhere = Fact(subject="Sofia Lindqvist", predicate="REPORTS_TO", object="Tomasz Wierzbicki")
    facts = [leads, reports, member, elsewhere]
    # The manager's fact names nothing the question names; it joins the chosen fact at Rahul Menon
    # and asks with "manages". The member fact joins too but answers no word of the question
    # beyond the team's name; Sofia's joins nothing chosen.
    assert select_facts("Who manages the person who leads the Platform Team?", facts) == [leads, reports]
    # A question that names its subject directly gets no step beyond.
    assert select_facts("Who leads the Platform Team?", facts) == [leads]
