"""Training data from the knowledge base itself, in the spirit of RAFT (Zhang et al., 2024).

Question/answer pairs come from ``generation.finetune.questions`` (graph facts, chunk
sentences, an LLM, a user's file). Each pair becomes a training example the way serving would see it: the question is
run through the real retrieval, the oracle chunk (the one the answer comes from)
is put at a seeded position among the retrieved distractors, and the prompt is
built by the same ``Answerer.prepare`` that answers questions. The target of a
generated question is a sentence that states the answer (the source sentence, short
enough to be a reply, or a fact stated from its template), a user's line its own answer,
citing the oracle's number where its first sentence ends: a whole sentence reads like the
answers people expect, and the 135M default model taught bare spans learned to answer with
whichever name the question mentions.
A small share of examples has the oracle taken out; their target is the abstention
sentence, which teaches the model to say so.
Everything is seeded: the same knowledge base and settings give the same examples.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.types import Fact, Passage
from generation.backends.base import Message
from generation.metrics import normalize_answer
from core.language import script_language
from generation.prompts import ABSTENTIONS, Prompt


from generation.finetune.questions import QAPair

SearchFn = Callable[[str, int], tuple[list[Passage], list[Fact]]]
PrepareFn = Callable[..., Prompt]


@dataclass(frozen=True)
class Example:
    """One training or evaluation example: the chat prompt as served and the target reply."""

    id: str
    question: str
    answer: str  # the short gold answer, no citation marker
    target: str  # what the model is taught to write
    messages: list[Message]
    source_count: int
    oracle: int | None  # 1-based number of the oracle source; None when it was taken out
    oracle_chunk_id: str
    origin: str
    language: str
    split: str = "train"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return self.oracle is not None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Example:
        return cls(**json.loads(line))


@dataclass
class BuildReport:
    examples: list[Example]
    skipped: list[str] = field(default_factory=list)  # "question: reason"


class RaftBuilder:
    """Turns ``QAPair``s into served-prompt examples with distractors, oracle citations and abstentions."""

    def __init__(
        self,
        search: SearchFn,
        prepare: PrepareFn,
        passages_by_id: Callable[[Sequence[str]], dict[str, Passage]],
        passages_of_source: Callable[[str], list[Passage]],
        *,
        distractors: int = 3,
        unanswerable_share: float = 0.05,
        seed: int = 13,
    ) -> None:
        self.search = search
        self.prepare = prepare
        self.passages_by_id = passages_by_id
        self.passages_of_source = passages_of_source
        self.distractors = distractors
        self.unanswerable_share = unanswerable_share
        self.seed = seed

    def build(self, pairs: Iterable[QAPair]) -> BuildReport:
        report = BuildReport(examples=[])
        seen: set[str] = set()
        for pair in pairs:
            key = normalize_answer(pair.question)
            if key in seen:
                continue
            seen.add(key)
            try:
                example = self._example(pair)
            except _Skip as reason:
                report.skipped.append(f"{pair.question}: {reason}")
                continue
            report.examples.append(example)
        return report

    def _oracle(self, pair: QAPair, retrieved: list[Passage]) -> Passage:
        answer = normalize_answer(pair.answer)
        if pair.chunk_id:
            found = self.passages_by_id([pair.chunk_id]).get(pair.chunk_id)
            if found is None:
                raise _Skip(f"chunk {pair.chunk_id} is not in the knowledge base")
            return found
        candidates = self.passages_of_source(pair.source) if pair.source else retrieved
        if pair.source and not candidates:
            raise _Skip(f"no ingested document matches source {pair.source!r}")
        for passage in candidates:
            if answer and answer in normalize_answer(passage.text):
                return passage
        if pair.origin == "user" and candidates:
            # A user's answer may paraphrase the text: the best-ranked candidate is the oracle.
            ranked = [p for p in retrieved if p.chunk_id in {c.chunk_id for c in candidates}]
            return (ranked or candidates)[0]
        raise _Skip("no passage contains the answer")

    def _example(self, pair: QAPair) -> Example:
        rng = random.Random(f"{self.seed}:{pair.question}")
        language = script_language(pair.question)
        passages, facts = self.search(pair.question, self.distractors + 2)
        oracle = self._oracle(pair, passages)
        answer_key = normalize_answer(pair.answer)
        # A user's answer may paraphrase its passage; then the oracle only has to be shown.
        shown_key = answer_key if answer_key in normalize_answer(oracle.text) else ""
        # Distractors never contain the answer: an "unanswerable" prompt must really be.
        distractors = [
            p for p in passages if p.chunk_id != oracle.chunk_id and answer_key not in normalize_answer(p.text)
        ][: self.distractors]
        # The answerable prompt is built first even when the example becomes unanswerable: a
        # question whose oracle cannot fit is skipped either way, or skipped questions would
        # raise the share of abstentions above ``unanswerable_share``.
        shown = list(distractors)
        shown.insert(rng.randint(0, len(shown)), oracle)
        prompt = self.prepare(pair.question, shown, facts, language=language)
        number = _number_of(prompt, oracle.chunk_id, shown_key)
        if number is None:  # cut by the budget: lead with it instead
            shown.remove(oracle)
            prompt = self.prepare(pair.question, [oracle, *shown], facts, language=language)
            number = _number_of(prompt, oracle.chunk_id, shown_key)
        if number is None:
            raise _Skip("the oracle passage does not fit the prompt budget")
        target = cite(pair.statement or pair.answer, number, language)
        if distractors and rng.random() < self.unanswerable_share:
            facts = [
                f for f in facts if answer_key not in normalize_answer(f.render()) and oracle.chunk_id not in f.chunk_ids
            ]
            prompt = self.prepare(pair.question, distractors, facts, language=language)
            number = None
            target = ABSTENTIONS[language]
        digest = hashlib.sha256(f"{pair.question}\x1f{pair.answer}\x1f{oracle.chunk_id}".encode()).hexdigest()[:16]
        return Example(
            id=f"ex_{digest}",
            question=pair.question,
            answer=pair.answer,
            target=target,
            messages=prompt.messages,
            source_count=len(prompt.sources),
            oracle=number,
            oracle_chunk_id=oracle.chunk_id,
            origin=pair.origin,
            language=language,
            metadata={"oracle_source": oracle.source, "sources": [p.chunk_id for p in prompt.sources]},
        )


class _Skip(Exception):
    pass


# Where an answer's first sentence ends: after ./!/? and a space, or after a Chinese full stop.
_STOPS = tuple(".!?。！？")
_FIRST_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？])(?=.)", re.DOTALL)


def cite(answer: str, number: int, language: str) -> str:
    """The target text: ``answer`` citing source ``number`` where its first sentence ends.

    A short answer ends with the marker ("22 days [2]"). A longer one is cited at the end of
    its first sentence, as inline citations are written, so a reply cut by the token limit
    (or a model that learned to stop early) still names its source.
    """
    separator = "" if language == "zh" else " "
    marker = f"[{number}]"
    end = _FIRST_SENTENCE_END.search(answer)
    cut = end.start() if end else len(answer)
    first, rest = answer[:cut], answer[cut:]
    if first[-1:] in _STOPS:  # the marker goes inside the sentence: "... Camille [2]."
        return f"{first[:-1]}{separator}{marker}{first[-1]}{rest}"
    return f"{first}{separator}{marker}{rest}"


def _number_of(prompt: Prompt, chunk_id: str, answer_key: str) -> int | None:
    """The oracle's number in the prompt, if it is there and still shows the answer (it may have been cut)."""
    for i, passage in enumerate(prompt.sources, 1):
        if passage.chunk_id == chunk_id and answer_key in normalize_answer(passage.text):
            return i
    return None


def split_examples(
    examples: Sequence[Example], *, validation_share: float, seed: int, train_abstentions: bool = False
) -> list[Example]:
    """Assign a seeded held-out share to "validation" (at least one example when there are two or more).

    Unless ``train_abstentions``, every abstaining example is held out as well (when answerable ones
    are left to train on): it then only measures abstention. Trained on, a few percent of them made
    the 135M default model refuse answerable questions, while abstention on questions the knowledge
    base cannot answer came from the relevance cut-off either way (docs/finetuning.md).
    """
    hold_abstentions = not train_abstentions and any(e.answerable for e in examples)
    order = sorted((e for e in examples if e.answerable or not hold_abstentions), key=lambda e: e.id)
    random.Random(seed).shuffle(order)
    held = min(len(order) - 1, max(1, round(len(order) * validation_share))) if len(order) > 1 else 0
    held_ids = {e.id for e in order[:held]}
    held_ids |= {e.id for e in examples if hold_abstentions and not e.answerable}
    return [_with_split(e, "validation" if e.id in held_ids else "train") for e in examples]


def _with_split(example: Example, split: str) -> Example:
    return Example(**{**asdict(example), "split": split})


def data_hash(examples: Sequence[Example]) -> str:
    """A digest of the examples (prompts, targets, splits): the manifest records which data made an adapter."""
    digest = hashlib.sha256()
    for example in sorted(examples, key=lambda e: e.id):
        digest.update(example.to_json().encode())
    return digest.hexdigest()


def write_jsonl(examples: Iterable[Example], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(e.to_json() + "\n" for e in examples), encoding="utf-8")


def read_jsonl(path: Path) -> list[Example]:
    return [Example.from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
