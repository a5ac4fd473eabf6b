"""Training data from the knowledge base itself, in the spirit of RAFT (Zhang et al., 2024).

Question/answer pairs come from four places:

- graph facts, through one question template per relation type ("Who leads Y?");
- chunk sentences: a named entity, date or number in a sentence is swapped for a
  question word ("Employees get 22 days of PTO." -> "Employees get how many days of PTO?"),
  and the swapped span is the answer (Chinese sentences: numbers and dates by pattern);
- an LLM asked to write questions about a chunk, when a capable model is configured;
- a user's JSONL file of ``{"question", "answer", "source"?}`` lines.

Each pair becomes a training example the way serving would see it: the question is
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
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from core.types import Fact, Passage
from generation.backends.base import LLMBackend, Message
from generation.metrics import normalize_answer
from generation.minutes.cues import sentences
from core.language import script_language
from generation.prompts import ABSTENTIONS, Prompt


class FactQuestion(NamedTuple):
    """How a relation is asked about and stated: which side is the answer, and the sentence taught
    when no sentence of the chunk names both sides (``plural`` when several answers share a verb)."""

    question: str
    answer_side: str  # "subject" or "object"
    statement: str
    plural: str | None = None


# Relations that do not make a question with one short answer (MENTIONED_WITH) have no entry.
FACT_QUESTIONS: dict[str, FactQuestion] = {
    "LEADS": FactQuestion("Who leads {object}?", "subject", "{subject} leads {object}.", "{subject} lead {object}."),
    "REPORTS_TO": FactQuestion("Who does {subject} report to?", "object", "{subject} reports to {object}."),
    "MEMBER_OF": FactQuestion("Which team is {subject} a member of?", "object", "{subject} is a member of {object}."),
    "OWNS": FactQuestion("Who owns {object}?", "subject", "{subject} owns {object}.", "{subject} own {object}."),
    "WORKS_ON": FactQuestion("Who works on {object}?", "subject", "{subject} works on {object}.", "{subject} work on {object}."),
    "DEPENDS_ON": FactQuestion("What does {subject} depend on?", "object", "{subject} depends on {object}."),
    "PARTNERS_WITH": FactQuestion("Who does {subject} partner with?", "object", "{subject} partners with {object}."),
    "LOCATED_IN": FactQuestion("Where is {subject} located?", "object", "{subject} is located in {object}."),
    "ATTENDED": FactQuestion("Who attended {object}?", "subject", "{subject} attended {object}."),
    "DECIDED": FactQuestion("What did {subject} decide?", "object", "{subject} decided {object}."),
}
# A fact question with more answers than this is a list, not a short answer.
MAX_FACT_ANSWERS = 6

# spaCy entity label -> question phrase that replaces the entity in its sentence.
_WH_BY_LABEL = {
    "PERSON": "who",
    "ORG": "which organisation",
    "GPE": "where",
    "LOC": "where",
    "FAC": "where",
    "DATE": "when",
    "TIME": "what time",
    "MONEY": "how much",
    "PERCENT": "what percentage",
    "CARDINAL": "how many",
    "QUANTITY": "how much",
    "PRODUCT": "which product",
}
# "22 days", "three weeks": spaCy calls these DATE, but they answer "how many ...".
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|twelve)\s+"
                       r"(?P<unit>(?:business |working |calendar )?(?:days?|weeks?|months?|years?|hours?|minutes?))$",
                       re.IGNORECASE)
_MIN_SENTENCE_WORDS, _MAX_SENTENCE_WORDS = 6, 45
# A statement taught as the reply must end, with its citation, inside the default 32-token reply.
_MAX_STATEMENT_WORDS = 20
_ZH_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
_ZH_SPAN = re.compile(r"(?P<num>\d+(?:\.\d+)?)(?P<unit>年|月|日|天|元|万|亿|%|％|个|人|岁|米|公里|小时|分钟|座|所|次|种|家|名|位)")
_ZH_WH = {"年": "哪一年", "月": "几月", "日": "几日"}
_MARKDOWN_NOISE = re.compile(r"^[\s>#*\-\d.)]+")
# Talk as transcribed: markup ({disfmarker}, {vocalsound}), hesitations, stammered repeats ("who
# who"), fillers, and punctuation split off as its own token ("Craig , isn't it"). A question cut
# from such a sentence is unreadable and its answer span is guesswork.
_SPOKEN = re.compile(
    r"\{\w+\}|\b(?:um+|uh+|erm|hmm+|yeah|okay|gonna|mm-hmm)\b|\b(\w+)\s+\1\b|\w\s[,.?!;]", re.IGNORECASE
)
# "I", "you", "we": who speaks is lost once the sentence is a question ("The earliest I can promise is when?").
# Case matters: "US" is a country.
_PERSONAL = re.compile(r"\b(?:I|I'm|I'd|I'll|I've|me|[Mm]y|[Yy]ou|[Yy]ou're|[Yy]our|[Ll]et's|[Ww]e|[Ww]e're|[Ww]e'll|[Ww]e've|[Ww]e'd|us)\b")
# Tree drawings, check boxes and transcript turn markers are layout, not sentences.
_LAYOUT = re.compile(r"[│├└┌┐┘]|\[ \]|[\[(]turns?\b")
# An entity glued to more word ("2026-05-06" tagged "2026", "Skylark's") would leave "when-05-06", "who's".
_GLUED_AFTER = re.compile(r"^(?:[\w-]|['’]s\b)")
# A speaker's or owner's label opening a line ("Lin Wenjie: Hengtai will accept early June."). It is
# left out of question and reply: taught to open replies with one, the model copied transcript lines.
_SPEAKER_LABEL = re.compile(r"(?:[-*] )?[A-Z][\w.'’-]*(?: [A-Z][\w.'’-]*){0,3}: (?=[A-Z0-9])")
# Labels whose answers are names: one written in lower case ("don") is a tagging error.
_NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "PRODUCT"})


@dataclass(frozen=True)
class QAPair:
    """A question with a short answer and, when known, the chunk that states it."""

    question: str
    answer: str
    origin: str  # fact | chunk | llm | user
    chunk_id: str | None = None
    source: str | None = None  # a user's hint: the document the answer is in
    # The reply taught for the question when it is more than the answer: the source
    # sentence that states it ("Employees get 22 days of paid time off.").
    statement: str | None = None


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


# ---------------------------------------------------------------- question sources
def fact_pairs(facts: Iterable[Fact], chunk_text: Callable[[str], str | None]) -> list[QAPair]:
    """Templated questions from graph facts whose answers all appear in one supporting chunk.

    The reply taught is the chunk's sentence naming the answers and the asked entity, else the
    fact stated from its template: never the bare names, whose shape the model would copy.
    """
    grouped: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for fact in facts:
        spec = FACT_QUESTIONS.get(fact.predicate)
        if spec is None or not fact.chunk_ids:
            continue
        asked = fact.object if spec.answer_side == "subject" else fact.subject
        grouped[(fact.predicate, asked)].append(fact)
    pairs = []
    for (predicate, asked), group in sorted(grouped.items()):
        spec = FACT_QUESTIONS[predicate]
        answers = sorted({getattr(f, spec.answer_side) for f in group})
        if len(answers) > MAX_FACT_ANSWERS:
            continue
        shared = set(group[0].chunk_ids).intersection(*(f.chunk_ids for f in group))
        for chunk_id in sorted(shared):
            text = chunk_text(chunk_id) or ""
            if all(a.casefold() in text.casefold() for a in answers):
                sides = {"subject": group[0].subject, "object": group[0].object, spec.answer_side: _join_names(answers)}
                template = spec.plural if spec.plural and len(answers) > 1 else spec.statement
                statement = _statement(text, [*answers, asked]) or template.format(**sides)
                question = spec.question.format(subject=group[0].subject, object=group[0].object)
                pairs.append(QAPair(question, _join_names(answers), "fact", chunk_id, statement=statement))
                break
    return pairs


def _statement(text: str, names: Sequence[str]) -> str | None:
    """The first sentence of ``text`` that names them all, if it is short enough to be a reply.

    A table row names them too, but "| Gareth Pryce | Tomasz Wierzbicki |" is not a reply.
    """
    for sentence in sentences(text):
        if "|" not in sentence and all(n.casefold() in sentence.casefold() for n in names):
            return _as_statement(sentence)
    return None


def _as_statement(sentence: str) -> str | None:
    statement = _clean_line(sentence).rstrip(" ;:")
    if not statement or len(statement.split()) > _MAX_STATEMENT_WORDS:
        return None  # would not end, with its citation, inside a reply: the short answer is taught
    statement = statement if statement.endswith((".", "!", "?")) else statement + "."
    return statement[:1].upper() + statement[1:]


def _join_names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def chunk_pairs(
    chunks: Sequence[tuple[str, str]], nlp: Any | None, *, per_chunk: int, seed: int
) -> list[QAPair]:
    """Extractive questions from sentences of ``(chunk_id, text)`` chunks; at most ``per_chunk`` each.

    English chunks need ``nlp`` (a spaCy pipeline with NER); Chinese chunks use patterns.
    """
    pairs: list[QAPair] = []
    english = [(cid, text) for cid, text in chunks if script_language(text) == "en"]
    chinese = [(cid, text) for cid, text in chunks if script_language(text) == "zh"]
    if english and nlp is not None:
        for (chunk_id, _), doc in zip(english, nlp.pipe(text for _, text in english)):
            candidates = [pair for sentence in doc.sents for pair in _sentence_pairs(sentence, chunk_id)]
            pairs.extend(_pick(candidates, per_chunk, seed, chunk_id))
    for chunk_id, text in chinese:
        candidates = [pair for m in _ZH_SENTENCE.finditer(text) for pair in _zh_sentence_pairs(m.group(0), chunk_id)]
        pairs.extend(_pick(candidates, per_chunk, seed, chunk_id))
    return pairs


def _pick(candidates: list[QAPair], count: int, seed: int, key: str) -> list[QAPair]:
    # Seeded per chunk, so adding a document does not change the questions of the others.
    rng = random.Random(f"{seed}:{key}")
    unique = list({p.question: p for p in candidates}.values())
    return rng.sample(unique, min(count, len(unique)))


def _sentence_pairs(sentence: Any, chunk_id: str) -> list[QAPair]:
    """Questions from one English sentence, each taught with the sentence as its reply.

    A sentence too long to be a reply makes no question: taught as a bare span ("Loomline [1]"),
    the 135M default model learned to answer with whichever name the question mentions.
    """
    text = sentence.text
    if "|" in text or "\n\n" in text.strip() or _SPOKEN.search(text) or _PERSONAL.search(text) or _LAYOUT.search(text):
        return []  # table rows, glued headings, layout and talk make unreadable questions
    words = text.split()
    if not _MIN_SENTENCE_WORDS <= len(words) <= _MAX_SENTENCE_WORDS:
        return []
    pairs = []
    for ent in sentence.ents:
        wh = _WH_BY_LABEL.get(ent.label_)
        answer = ent.text.strip(" .,;:*_")
        if wh is None or len(answer) < 2 or (ent.label_ in _NAME_LABELS and not answer[0].isupper()):
            continue
        duration = _DURATION.match(answer)
        if duration:
            wh = "how many " + duration.group("unit").lower().rstrip("s") + "s"
        start = ent.start_char - sentence.start_char
        end = ent.end_char - sentence.start_char
        if start and text[start - 1] in "$£€¥":  # "$1,150" asked as "how much", not "$how much"
            start -= 1
            answer = text[start] + answer
        if _GLUED_AFTER.match(text[end:]) or text[end:].lstrip().startswith(":"):
            continue  # part of a longer token, or a speaker's label
        # spaCy runs list items together into one "sentence": keep the entity's own line.
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        label = _SPEAKER_LABEL.match(text, line_start)
        if label:
            if label.end() > start:
                continue  # the entity is part of the label ("Project Manager:" tagged "Project")
            line_start = label.end()
        statement = _as_statement(text[line_start:line_end])
        if statement is None:
            continue
        question = _clean_line(text[line_start:start] + wh + text[end:line_end])
        question = question.rstrip(" .;:!") + "?"
        if len(question.split()) >= _MIN_SENTENCE_WORDS:
            pairs.append(QAPair(question[0].upper() + question[1:], answer, "chunk", chunk_id, statement=statement))
    return pairs


def _clean_line(text: str) -> str:
    """A sentence without list bullets, heading marks and Markdown emphasis, on one line."""
    return " ".join(_MARKDOWN_NOISE.sub("", text.replace("**", "").replace("`", "")).split())


def _zh_sentence_pairs(sentence: str, chunk_id: str) -> list[QAPair]:
    sentence = sentence.strip()
    if not 8 <= len(sentence) <= 80:
        return []
    pairs = []
    for m in _ZH_SPAN.finditer(sentence):
        unit = m.group("unit")
        wh = _ZH_WH.get(unit, "多少" + unit)
        question = (sentence[: m.start()] + wh + sentence[m.end() :]).rstrip("。！？!?，, ") + "？"
        statement = sentence.rstrip("。！？!?，, ") + "。"
        pairs.append(QAPair(question, m.group(0), "chunk", chunk_id, statement=statement))
    return pairs


_LLM_PROMPT = (
    "Read the passage and write {count} questions that an employee might ask and that the passage answers. "
    "Each answer must be a short phrase copied exactly from the passage. Use this format:\n"
    "Q: <question>\nA: <answer>\n\nPassage:\n{text}"
)
_QA_LINE = re.compile(r"^\s*Q\s*[:：]\s*(?P<q>.+?)\s*\n\s*A\s*[:：]\s*(?P<a>.+?)\s*$", re.MULTILINE)


def llm_pairs(backend: LLMBackend, chunks: Sequence[tuple[str, str]], *, per_chunk: int, max_new_tokens: int = 200) -> list[QAPair]:
    """Questions written by an LLM; kept only when the answer is found verbatim in the chunk."""
    pairs = []
    for chunk_id, text in chunks:
        reply = backend.generate(
            [{"role": "user", "content": _LLM_PROMPT.format(count=per_chunk, text=text)}], max_new_tokens=max_new_tokens
        )
        for m in _QA_LINE.finditer(reply):
            answer = m.group("a").strip(" .")
            if answer and normalize_answer(answer) in normalize_answer(text):
                pairs.append(QAPair(m.group("q"), answer, "llm", chunk_id))
    return pairs


def load_user_pairs(path: Path) -> tuple[list[QAPair], list[str]]:
    """``{"question", "answer", "source"?}`` lines; bad lines are reported as "file:line: reason" and skipped."""
    pairs: list[QAPair] = []
    errors: list[str] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{path}: cannot read: {exc}"]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            errors.append(f"{path}:{number}: not valid JSON: {exc}")
            continue
        if not isinstance(row, dict):
            errors.append(f"{path}:{number}: expected an object with 'question' and 'answer'")
            continue
        missing = [k for k in ("question", "answer") if not isinstance(row.get(k), str) or not row[k].strip()]
        if missing:
            errors.append(f"{path}:{number}: field {', '.join(repr(k) for k in missing)} missing or not a non-empty string")
            continue
        source = row.get("source")
        if source is not None and not isinstance(source, str):
            errors.append(f"{path}:{number}: field 'source' must be a string")
            continue
        pairs.append(QAPair(row["question"].strip(), row["answer"].strip(), "user", source=source))
    return pairs, errors


# ---------------------------------------------------------------- examples
SearchFn = Callable[[str, int], tuple[list[Passage], list[Fact]]]
PrepareFn = Callable[..., Prompt]


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
