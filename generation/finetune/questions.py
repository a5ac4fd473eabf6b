"""Question/answer pairs for fine-tuning, from four places (``generation.finetune.data`` turns them
into RAFT examples):

- graph facts, through one question template per relation type ("Who leads Y?");
- chunk sentences: a named entity, date or number in a sentence is swapped for a
  question word ("Employees get 22 days of PTO." -> "Employees get how many days of PTO?"),
  and the swapped span is the answer (Chinese sentences: numbers and dates by pattern);
- an LLM asked to write questions about a chunk, when a capable model is configured;
- a user's JSONL file of ``{"question", "answer", "source"?}`` lines.
"""


from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from core.language import script_language
from core.sentences import sentences
from core.types import Fact
from generation.backends.base import LLMBackend
from generation.metrics import normalize_answer


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
    "PART_OF": FactQuestion("What is {subject} part of?", "object", "{subject} is part of {object}."),
    "USES": FactQuestion("What does {subject} use?", "object", "{subject} uses {object}.", "{subject} use {object}."),
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
