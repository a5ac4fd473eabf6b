"""Question + retrieved passages + graph facts -> a cited ``Answer``, whole or streamed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import closing

from core.language import script_language
from core.protocols import Embedder
from core.settings import Settings
from core.types import Answer, Fact, Passage
from generation.backends.base import LLMBackend
from generation.citations import clean_citations, map_citations, parse_markers
from generation.grounding import end_at_sentence, ground, invented
from generation.metrics import strip_markers
from generation.prompts import ABSTENTIONS, TEMPLATE_OVERHEAD_TOKENS, Prompt, PromptUnits, build_prompt
from generation.selection import fact_answers


def _normalise(text: str) -> str:
    # Curly apostrophes and full-width punctuation vary between models; compare
    # letters only.
    text = text.replace("’", "'").casefold()
    return re.sub(r"[\s\.\!。！,，:：;；]+", " ", text).strip()


# Prompt budget of a Chinese question, which keeps whole passages (see ``prepare``).
CHINESE_PASSAGE_TOKENS = 512

_ABSTENTION_KEYS = tuple(_normalise(sentence) for sentence in ABSTENTIONS.values())


def is_abstention(text: str) -> bool:
    """True when ``text`` is the fixed "I don't know" sentence (in any prompt language).

    Only the start counts: a model that abstains sometimes keeps talking after the
    sentence, while an answer that merely mentions not knowing one detail is
    still an answer.
    """
    without_markers = text
    for marker in reversed(parse_markers(text)):
        without_markers = without_markers[: marker.start] + without_markers[marker.end :]
    normalised = _normalise(without_markers)
    return any(normalised.startswith(key) for key in _ABSTENTION_KEYS)


def _has_words(text: str) -> bool:
    return re.search(r"\w", strip_markers(text)) is not None


# A source up to this long is a sentence (or a short line) that can stand as the answer itself.
QUOTABLE_CHARS = 300


def _quoted(numbers: Sequence[int], sources: Sequence[Passage]) -> str | None:
    """The cited sources' own text, each with its marker, when every one is sentence-sized."""
    cited = [n for n in dict.fromkeys(numbers) if 1 <= n <= len(sources)]
    if not cited or any(len(sources[n - 1].text.strip()) > QUOTABLE_CHARS for n in cited):
        return None
    return " ".join(f"{sources[n - 1].text.strip()} [{n}]" for n in cited)


def relevance(passages: Sequence[Passage]) -> float | None:
    """The best dense (cosine) similarity between the question and a passage; None when no passage has one.

    Dense similarity is the retrieval score with a fixed scale: fused (RRF) scores
    are ranks, high even for the best of many irrelevant passages. Queries the dense
    model does not cover (see ``dense_languages``) have no dense scores and are
    never cut off.
    """
    scores = [p.scores["dense"] for p in passages if "dense" in p.scores]
    return max(scores) if scores else None


class Answerer:
    """Builds the prompt within ``context_tokens``, runs the backend, and resolves citations.

    Honest citations: only markers that name a source the model was shown become
    ``Citation``s. An answer without markers gets no citations (never a guessed
    "top source"); ``Answer.passages`` still lists the numbered sources it was given.
    """

    def __init__(
        self,
        backend: LLMBackend,
        *,
        context_tokens: int,
        max_new_tokens: int,
        timeout: float,
        temperature: float = 0.0,
        min_relevance: float = 0.0,
        units: PromptUnits = "passages",
        embedder: Embedder | None = None,
    ) -> None:
        self.backend = backend
        self.units = units
        # Scores sentences against the question (units="sentences"); the retrieval embedder.
        self.embedder = embedder
        # Below this best-passage relevance the answer is the abstention sentence,
        # without asking the model: small models answer anything they are shown.
        self.min_relevance = min_relevance
        self.context_tokens = context_tokens
        self.max_new_tokens = max_new_tokens
        self.timeout = timeout
        self.temperature = temperature

    @classmethod
    def from_settings(cls, backend: LLMBackend, settings: Settings, embedder: Embedder | None = None) -> Answerer:
        return cls(
            backend,
            context_tokens=settings.context_tokens,
            max_new_tokens=settings.max_new_tokens,
            timeout=settings.generation_timeout,
            min_relevance=settings.answer_min_relevance,
            units=settings.answer_units,
            embedder=embedder,
        )

    def prepare(
        self, question: str, passages: Sequence[Passage], facts: Sequence[Fact], *, language: str | None = None
    ) -> Prompt:
        """The prompt ``answer`` would send (useful for debugging and ``--show-prompt``)."""
        language = language or script_language(question)
        units, budget = self.units, self.context_tokens
        if language == "zh" and units == "sentences":
            # Chinese sentences are scored by shared characters only (the embedder is English-only):
            # on the CMRC 2018 slice whole passages answered 18 of 24, selected sentences 13.
            units, budget = "passages", max(budget, CHINESE_PASSAGE_TOKENS)
        return build_prompt(
            question,
            list(passages),
            list(facts),
            count_tokens=self.backend.count_tokens,
            budget=budget,
            language=language,
            # Optional capability: a local backend knows its chat template's exact cost.
            overhead=getattr(self.backend, "chat_overhead_tokens", TEMPLATE_OVERHEAD_TOKENS),
            units=units,
            embedder=self.embedder,
        )

    def answer(
        self, question: str, passages: Sequence[Passage], facts: Sequence[Fact], *, language: str | None = None,
        unseen_terms: Sequence[str] = (),
    ) -> Answer:
        """``unseen_terms``: words of the question that no chunk of the knowledge base holds; any makes
        the answer an abstention (``not-in-knowledge-base``) without asking the model."""
        started = time.perf_counter()
        prompt = self.prepare(question, passages, facts, language=language)
        timings = {"prompt": time.perf_counter() - started}
        if rule := self._unsupported(question, prompt, passages, unseen_terms):
            return self._finish(question, prompt, ABSTENTIONS[prompt.language], timings, rule=rule)
        generate_started = time.perf_counter()
        raw = self.backend.generate(
            prompt.messages, max_new_tokens=self.max_new_tokens, temperature=self.temperature, timeout=self.timeout
        )
        timings["generate"] = time.perf_counter() - generate_started
        return self._finish(question, prompt, raw, timings)

    def stream(
        self, question: str, passages: Sequence[Passage], facts: Sequence[Fact], *, language: str | None = None,
        unseen_terms: Sequence[str] = (),
    ) -> Iterator[str | Answer]:
        """Text pieces as the model writes them, then the final ``Answer``.

        The pieces are the raw model text; the ``Answer``'s text is authoritative
        (markers that name no source removed, whitespace trimmed).
        """
        started = time.perf_counter()
        prompt = self.prepare(question, passages, facts, language=language)
        timings = {"prompt": time.perf_counter() - started}
        if rule := self._unsupported(question, prompt, passages, unseen_terms):
            text = ABSTENTIONS[prompt.language]
            yield text
            yield self._finish(question, prompt, text, timings, rule=rule)
            return
        generate_started = time.perf_counter()
        pieces: list[str] = []
        stream = self.backend.stream(
            prompt.messages, max_new_tokens=self.max_new_tokens, temperature=self.temperature, timeout=self.timeout
        )
        # closing(): a client that disconnects mid-answer closes this generator;
        # pass that on so the backend stops generating at once.
        with closing(stream):
            for piece in stream:
                if not pieces:
                    timings["first_token"] = time.perf_counter() - generate_started
                pieces.append(piece)
                yield piece
        timings["generate"] = time.perf_counter() - generate_started
        yield self._finish(question, prompt, "".join(pieces), timings)

    def _unsupported(self, question: str, prompt: Prompt, passages: Sequence[Passage],
                     unseen_terms: Sequence[str] = ()) -> str | None:
        """The rule that says there is nothing to answer from, if one does: no sources or facts fit
        (``no-sources``), the question names what the knowledge base never mentions
        (``not-in-knowledge-base``: a model shown the nearest passages answers with their figures),
        or the best passage is below ``min_relevance`` (``low-relevance``)."""
        if not prompt.sources and not prompt.facts:
            return "no-sources"
        if unseen_terms:
            return "not-in-knowledge-base"
        best = relevance(passages)
        if best is None or best >= self.min_relevance:
            return None
        # A graph fact about what the question asks stands where the passages score low: "Which
        # office is Camille Dufresne based in?" is answered by ``Camille Dufresne located in Leeds Office``.
        return None if any(fact_answers(question, fact) for fact in prompt.facts) else "low-relevance"

    def _finish(self, question: str, prompt: Prompt, raw: str, timings: dict[str, float],
                rule: str | None = None) -> Answer:
        completion = self.backend.count_tokens(raw) if "generate" in timings else 0
        text, numbers = clean_citations(raw, len(prompt.sources))
        # An answer cut off by the token limit ends at its last whole sentence.
        text = end_at_sentence(text) if completion >= self.max_new_tokens else text.strip()
        unsupported: tuple[str, ...] = ()
        # An abstention that cites sources contradicts itself; show it without any.
        abstained = is_abstention(text)
        if abstained and rule is None:
            rule = "model-declined"
        if not abstained and not _has_words(text):
            # A reply that is only a marker ("[5]") points at the source that answers: shown numbered
            # sentences, a small model does that for a date or a figure ("2016: 18F gets procurement
            # authority."). It answers with that sentence; a marker on a whole passage, or nothing at
            # all, answers nothing.
            quoted = _quoted(numbers, prompt.sources)
            if quoted:
                text = quoted
            else:
                text, abstained, rule = ABSTENTIONS[prompt.language], True, "empty-answer"
        if not abstained and prompt.sources:
            grounding = ground(text, prompt.sources, prompt.facts)
            if invented(grounding, text):
                text, abstained, rule = ABSTENTIONS[prompt.language], True, "specifics-not-in-sources"
            else:
                text, numbers, unsupported = grounding.text, grounding.cited, tuple(grounding.unsupported)
        citations = () if abstained else map_citations(numbers, prompt.sources)
        if "generate" in timings:
            timings["prompt_tokens"] = float(prompt.tokens)
            timings["completion_tokens"] = float(completion)
            if timings["generate"] > 0:
                timings["tokens_per_second"] = completion / timings["generate"]
            # The backend returns what it has when the deadline passes; say so.
            timings["timed_out"] = float(timings["generate"] >= self.timeout)
        return Answer(
            question=question,
            text=text,
            citations=citations,
            passages=tuple(prompt.sources),
            facts=tuple(prompt.facts),
            timings=timings,
            abstained=abstained,
            abstention_rule=rule if abstained else None,
            unsupported=unsupported,
        )
