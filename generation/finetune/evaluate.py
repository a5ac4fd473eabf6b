"""Scores a model on held-out examples: exact match, token F1, citation accuracy, abstention accuracy.

Generation is greedy (temperature 0), so a score is reproducible. Each example's
prompt is the one the builder made with the serving prompt builder, so the
numbers describe the model as ``lore ask`` runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from generation.answerer import is_abstention
from generation.backends.base import LLMBackend
from generation.citations import clean_citations
from generation.finetune.data import Example
from generation.metrics import cites, exact_match, mean, token_f1


@dataclass
class Prediction:
    id: str
    question: str
    answer: str
    prediction: str
    cited: list[int]
    oracle: int | None
    abstained: bool


@dataclass
class EvalReport:
    examples: int
    answerable: int
    unanswerable: int
    exact_match: float  # over answerable examples
    f1: float  # over answerable examples
    citation_accuracy: float  # answerable examples whose answer cites the oracle
    abstention_accuracy: float | None  # unanswerable examples answered with the abstention sentence
    false_abstention: float  # answerable examples the model refused
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def predict(backend: LLMBackend, example: Example, *, max_new_tokens: int, timeout: float | None = None) -> Prediction:
    raw = backend.generate(example.messages, max_new_tokens=max_new_tokens, temperature=0.0, timeout=timeout)
    text, numbers = clean_citations(raw, example.source_count)
    text = text.strip()
    return Prediction(example.id, example.question, example.answer, text, numbers, example.oracle, is_abstention(text))


def score(predictions: Sequence[Prediction], seconds: float = 0.0) -> EvalReport:
    answerable = [p for p in predictions if p.oracle is not None]
    unanswerable = [p for p in predictions if p.oracle is None]
    return EvalReport(
        examples=len(predictions),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        exact_match=mean(exact_match(p.prediction, p.answer) for p in answerable),
        f1=mean(token_f1(p.prediction, p.answer) for p in answerable),
        citation_accuracy=mean(cites(p.cited, p.oracle) for p in answerable),
        abstention_accuracy=mean(float(p.abstained) for p in unanswerable) if unanswerable else None,
        false_abstention=mean(float(p.abstained) for p in answerable),
        seconds=seconds,
    )


def evaluate(
    backend: LLMBackend,
    examples: Sequence[Example],
    *,
    max_new_tokens: int = 64,
    timeout: float | None = None,
    on_example: Callable[[Prediction], None] | None = None,
) -> tuple[EvalReport, list[Prediction]]:
    started = time.perf_counter()
    predictions = []
    for example in examples:
        prediction = predict(backend, example, max_new_tokens=max_new_tokens, timeout=timeout)
        predictions.append(prediction)
        if on_example:
            on_example(prediction)
    return score(predictions, time.perf_counter() - started), predictions
