"""Prompt assembly: numbering, dedup, budget trimming, facts, question last, Chinese template.

A simple word/ideograph counter stands in for the tokenizer: the budgeting logic
only needs a monotone counter. The same checks with the real SmolLM2 tokenizer
run in tests/integration/test_local_llm.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.language import script_language
from core.types import Fact, Passage
from generation.prompts import (
    ABSTENTIONS,
    MIN_TRUNCATED_TOKENS,
    TEMPLATE_OVERHEAD_TOKENS,
    build_prompt,
    truncate_to_tokens,
)

_TOKEN = re.compile(r"[\u4e00-\u9fff]|[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")


def count(text: str) -> int:
    return len(_TOKEN.findall(text))


def passage(n: int, text: str | None = None, *, words: int = 40) -> Passage:
    body = text if text is not None else " ".join(f"w{n}x{i}" for i in range(words))
    return Passage(
        chunk_id=f"chk_{n}",
        document_id=f"doc_{n}",
        source=f"docs/file{n}.md",
        title=f"File {n}",
        text=body,
        score=1.0 / n,
        start=100,
        end=100 + len(body),
    )


def recount(prompt) -> int:
    return sum(count(m["content"]) for m in prompt.messages) + TEMPLATE_OVERHEAD_TOKENS


def test_sources_are_numbered_in_rank_order_and_question_comes_last():
    passages = [passage(1), passage(2), passage(3)]
    prompt = build_prompt("Who leads Apollo?", passages, [], count_tokens=count, budget=5000)

    assert [m["role"] for m in prompt.messages] == ["system", "user"]
    assert prompt.sources == passages
    user = prompt.messages[1]["content"]
    positions = [user.index(f"[{n}] File {n} (docs/file{n}.md)") for n in (1, 2, 3)]
    assert positions == sorted(positions)
    assert user.rstrip().splitlines()[-1] == "Question: Who leads Apollo?"
    assert ABSTENTIONS["en"] in prompt.messages[0]["content"]
    assert prompt.tokens == recount(prompt) <= 5000


def test_duplicates_by_chunk_id_or_text_are_numbered_once():
    first = passage(1, "Apollo is led by Dana Reyes.")
    same_id = first.model_copy(update={"score": 0.1, "text": "other text"})
    same_text = passage(7, "  Apollo is led by\nDana Reyes. ")
    other = passage(2, "Hermes ships in May.")
    prompt = build_prompt("q?", [first, same_id, same_text, other], [], count_tokens=count, budget=5000)

    assert [p.chunk_id for p in prompt.sources] == ["chk_1", "chk_2"]
    user = prompt.messages[1]["content"]
    assert "[2] File 2" in user and "[3]" not in user


def test_budget_drops_lowest_ranked_first_then_truncates_the_last_kept():
    passages = [passage(n, words=100) for n in range(1, 6)]
    one_block = count("[1] File 1 (docs/file1.md)\n" + passages[0].text) + 1
    fixed = build_prompt("What is w1x3?", [], [], count_tokens=count, budget=10_000).tokens - count(
        "(no sources found)"
    )
    budget = fixed + int(2.5 * one_block)

    prompt = build_prompt("What is w1x3?", passages, [], count_tokens=count, budget=budget)

    assert [p.chunk_id for p in prompt.sources] == ["chk_1", "chk_2", "chk_3"]
    assert prompt.sources[:2] == passages[:2]
    cut = prompt.sources[2]
    assert cut.metadata["truncated"] is True
    assert cut.text.endswith("…") and passages[2].text.startswith(cut.text[:-2])
    # The citation offsets shrink to the part the model saw.
    assert cut.start == passages[2].start and cut.end == cut.start + len(cut.text) - 2
    assert prompt.tokens == recount(prompt) <= budget
    assert "[4]" not in prompt.messages[1]["content"]


@pytest.mark.parametrize("budget", range(150, 1400, 37))  # from just above the system text and question
def test_every_budget_is_respected_and_sources_stay_a_ranked_prefix(budget):
    passages = [passage(n, words=60 + 10 * n) for n in range(1, 8)]
    facts = [Fact(subject=f"E{n}", predicate="WORKS_ON", object=f"P{n}", chunk_ids=(f"chk_{n}",)) for n in range(1, 6)]
    prompt = build_prompt("Which project is E2 on?", passages, facts, count_tokens=count, budget=budget)

    assert prompt.tokens == recount(prompt) <= budget
    ids = [p.chunk_id for p in prompt.sources]
    assert ids == [f"chk_{n}" for n in range(1, len(ids) + 1)]
    for kept in prompt.sources[:-1]:
        assert "truncated" not in kept.metadata
    for source in prompt.sources:
        assert count(source.text) >= MIN_TRUNCATED_TOKENS
    assert prompt.messages[1]["content"].rstrip().endswith("Question: Which project is E2 on?")


def test_facts_carry_the_numbers_of_included_supporting_sources():
    passages = [passage(1, "Dana leads Apollo."), passage(2, "Apollo uses Postgres.")]
    facts = [
        Fact(subject="Dana", predicate="LEADS", object="Apollo", chunk_ids=("chk_1",)),
        Fact(subject="Apollo", predicate="USES", object="Postgres", chunk_ids=("chk_2", "chk_1")),
        Fact(subject="Apollo", predicate="PART_OF", object="Platform", chunk_ids=("chk_99",)),
        Fact(subject="Dana", predicate="LEADS", object="Apollo", chunk_ids=("chk_2",)),  # same statement again
    ]
    prompt = build_prompt("Who leads Apollo?", passages, facts, count_tokens=count, budget=5000)
    user = prompt.messages[1]["content"]

    assert "- Dana leads Apollo [1]\n" in user
    assert "- Apollo uses Postgres [1][2]\n" in user
    assert "- Apollo part of Platform\n" in user  # supporting chunk not among the sources: no number
    assert len(prompt.facts) == 3
    assert user.index("Knowledge graph facts:") < user.index("Question:")


def test_facts_get_a_share_of_a_tight_budget():
    passages = [passage(n, words=300) for n in range(1, 4)]
    facts = [Fact(subject="Dana", predicate="LEADS", object="Apollo", chunk_ids=("chk_1",))]
    prompt = build_prompt("Who leads Apollo?", passages, facts, count_tokens=count, budget=400)

    assert prompt.facts == facts
    assert "- Dana leads Apollo [1]" in prompt.messages[1]["content"]
    assert prompt.tokens <= 400


def test_a_budget_below_the_fixed_parts_keeps_the_question_and_drops_everything_else():
    prompt = build_prompt(
        "Who leads Apollo?", [passage(1)], [Fact(subject="a", predicate="B", object="c")], count_tokens=count, budget=50
    )
    assert prompt.sources == [] and prompt.facts == []
    assert prompt.messages[1]["content"].endswith("Question: Who leads Apollo?")


def test_no_passages_says_so():
    prompt = build_prompt("Who leads Apollo?", [], [], count_tokens=count, budget=1000)
    assert prompt.sources == []
    assert "(no sources found)" in prompt.messages[1]["content"]


def test_chinese_template():
    passages = [passage(1, "阿波罗项目由王芳负责。")]
    prompt = build_prompt("阿波罗项目由谁负责？", passages, [], count_tokens=count, budget=1000, language="zh")

    system, user = (m["content"] for m in prompt.messages)
    assert ABSTENTIONS["zh"] in system and "[1]" in system
    assert user.startswith("资料：")
    assert "[1] File 1 (docs/file1.md)\n阿波罗项目由王芳负责。" in user
    assert user.rstrip().splitlines()[-1] == "问题：阿波罗项目由谁负责？"


def test_unknown_language_is_rejected():
    with pytest.raises(ValueError, match="no prompt template"):
        build_prompt("q", [], [], count_tokens=count, budget=1000, language="fr")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Who leads Apollo?", "en"),
        ("阿波罗项目由谁负责？", "zh"),
        ("Lore 的部署流程是什么？", "zh"),
        ("Who owns the 支付 service in the platform team?", "en"),
    ],
)
def test_script_language(text, expected):
    assert script_language(text) == expected


def test_truncate_to_tokens_cuts_latin_at_words_and_cjk_anywhere():
    latin = " ".join(f"word{i}" for i in range(100))
    cut = truncate_to_tokens(latin, 20, count)
    assert count(cut) <= 20 and cut.endswith(" …")
    assert latin.startswith(cut[:-2]) and cut[:-2].split()[-1].startswith("word")
    assert latin[len(cut) - 2] == " "  # ended on a word boundary

    chinese = "阿波罗项目由王芳负责" * 10
    cut = truncate_to_tokens(chinese, 15, count)
    assert count(cut) <= 15 and chinese.startswith(cut[:-2])
    assert truncate_to_tokens("short", 10, count) == "short"


def _cmrc_trial() -> Path:
    import os

    override = os.environ.get("LORE_SHARED_DATA")
    base = Path(override) if override else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    return base / "cmrc2018" / "trial.json"


def test_a_cmrc2018_question_gets_the_chinese_template():
    import json

    path = _cmrc_trial()
    if not path.is_file():
        pytest.skip(f"{path} not present")
    article = json.loads(path.read_text(encoding="utf-8"))["data"][0]
    paragraph = article["paragraphs"][0]
    question = paragraph["qas"][0]["question"]
    assert script_language(question) == "zh"
    context = passage(1, paragraph["context"][:300])
    prompt = build_prompt(question, [context], [], count_tokens=count, budget=2000, language=script_language(question))
    assert prompt.language == "zh"
    assert prompt.messages[0]["content"].startswith("你是 Lore") and ABSTENTIONS["zh"] in prompt.messages[0]["content"]
    assert prompt.messages[1]["content"].startswith("资料：") and prompt.messages[1]["content"].endswith("问题：" + question)


def test_facts_sharing_a_relation_and_an_end_are_one_line_and_a_group_too_long_keeps_what_fits():
    passages = [passage(1, "TTS contains 18F, Solutions and the Centers of Excellence.")]
    parts = ["18F", "Solutions", "Centers of Excellence", "Presidential Innovation Fellows"]
    facts = [Fact(subject=p, predicate="PART_OF", object="TTS", chunk_ids=("chk_1",)) for p in parts]
    facts.append(Fact(subject="TTS", predicate="USES", object="Airtable", chunk_ids=("chk_9",)))
    user = build_prompt("Which offices does TTS contain?", passages, facts, count_tokens=count,
                        budget=5000).messages[1]["content"]
    assert "- 18F, Solutions, Centers of Excellence, Presidential Innovation Fellows part of TTS [1]\n" in user
    assert "- TTS uses Airtable\n" in user

    # Under any budget the group shows its first members, in order; some budgets show only part of it.
    partial = False
    fixed = build_prompt("Which offices does TTS contain?", [], [], count_tokens=count, budget=5000).tokens
    for budget in range(fixed, fixed + 270, 5):  # from the fixed parts (system text, question) up
        tight = build_prompt("Which offices does TTS contain?", passages, facts, count_tokens=count, budget=budget)
        shown = [f.subject for f in tight.facts if f.predicate == "PART_OF"]
        assert shown == parts[: len(shown)] and tight.tokens <= budget
        partial = partial or 0 < len(shown) < len(parts)
    assert partial
