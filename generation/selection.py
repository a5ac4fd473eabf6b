"""Sentence selection: only the sentences of the retrieved passages that bear on the question.

A small model on a laptop CPU reads its prompt at a few dozen tokens a second, so every sentence
shown costs latency, and long passages bury the answer. Each retrieved passage is split into
sentences; each sentence is scored against the question with the words they share (weighted by
how rare a word is among the candidates) and, when an embedder is given, the cosine of their
embeddings, read together with the heading the sentence stands under. The best sentences are
kept within a token budget and shown grouped by passage, in document order, each with its own
number: a citation then points at one sentence, with its chunk and character offsets.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.markdown import heading_path, headings
from core.protocols import Embedder
from core.sentences import sentence_spans
from core.types import Fact, Passage
from core.vocabulary import NUMBER_WORDS, RELATION_QUESTION_WORDS, asks_through_a_relation

TokenCounter = Callable[[str], int]

# Weights of the two similarity signals, and of the retrieval rank as a tie-breaker: the
# retriever already judged the whole passage, a sentence from a better passage is a better bet.
LEXICAL_WEIGHT = 0.5
DENSE_WEIGHT = 0.5
RANK_WEIGHT = 0.1
# Bonus for a sentence that holds the kind of thing the question asks for (a duration for "how
# long", a number for "how much", a date for "when"): small models read the topic's sentences
# and miss the one with the figure.
ANSWER_TYPE_WEIGHT = 0.15
# How much a sentence's word overlap with the sentences already chosen counts against it
# (maximal marginal relevance): five near-copies of the topic sentence leave no room for the answer.
REDUNDANCY_WEIGHT = 0.3
# Share of the previous sentence's similarity a sentence inherits.
NEIGHBOUR_WEIGHT = 0.5
# Sentences scoring below this share of the best one say little about the question; leaving them
# out keeps the prompt (and the wait for the first token) short.
RELATIVE_FLOOR = 0.4
# More candidates than this are not embedded: the tail of a long retrieval list rarely holds the
# answer and each costs encoder time.
MAX_CANDIDATES = 160
# No sentence line costs less than this: once less budget is left, selection is done.
MIN_LINE_TOKENS = 6
# A candidate needs this many words to say anything (a lone "Overview." does not).
MIN_WORDS = 3

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset(
    "a an the of to in on at for by with from and or but is are was were be been being has have had do does did "
    "it its this that these those as not no so if then than which who whom whose what when where why how i you "
    "he she we they them his her their our your my me us can could would should will may might must about into "
    "over under after before also there here all any each some such only just very much many long get".split()
)
# Markup that costs tokens and tells the model nothing: links keep their text, templates and tags go.
_MARKUP = [
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)"), r"\1"),
    (re.compile(r"\{%.*?%\}|\{\{.*?\}\}"), ""),
    (re.compile(r"<[^>]+>"), ""),
    (re.compile(r"(\*\*|__|`)"), ""),
    (re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+"), ""),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!=])"), r"\1"),
    (re.compile(r"\s+"), " "),
]
# What the question asks for, and what a sentence answering it holds: a duration, an amount, a date.
_DURATION_ASKED = re.compile(r"\bhow (?:long|soon|quickly|often|far ahead|many (?:weeks|days|hours|months|years|minutes))\b"
                             r"|\bwhen does .* (?:expire|end)|\bwhat length\b", re.IGNORECASE)
_AMOUNT_ASKED = re.compile(r"\bhow (?:much|many)\b|\b(?:what|which) (?:is the )?(?:max|maximum|min|minimum|cap|limit|most|"
                           r"longest|shortest|rate|percentage|salary|amount|number|budget|cost|price)\b|\babove what\b|"
                           r"\bwhat is the (?:cap|most|longest|maximum)\b|\bwhat (?:will|do|does|did|would|should) [^?]{0,60}\b(?:pay|cost|charge|spend|earn)\b",
                           re.IGNORECASE)
_DATE_ASKED = re.compile(r"\b(?:when|what year|which year|what date|in what year)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|half)\b", re.IGNORECASE)
_TIME_UNIT = re.compile(r"\b(?:minutes?|hours?|days?|weeks?|months?|years?|pay periods?|weekly|daily|monthly|annually|"
                        r"yearly|every)\b", re.IGNORECASE)
_DATE = re.compile(r"\b(?:1[89]|20)\d\d\b|\b(?:january|february|march|april|may|june|july|august|september|october|"
                   r"november|december)\b", re.IGNORECASE)
_FENCE = re.compile(r"^[ \t]*(?:```|~~~)[ \t]*(\S*)[^\n]*$", re.MULTILINE)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_HEADING_LINE = re.compile(r"^#{1,6}\s")
_TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|[\s:|-]*$")
# A bold label opening a list item or paragraph ("2. **Staged rollout.** Each release goes to 1% ..."):
# a heading for the rest of its line, which it names.
_LEAD_IN = re.compile(r"^\s*(?:(?:[-*+•]|\d+[.)])\s+)?(\*\*|__)(?P<label>[^*_\n]+?)\1\s*$")


@dataclass(frozen=True)
class Candidate:
    """One sentence of a retrieved passage: where it is, what the model would read, what it stands under."""

    rank: int  # the passage's retrieval rank, 0 = best
    passage: Passage
    start: int  # offsets into passage.text
    end: int
    text: str  # the sentence without markup
    context: str  # the headings in force at the sentence, "Leave types › Sick leave"


def plain(text: str) -> str:
    """``text`` without Markdown links, emphasis, templates, HTML tags or list bullets."""
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    return text.strip()


def candidates(passages: Sequence[Passage]) -> list[Candidate]:
    """The sentences of ``passages`` (best first) worth scoring, headings and table rules left out."""
    found: list[Candidate] = []
    for rank, passage in enumerate(passages):
        text = passage.text
        skip = match.end() if (match := _FRONT_MATTER.match(text)) else 0
        code = _code_blocks(text)
        inner = headings(text)
        outer = [str(h) for h in passage.metadata.get("heading_path", []) or []]
        label, label_ends = "", 0
        for start, end in sentence_spans(text):
            if start < skip or any(low <= start < high for low, high in code):
                continue  # front matter and code blocks are not prose to answer from
            raw = text[start:end]
            if _HEADING_LINE.match(raw) or _TABLE_RULE.match(raw):
                continue
            line_end = text.find("\n", end)
            line_end = len(text) if line_end < 0 else line_end
            if (lead_in := _LEAD_IN.match(raw)) and text[end:line_end].strip():
                # The label heads the sentences after it on its line, as a heading would: read
                # alone, "Each release goes to 1% ..." does not say it describes a staged rollout.
                label, label_ends = plain(lead_in["label"]).rstrip(".:;"), line_end
                continue
            shown = plain(raw)
            if len(_WORD.findall(shown)) < MIN_WORDS and not _has_cjk(shown):
                continue
            path = [plain(p) for p in outer + [h.text for h in heading_path(inner, start)]]
            path += [label] if start < label_ends else []
            context = " › ".join(list(dict.fromkeys(p for p in path if p and p != passage.title))[-2:])
            found.append(Candidate(rank, passage, start, end, shown, context))
            if len(found) >= MAX_CANDIDATES:
                return found
    return found


def _code_blocks(text: str) -> list[tuple[int, int]]:
    """Spans of fenced code. A chunk may begin inside a block: a bare first fence that no
    "…command:" line introduces closes that block rather than opening one."""
    blocks, opened = [], None
    for number, fence in enumerate(_FENCE.finditer(text)):
        if opened is None:
            before = text[: fence.start()].rstrip()
            if number == 0 and not fence.group(1) and before and not before.endswith(":"):
                blocks.append((0, fence.end()))
                continue
            opened = fence.start()
        else:
            blocks.append((opened, fence.end()))
            opened = None
    return blocks


def score(question: str, pool: Sequence[Candidate], embedder: Embedder | None = None) -> list[float]:
    """How much each candidate bears on ``question``, higher is better."""
    if not pool:
        return []
    # A sentence is read under its page title and headings, as the prompt shows it (group_heading):
    # "You are entitled to 12 weeks of paid time off" answers "How long is paid parental leave?"
    # on the page of that title.
    shown = [group_heading(c.passage, c.context) for c in pool]
    documents = [_terms(f"{heading} {c.text}") for heading, c in zip(shown, pool)]
    frequency = Counter(term for terms in documents for term in set(terms))
    weight = {term: math.log(1 + len(pool) / count) for term, count in frequency.items()}
    asked = set(_terms(question))
    total = sum(weight.get(term, math.log(1 + len(pool))) for term in asked) or 1.0
    lexical = [sum(weight[t] for t in asked & set(terms)) / total for terms in documents]
    if embedder is not None:
        vectors = embedder.embed([question] + [f"{heading}: {c.text}" for heading, c in zip(shown, pool)])
        dense = np.clip(vectors[1:] @ vectors[0], 0.0, 1.0).tolist()
        similarity = [LEXICAL_WEIGHT * lx + DENSE_WEIGHT * dn for lx, dn in zip(lexical, dense)]
    else:
        similarity = lexical
    # A sentence goes on from the one before it ("Change the passcode. It must be ..."): it
    # inherits part of what that sentence scores above it, never more, so that the sentence after
    # the answer ("You can request up to 240 hours ... If you are a term employee, ...") does not
    # outrank the answer itself.
    carried = [similarity[i] + (NEIGHBOUR_WEIGHT * max(0.0, similarity[i - 1] - similarity[i])
                                if i and pool[i - 1].passage.chunk_id == c.passage.chunk_id else 0.0)
               for i, c in enumerate(pool)]
    wanted = _answer_type(question)
    return [s + RANK_WEIGHT / (1 + c.rank) + (ANSWER_TYPE_WEIGHT if wanted and wanted(c.text) else 0.0)
            for s, c in zip(carried, pool)]


def _answer_type(question: str) -> Callable[[str], bool] | None:
    """A test for sentences holding what ``question`` asks for, when its form says (English)."""
    if _DURATION_ASKED.search(question):
        return lambda text: bool(_NUMBER.search(text) and _TIME_UNIT.search(text)) or bool(
            re.search(r"\b(?:weekly|daily|monthly|annually)\b", text, re.IGNORECASE))
    if _DATE_ASKED.search(question):
        return lambda text: bool(_DATE.search(text))
    if _AMOUNT_ASKED.search(question):
        return lambda text: bool(_NUMBER.search(text))
    return None


def select_sentences(
    question: str,
    passages: Sequence[Passage],
    *,
    count_tokens: TokenCounter,
    budget: int,
    embedder: Embedder | None = None,
) -> list[Passage]:
    """The best sentences of ``passages`` that fit ``budget`` tokens as rendered by ``render_sentences``.

    Returned in the order they are shown (passage by passage, best passage first, sentences in
    text order); each is a copy of its passage narrowed to the sentence.
    """
    pool = candidates(passages)
    scores = score(question, pool, embedder)
    if not pool:
        return []
    floor = RELATIVE_FLOOR * max(scores)
    terms = [set(_terms(c.text)) for c in pool]
    chosen: list[int] = []
    used = 0
    opened: set[tuple[str, str]] = set()
    left = {i for i in range(len(pool)) if scores[i] >= floor}
    while left and budget - used >= MIN_LINE_TOKENS:
        # Maximal marginal relevance: the best score once overlap with what is chosen is counted against it.
        def marginal(i: int) -> float:
            overlap = max((_jaccard(terms[i], terms[j]) for j in chosen), default=0.0)
            return scores[i] - REDUNDANCY_WEIGHT * overlap

        index = max(sorted(left), key=marginal)
        left.discard(index)
        candidate = pool[index]
        cost = count_tokens(f"[{len(chosen) + 1}] {candidate.text}") + 1
        if _block(candidate.passage, candidate.context) not in opened:
            cost += count_tokens(group_heading(candidate.passage, candidate.context)) + 1
        if used + cost > budget:
            continue  # a shorter sentence further down may still fit
        chosen.append(index)
        used += cost
        opened.add(_block(candidate.passage, candidate.context))
    return [_narrow(c) for c in sorted((pool[i] for i in chosen), key=lambda c: (c.rank, c.start))]


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0




# Co-occurrence says two names appear together, which no answer can be built on.
UNINFORMATIVE_PREDICATES = frozenset({"MENTIONED_WITH"})


def select_facts(question: str, facts: Sequence[Fact]) -> list[Fact]:
    """The graph facts that speak to what ``question`` asks (:func:`fact_answers`), best first;
    co-mentions left out. A fact that only names the same entity misleads a small model: "How long
    is paid parental leave?" answered "It depends on FMLA" from ``Paid Parental Leave depends on FMLA``."""
    asked = set(_terms(question))
    scored = []
    for index, fact in enumerate(facts):
        if not fact_answers(question, fact):
            continue
        overlap = len(asked & set(_terms(fact.render())))
        if overlap:
            # A fact that names both ends the question names restates it; the answer is the one
            # whose other end it does not ("Which part of GSA does TTS belong to?").
            restated = all(end and end <= asked for end in (set(_terms(fact.subject)), set(_terms(fact.object))))
            scored.append((restated, -overlap, index, fact))
    chosen = [fact for *_, fact in sorted(scored, key=lambda item: item[:3])]
    return chosen + _bridged(question, facts, chosen) if asks_through_a_relation(question) else chosen


def _bridged(question: str, facts: Sequence[Fact], chosen: Sequence[Fact]) -> list[Fact]:
    """Facts one step beyond the chosen ones that answer a question naming its subject through a
    relation: for "Who manages the person who leads the Platform Team?", ``Rahul Menon leads
    Platform Team`` is chosen, and ``Rahul Menon reports to Tomasz Wierzbicki`` names nothing the
    question names but shares an end with it and asks with its relation's word ("manages")."""
    ends = {name for fact in chosen for name in (fact.subject, fact.object)}
    # The question's words beyond the names it reaches ("team" of "Platform Team" asks nothing).
    asked = set(_terms(question)) - {term for name in ends for term in _terms(name)}
    return [fact for fact in facts
            if fact not in chosen and fact.predicate.upper() not in UNINFORMATIVE_PREDICATES
            and {fact.subject, fact.object} & ends and asked & _question_words(fact.predicate.upper())]


def fact_answers(question: str, fact: Fact) -> bool:
    """Whether ``fact`` speaks to what ``question`` asks about the entity it names: beyond that
    entity's name, the question shares a word with the fact or asks with one of its relation's
    words ("Which office is Camille Dufresne based in?" and ``Camille Dufresne located in Leeds
    Office``; "Which offices does TTS contain?" and ``Solutions part of TTS``; not "What is Camille
    Dufresne's salary?")."""
    predicate = fact.predicate.upper()
    if predicate in UNINFORMATIVE_PREDICATES:
        return False
    asked = set(_terms(question))
    ends = [set(_terms(fact.subject)), set(_terms(fact.object))]
    named = [end for end in ends if end & asked]
    if not named:
        return False
    rest = asked - set().union(*named)
    said = set(_terms(fact.render())) | _question_words(predicate)
    return bool(rest & said)


@functools.cache
def _question_words(predicate: str) -> frozenset[str]:
    return frozenset(_terms(" ".join(RELATION_QUESTION_WORDS.get(predicate, ()))))


def group_heading(passage: Passage, context: str = "") -> str:
    """The line above a passage's sentences: its title and the headings they stand under."""
    title = passage.title or passage.source.rsplit("/", 1)[-1]
    return f"{title} › {context}" if context and context != title else title


def render_sentences(sources: Sequence[Passage]) -> list[str]:
    """Prompt blocks for selected sentences: a heading line per passage, then "[n] sentence" lines."""
    blocks: list[list[str]] = []
    previous = None
    for number, sentence in enumerate(sources, 1):
        context = sentence.metadata.get("context", "")
        if _block(sentence, context) != previous:
            blocks.append([group_heading(sentence, context)])
            previous = _block(sentence, context)
        blocks[-1].append(f"[{number}] {sentence.text}")
    return ["\n".join(block) for block in blocks]


def _block(passage: Passage, context: str) -> tuple[str, str]:
    """What one heading line covers: a passage's sentences under the same headings. A sentence
    under another heading of the same passage gets its own line, so that no sentence is shown
    under a heading it does not stand under."""
    return passage.chunk_id, context


def is_sentence(passage: Passage) -> bool:
    return bool(passage.metadata.get("sentence"))


def _narrow(candidate: Candidate) -> Passage:
    passage = candidate.passage
    # Offsets locate the chunk in its document; move them to the sentence when they span the text.
    spans_text = passage.end - passage.start == len(passage.text)
    start = passage.start + candidate.start if spans_text else passage.start
    end = passage.start + candidate.end if spans_text else passage.end
    metadata = {**passage.metadata, "sentence": True, "context": candidate.context,
                "chunk_start": candidate.start, "chunk_end": candidate.end}
    return passage.model_copy(update={"text": candidate.text, "start": start, "end": end, "metadata": metadata})


def _terms(text: str) -> list[str]:
    terms = []
    for word in _WORD.findall(text.casefold()):
        word = NUMBER_WORDS.get(word, word)
        if word in _STOPWORDS:
            continue
        if _has_cjk(word):
            terms.extend(ch for ch in word if _has_cjk(ch))  # Chinese: characters stand for words
            continue
        # A light stem so "hours"/"hour" and "approved"/"approve" meet; numbers stay as written.
        if len(word) > 4 and not word.isdigit():
            word = re.sub(r"(?:ies|es|s|ed|ing)$", "", word)
        terms.append(word)
    return terms


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)
