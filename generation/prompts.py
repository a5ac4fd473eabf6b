"""Prompt assembly: numbered sources and graph facts fitted into a token budget, question last.

Sources are either the best sentences of the retrieved passages (``units="sentences"``, see
``generation.selection``: each sentence numbered, so citations point at sentences) or whole
passages in rank order (``units="passages"``).

The budget is measured with the backend's own ``count_tokens`` (the model
tokenizer for local models), so "fits" means fits for the model that will read it.
What does not fit goes in rank order: the lowest-ranked passages are dropped
first, then the last one kept is cut short; facts get a share of the budget
(a quarter at most) so graph knowledge is not always crowded out by long passages.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from core.protocols import Embedder

from core.types import Fact, Passage
from generation.backends.base import Message
from generation.selection import is_sentence, render_sentences, select_facts, select_sentences

TokenCounter = Callable[[str], int]
PromptUnits = Literal["sentences", "passages"]

# Chat templates wrap each message in role markers and append the assistant
# header: tokens that count_tokens on the contents never sees. ChatML (SmolLM2,
# Qwen) needs 13 for two messages; backends that can measure their own template
# say so via ``chat_overhead_tokens`` (see Answerer).
TEMPLATE_OVERHEAD_TOKENS = 16
# A passage cut shorter than this says too little to be worth a source number.
MIN_TRUNCATED_TOKENS = 24
# Facts may take at most this share of the budget left after the fixed parts.
# Facts reach the prompt only when they speak to what is asked (select_facts), and a fact line says
# in a dozen tokens what a sentence says in thirty.
FACT_BUDGET_SHARE = 0.4
TRUNCATION_MARK = " …"

ABSTENTIONS: dict[str, str] = {
    "en": "I don't know based on the available documents.",
    "zh": "根据现有文档，我不知道。",
}


@dataclass(frozen=True)
class PromptTemplate:
    system: str
    sources_header: str
    no_sources: str
    facts_header: str
    question_label: str


TEMPLATES: dict[str, PromptTemplate] = {
    "en": PromptTemplate(
        system=(
            "You are Lore, a company knowledge base assistant. Answer the question using only the numbered "
            "sources and the knowledge graph facts in the user's message; do not use outside knowledge. "
            "After each statement, cite the sources that support it by number in square brackets, "
            "like [1] or [2][3]. If the sources do not contain the answer, reply with exactly this sentence "
            f"and nothing else: {ABSTENTIONS['en']}"
        ),
        sources_header="Sources:",
        no_sources="(no sources found)",
        facts_header="Knowledge graph facts:",
        question_label="Question: ",
    ),
    "zh": PromptTemplate(
        system=(
            "你是 Lore，公司知识库的问答助手。只能根据用户消息中带编号的资料和知识图谱事实回答问题，"
            "不要使用资料以外的知识，并用中文回答。每个陈述后面用方括号标注支持它的资料编号，"
            f"例如 [1] 或 [2][3]。如果资料中没有答案，只回复这一句话：{ABSTENTIONS['zh']}"
        ),
        sources_header="资料：",
        no_sources="（没有找到资料）",
        facts_header="知识图谱事实：",
        question_label="问题：",
    ),
}


@dataclass(frozen=True)
class Prompt:
    """Chat messages for the model and the sources they number: ``sources[i]`` is cited as ``[i + 1]``.

    A source cut to fit the budget is a copy whose text (and ``end`` offset, when
    the offsets span the text) covers only what the model was shown.
    """

    messages: list[Message]
    sources: list[Passage]
    facts: list[Fact] = field(default_factory=list)
    language: str = "en"
    tokens: int = 0  # counted prompt size, template overhead included


def build_prompt(
    question: str,
    passages: Sequence[Passage],
    facts: Sequence[Fact],
    *,
    count_tokens: TokenCounter,
    budget: int,
    language: str = "en",
    overhead: int = TEMPLATE_OVERHEAD_TOKENS,
    units: PromptUnits = "passages",
    embedder: Embedder | None = None,
) -> Prompt:
    """Fit ``passages`` (best first) and ``facts`` around ``question`` in ``budget`` tokens.

    If the instructions and the question alone exceed the budget, the prompt holds
    no sources and exceeds the budget; callers cap question length. ``overhead``
    is what the chat template adds around the message contents. With ``units="sentences"``
    the sources are the passages' best sentences, scored with ``embedder`` when given.
    """
    if language not in TEMPLATES:
        raise ValueError(f"no prompt template for language {language!r}; have {sorted(TEMPLATES)}")
    template = TEMPLATES[language]
    question = question.strip()
    candidates = _dedupe_passages(passages)
    fact_list = _dedupe_facts(select_facts(question, facts) if units == "sentences" else facts)

    fixed = (
        count_tokens(template.system)
        + count_tokens(f"{template.sources_header}\n\n{template.question_label}{question}")
        + overhead
    )
    available = max(0, budget - fixed)
    if fact_list:
        # Reference numbers are unknown until sources are chosen: estimate with two
        # per fact. Same line layout and separators as _fit_facts.
        fact_need = (
            count_tokens(template.facts_header) + 2 + sum(count_tokens(f"- {f.render()} [1][2]") + 1 for f in fact_list)
        )
        fact_reserve = min(fact_need, int(available * FACT_BUDGET_SHARE))
    else:
        fact_reserve = 0

    originals = {passage.chunk_id: passage for passage in candidates}
    if units == "sentences":
        sources = select_sentences(question, candidates, count_tokens=count_tokens,
                                   budget=available - fact_reserve, embedder=embedder)
        used = sum(count_tokens(block) + 1 for block in render_sentences(sources))
    else:
        sources, used = _fit_sources(candidates, count_tokens, available - fact_reserve)
    fact_lines = _fit_facts(fact_list, sources, count_tokens, available - used, template)

    # Token counts of parts do not add up exactly to the count of the joined text
    # (merges across boundaries), so check the real total and give back what overflows.
    while True:
        messages = _messages(template, question, sources, [line for _, line in fact_lines])
        total = sum(count_tokens(m["content"]) for m in messages) + overhead
        overflow = total - budget
        if overflow <= 0:
            break
        # The overflow is usually a few tokens: shave them off the last source when
        # it stays useful, rather than lose a whole fact or passage.
        keep = count_tokens(sources[-1].text) - overflow - 4 if sources else 0
        if keep >= MIN_TRUNCATED_TOKENS and not is_sentence(sources[-1]):  # cut the original again, not the cut copy
            sources[-1] = _truncate_passage(originals[sources[-1].chunk_id], keep, count_tokens)
        elif fact_lines:
            fact_lines.pop()
        elif sources:
            sources.pop()
        else:
            break  # only the fixed parts are left
    return Prompt(
        messages=messages,
        sources=sources,
        facts=[fact for group, _ in fact_lines for fact in group],
        language=language,
        tokens=total,
    )


# ------------------------------------------------------------------ pieces
def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def _dedupe_passages(passages: Sequence[Passage]) -> list[Passage]:
    # Hybrid retrieval returns the same chunk from several retrievers, and
    # re-ingested copies of a file repeat text under new ids: number each once.
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    unique = []
    for passage in passages:
        key = _normalise(passage.text)
        if passage.chunk_id in seen_ids or key in seen_texts or not key:
            continue
        seen_ids.add(passage.chunk_id)
        seen_texts.add(key)
        unique.append(passage)
    return unique


def _dedupe_facts(facts: Sequence[Fact]) -> list[Fact]:
    seen: set[str] = set()
    unique = []
    for fact in facts:
        key = _normalise(fact.render())
        if key not in seen:
            seen.add(key)
            unique.append(fact)
    return unique


def _source_heading(number: int, passage: Passage) -> str:
    label = (
        f"{passage.title} ({passage.source})" if passage.title and passage.title != passage.source else passage.source
    )
    return f"[{number}] {label}"


def _source_block(number: int, passage: Passage) -> str:
    return f"{_source_heading(number, passage)}\n{passage.text.strip()}"


def _fit_sources(candidates: list[Passage], count_tokens: TokenCounter, room: int) -> tuple[list[Passage], int]:
    sources: list[Passage] = []
    used = 0
    for passage in candidates:
        number = len(sources) + 1
        cost = count_tokens(_source_block(number, passage)) + 1  # +1: the blank line between blocks
        if used + cost <= room:
            sources.append(passage)
            used += cost
            continue
        # The first passage that does not fit is cut to the room left; everything
        # ranked below it is dropped.
        text_room = room - used - count_tokens(_source_heading(number, passage)) - 2
        if text_room >= MIN_TRUNCATED_TOKENS:
            cut = _truncate_passage(passage, text_room, count_tokens)
            sources.append(cut)
            used += count_tokens(_source_block(number, cut)) + 1
        break
    return sources, used


def _fact_refs(fact: Fact, numbers: dict[str, int]) -> str:
    cited = sorted({numbers[chunk_id] for chunk_id in fact.chunk_ids if chunk_id in numbers})
    return "".join(f"[{n}]" for n in cited)


def fact_groups(facts: Sequence[Fact]) -> list[list[Fact]]:
    """Facts that share their relation and one end, each group where its first member stood: a list
    question ("Which offices does TTS contain?") is answered by one line, ``18F, Solutions, Centers
    of Excellence part of TTS``, in a third of the tokens of three."""
    by_object: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    by_subject: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for fact in facts:
        by_object[(fact.predicate, fact.object)].append(fact)
    for fact in facts:
        if len(by_object[(fact.predicate, fact.object)]) == 1:
            by_subject[(fact.subject, fact.predicate)].append(fact)
    groups: dict[tuple[str, str, str], list[Fact]] = {}
    for fact in facts:
        if len(by_object[(fact.predicate, fact.object)]) > 1:
            groups.setdefault(("object", fact.predicate, fact.object), by_object[(fact.predicate, fact.object)])
        else:
            groups.setdefault(("subject", fact.subject, fact.predicate), by_subject[(fact.subject, fact.predicate)])
    return list(groups.values())


def _group_line(group: Sequence[Fact], numbers: dict[str, int]) -> str:
    first = group[0]
    if all(fact.object == first.object for fact in group):
        shown = first.model_copy(update={"subject": ", ".join(dict.fromkeys(f.subject for f in group))})
    else:
        shown = first.model_copy(update={"object": ", ".join(dict.fromkeys(f.object for f in group))})
    refs = _fact_refs(shown.model_copy(update={"chunk_ids": tuple(c for fact in group for c in fact.chunk_ids)}), numbers)
    return f"- {shown.render()}" + (f" {refs}" if refs else "")


def _fit_facts(
    facts: list[Fact], sources: list[Passage], count_tokens: TokenCounter, room: int, template: PromptTemplate
) -> list[tuple[list[Fact], str]]:
    """(facts, line) for each group of facts that fits ``room``; a group that does not fit keeps the members that do."""
    if not facts:
        return []
    numbers = {passage.chunk_id: i + 1 for i, passage in enumerate(sources)}
    used = count_tokens(template.facts_header) + 2
    lines: list[tuple[list[Fact], str]] = []
    for group in fact_groups(facts):
        for size in range(len(group), 0, -1):
            line = _group_line(group[:size], numbers)
            cost = count_tokens(line) + 1
            if used + cost <= room:
                lines.append((group[:size], line))
                used += cost
                break
    return lines


def _messages(template: PromptTemplate, question: str, sources: list[Passage], fact_lines: list[str]) -> list[Message]:
    parts = [template.sources_header]
    if sources and is_sentence(sources[0]):
        parts.extend(render_sentences(sources))
    elif sources:
        parts.extend(_source_block(i + 1, passage) for i, passage in enumerate(sources))
    else:
        parts.append(template.no_sources)
    if fact_lines:
        parts.append(template.facts_header + "\n" + "\n".join(fact_lines))
    # The question goes last: small models answer what they read most recently.
    parts.append(f"{template.question_label}{question}")
    return [{"role": "system", "content": template.system}, {"role": "user", "content": "\n\n".join(parts)}]


def truncate_to_tokens(text: str, max_tokens: int, count_tokens: TokenCounter, mark: str = TRUNCATION_MARK) -> str:
    """The longest prefix of ``text`` that, with ``mark`` appended, counts at most ``max_tokens``.

    Works with any counter (no decode needed): binary search over character
    positions, then back off to a word boundary when one is near.
    """
    if count_tokens(text) <= max_tokens:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(text[:middle] + mark) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    prefix = text[:low]
    space = prefix.rfind(" ", max(0, low - 40))
    if space > 0:  # Latin text: do not end mid-word. CJK text has no spaces and cuts anywhere.
        prefix = prefix[:space]
    return prefix.rstrip() + mark if prefix.strip() else ""


def _truncate_passage(passage: Passage, max_tokens: int, count_tokens: TokenCounter) -> Passage:
    text = passage.text.strip()
    cut = truncate_to_tokens(text, max_tokens, count_tokens)
    kept = cut[: -len(TRUNCATION_MARK)] if cut.endswith(TRUNCATION_MARK) else cut
    update: dict[str, object] = {"text": cut, "metadata": {**passage.metadata, "truncated": True}}
    # Offsets locate the chunk in its document; narrow them to what the model saw
    # when they span exactly this text.
    if passage.end - passage.start == len(passage.text) and passage.text.startswith(kept):
        update["end"] = passage.start + len(kept)
    return passage.model_copy(update=update)
