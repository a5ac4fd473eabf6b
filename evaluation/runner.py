"""The ``lore eval`` harness: retrieval per mode and baseline, answers per generator, on one question set.

Everything runs in one process over the same chunks: the product's four search
modes through ``LoreService.search`` (so latency is what a user sees, query
embedding aside: queries are embedded in one batch up front and that cost is
reported on its own), the two baselines of ``evaluation.retrieval`` (rank-bm25
and exact dense search with the same embedding model), and for each generator
(the base model, a fine-tuned adapter) the same retrieval followed by the
answerer ``lore ask`` uses, greedy.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from api.bootstrap import local_graph_server
from evaluation.datasets import EvalDataset, EvalItem
from api.service import LoreService
from core.errors import ConfigurationError
from core.settings import Settings
from core.types import Answer, Passage
from generation.answerer import Answerer
from generation.backends import load_backend
from generation.finetune.registry import AdapterRegistry
from generation.metrics import best_of, exact_match, mean, token_f1
from ingest.chunking import IDEOGRAPH_WEIGHT
from evaluation import retrieval as retrieval_eval
from retrieval.filters import SearchFilters
from retrieval.query import Query
from retrieval.retrievers import MODES, Retriever

DEPTH = max(retrieval_eval.KS)  # passages retrieved per question for recall@k, k = 1..20
SCOPES = ("all", "document")


@dataclass(frozen=True)
class EvalOptions:
    modes: tuple[str, ...] = MODES
    ks: tuple[int, ...] = (1, 5, 10, 20)  # the recall@k columns of the report (curves always cover 1..20)
    baselines: bool = True
    ablate: bool = False  # also score hybrid search with one part taken away at a time
    generate: bool = True
    generators: tuple[str, ...] = ("base", "tuned")  # base, tuned (the active adapter) or a version such as v2
    answer_limit: int | None = None  # questions answered per generator; None: all
    answer_mode: str | None = None  # search mode for answering; None: the retrieval_mode setting
    scope: str = "all"  # all: search the whole collection; document: only the question's gold documents

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in MODES]
        if unknown:
            raise ConfigurationError(f"unknown mode(s) {', '.join(unknown)}; expected {', '.join(MODES)}")
        if any(k < 1 or k > DEPTH for k in self.ks):
            raise ConfigurationError(f"k must be between 1 and {DEPTH}")
        if self.scope not in SCOPES:
            raise ConfigurationError(f"scope {self.scope!r} is not one of {', '.join(SCOPES)}")


@dataclass
class RetrievalScores:
    system: str
    kind: str  # mode or baseline
    queries: int
    recall: dict[int, float]
    mrr10: float
    latency_p50_ms: float
    latency_p95_ms: float


@dataclass
class GenerationScores:
    generator: str  # base, or the adapter version
    mode: str
    questions: int
    answerable: int
    exact_match: float | None = None
    f1: float | None = None
    citation_precision: float | None = None  # cited passages that hold gold evidence, over answers that cite
    citation_recall: float | None = None  # gold targets covered by the cited passages
    abstention_accuracy: float | None = None  # abstained exactly on the unanswerable questions
    false_abstention: float | None = None  # answerable questions the model refused
    latency_p50_s: float = 0.0
    latency_p95_s: float = 0.0
    tokens_generated: int = 0
    tokens_per_answer: float = 0.0
    skipped: str | None = None  # why this generator did not run
    predictions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EvalReport:
    dataset: str
    format: str
    questions: int
    documents: int
    chunks: int
    settings: dict[str, Any]
    options: dict[str, Any]
    embedding_ms_per_query: float
    retrieval: list[RetrievalScores] = field(default_factory=list)
    generation: list[GenerationScores] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        payload = asdict(self)
        for row in payload["retrieval"]:
            row["recall"] = {str(k): round(v, 4) for k, v in row["recall"].items()}
        return _rounded(payload)


def ingest_key(settings: Settings) -> str:
    """Settings that change the chunks or the graph: a data dir per value, so runs with other settings never mix."""
    parts = (settings.embedding_model, settings.embedding_backend, settings.chunk_size, settings.chunk_overlap, IDEOGRAPH_WEIGHT, settings.extractor)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:8]


def eval_settings(settings: Settings, dataset: EvalDataset, work_dir: Path) -> Settings:
    """Settings whose data dir is the dataset's own (under ``work_dir``); the user's knowledge base when there is nothing to ingest."""
    if not dataset.documents:
        return settings
    folder = Path(work_dir) / f"{dataset.format}-{dataset.name}-{ingest_key(settings)}"
    # Derived minutes would compete with their meetings for the gold spans.
    return settings.model_copy(update={"data_dir": folder, "minutes_at_ingest": False})


def prepare(service: LoreService, dataset: EvalDataset, log: Callable[[str], None]) -> None:
    """Ingest the dataset's documents (files already there and unchanged are skipped)."""
    if not dataset.documents:
        return
    report = service.ingest(dataset.documents)
    log(f"ingest: {len(report.added)} added, {len(report.unchanged)} unchanged, {report.chunks} chunks in {report.seconds:.1f}s")
    for failure in report.failed:
        log(f"skipped {failure.path}: {failure.reason}")


def run(service: LoreService, dataset: EvalDataset, options: EvalOptions, *,
        adapters: AdapterRegistry | None = None, log: Callable[[str], None] = lambda line: None) -> EvalReport:
    """Score retrieval for each mode and baseline, then answers for each generator, on ``dataset``."""
    started = time.perf_counter()
    settings = service.settings
    gold = [item for item in dataset.items if item.gold_count]
    report = EvalReport(
        dataset=dataset.name, format=dataset.format, questions=len(dataset.items),
        documents=len(service.documents()), chunks=len(service.engine.catalog),
        settings={"embedding_model": settings.embedding_model, "encoder": service.parts.encoder, "llm_model": settings.llm_model,
                  "chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
                  "top_k": settings.top_k, "retrieval_mode": settings.retrieval_mode},
        options={**asdict(options), "ks": list(options.ks)},
        embedding_ms_per_query=_embed(service, [i.question for i in dataset.items]),
        notes=list(dataset.errors),
    )
    if len(gold) < len(dataset.items):
        report.notes.append(f"{len(dataset.items) - len(gold)} questions have no gold evidence: they count for answers only")
    systems: dict[str, tuple[str, Retriever | str]] = {m: ("mode", m) for m in options.modes}
    if options.baselines and gold:
        systems |= {name: ("baseline", r) for name, r in retrieval_eval.baselines(service.engine).items()}
    if options.ablate and gold:
        systems |= {name: ("ablation", r) for name, r in retrieval_eval.ablations(service.engine).items()}
    for name, (kind, system) in systems.items():
        log(f"retrieval: {name} on {len(gold)} questions")
        report.retrieval.append(score_retrieval(service, name, kind, system, gold, options.scope))
    if options.generate:
        answered = dataset.items[: options.answer_limit] if options.answer_limit else dataset.items
        mode = options.answer_mode or settings.retrieval_mode
        for generator in options.generators:
            report.generation.append(_score_generator(service, generator, answered, mode, options.scope, adapters, log))
    report.seconds = time.perf_counter() - started
    return report


def _embed(service: LoreService, questions: Sequence[str]) -> float:
    started = time.perf_counter()
    service.engine.dense.warm(list(questions))
    return (time.perf_counter() - started) * 1000 / max(1, len(set(questions)))


def _filters(item: EvalItem, scope: str) -> SearchFilters | None:
    return SearchFilters(document_ids=list(item.document_ids)) if scope == "document" and item.document_ids else None


def score_retrieval(service: LoreService, name: str, kind: str, system: Retriever | str,
                     items: Sequence[EvalItem], scope: str) -> RetrievalScores:
    covered, firsts, seconds = [], [], []
    for item in items:
        t = time.perf_counter()
        if isinstance(system, str):
            passages = service.search(Query(text=item.question, k=DEPTH, mode=system, filters=_filters(item, scope))).passages
        else:
            passages = system.search(item.question, DEPTH, _filters(item, scope)).passages
        seconds.append(time.perf_counter() - t)
        covered.append(retrieval_eval.covered_counts(passages, item.hits))
        firsts.append(next((i for i, p in enumerate(passages, start=1) if item.hits(p)), None))
    scores = retrieval_eval.score_counts(covered, [item.gold_count for item in items], firsts)
    return RetrievalScores(system=name, kind=kind, queries=len(items), recall=scores.recall, mrr10=scores.mrr10,
                           latency_p50_ms=_percentile(seconds, 50) * 1000, latency_p95_ms=_percentile(seconds, 95) * 1000)


def resolve_generator(generator: str, settings: Settings, adapters: AdapterRegistry | None) -> tuple[Path | None, str | None]:
    """(adapter folder or None for the base model, reason to skip or None)."""
    if generator == "base":
        return None, None
    if settings.llm_backend != "local":
        return None, f"{generator}: adapters apply to the local model only (llm_backend is {settings.llm_backend!r})"
    if adapters is None:
        return None, f"{generator}: no adapter registry"
    version = adapters.active() if generator == "tuned" else generator
    if version is None:
        return None, "tuned: no fine-tuned adapter is active (train one with `lore finetune`, or name a version)"
    if version not in adapters.versions():
        return None, f"{generator}: no adapter version {version!r} in {adapters.root} (have: {', '.join(adapters.versions()) or 'none'})"
    return adapters.path(version), None


def _score_generator(service: LoreService, generator: str, items: Sequence[EvalItem], mode: str, scope: str,
                     adapters: AdapterRegistry | None, log: Callable[[str], None]) -> GenerationScores:
    settings = service.settings
    adapter, skip = resolve_generator(generator, settings, adapters)
    label = adapter.name if adapter is not None else generator
    result = GenerationScores(generator=label, mode=mode, questions=len(items),
                              answerable=sum(item.answerable for item in items))
    if skip:
        log(f"skipping {skip}")
        result.skipped = skip
        return result
    log(f"answers: {label} on {len(items)} questions ({mode} retrieval)")
    answerer = Answerer.from_settings(load_backend(settings.model_copy(update={"adapter_path": adapter})), settings,
                                      embedder=service.parts.embedder)
    answers: list[tuple[EvalItem, Answer, float]] = []
    for item in items:
        t = time.perf_counter()
        found = service.search_for_answer(Query(text=item.question, mode=mode, filters=_filters(item, scope)))
        answer = answerer.answer(item.question, found.passages, found.facts, unseen_terms=found.unseen_terms)
        answers.append((item, answer, time.perf_counter() - t))
    return _score_answers(result, answers)


def _score_answers(result: GenerationScores, answers: Sequence[tuple[EvalItem, Answer, float]]) -> GenerationScores:
    """EM/F1 on answerable questions, citation precision/recall where there is gold evidence, abstention on all."""
    answerable = [(i, a) for i, a, _ in answers if i.answerable]
    if answerable:
        result.exact_match = mean(best_of(exact_match, a.text, i.answers) for i, a in answerable)
        result.f1 = mean(best_of(token_f1, a.text, i.answers) for i, a in answerable)
        result.false_abstention = mean(float(a.abstained) for _, a in answerable)
    precisions, recalls = [], []
    for item, answer in answerable:
        if not item.gold_count:
            continue
        cited = _cited_passages(answer)
        covered: set[int] = set()
        for p in cited:
            covered |= item.hits(p)
        if cited:
            precisions.append(sum(bool(item.hits(p)) for p in cited) / len(cited))
        recalls.append(len(covered) / item.gold_count)
    result.citation_precision = mean(precisions) if precisions else None
    result.citation_recall = mean(recalls) if recalls else None
    if answers:
        result.abstention_accuracy = mean(float(a.abstained == (not i.answerable)) for i, a, _ in answers)
        seconds = [s for _, _, s in answers]
        result.latency_p50_s, result.latency_p95_s = _percentile(seconds, 50), _percentile(seconds, 95)
        tokens = [int(a.timings.get("completion_tokens", 0)) for _, a, _ in answers]
        result.tokens_generated = sum(tokens)
        result.tokens_per_answer = result.tokens_generated / len(tokens)
    result.predictions = [
        {"id": i.id, "question": i.question, "answers": list(i.answers), "prediction": a.text,
         "cited": [c.number for c in a.citations], "abstained": a.abstained, "seconds": round(s, 3)}
        for i, a, s in answers
    ]
    return result


def _cited_passages(answer: Answer) -> list[Passage]:
    """The passages behind an answer's citations (they carry the turn ranges gold spans are matched on)."""
    by_chunk = {p.chunk_id: p for p in answer.passages}
    return [by_chunk[c.chunk_id] for c in answer.citations if c.chunk_id in by_chunk]


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def evaluate(settings: Settings, dataset: EvalDataset, options: EvalOptions, *, work_dir: Path,
             log: Callable[[str], None] = lambda line: None) -> EvalReport:
    """Ingest the dataset's documents into their own data dir (when it has any), then ``run``."""
    adapters = AdapterRegistry(settings.adapters_dir)  # the user's adapters, wherever the eval data lives
    own = eval_settings(settings, dataset, work_dir)
    with evaluation_service(own, stop_graph=own.data_dir != settings.data_dir) as service:
        prepare(service, dataset, log)
        return run(service, dataset, options, adapters=adapters, log=log)


@contextmanager
def evaluation_service(settings: Settings, *, stop_graph: bool = True) -> Iterator[LoreService]:
    """An open ``LoreService`` over an evaluation's data dir. A local graph server started for it
    does not outlive the run (``stop_graph``; never one the user configured by URI)."""
    try:
        with LoreService.from_settings(settings) as service:
            yield service
    finally:
        if stop_graph and not settings.graph_uri:
            local_graph_server(settings).stop()


def variant(spec: str, settings: Settings, options: EvalOptions) -> tuple[Settings, EvalOptions]:
    """One side of ``--compare``: a settings TOML file (its values over ``settings``), or a generator
    (``base``, ``tuned`` or an adapter version such as ``v2``) that then answers alone."""
    path = Path(spec)
    if path.suffix == ".toml":
        if not path.is_file():
            raise ConfigurationError(f"--compare: {path} does not exist")
        import tomllib

        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
            return Settings(**{**settings.model_dump(exclude_unset=True), **values}), options
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise ConfigurationError(f"--compare: {path} is not a valid Lore settings file: {exc}") from exc
    if spec in ("base", "tuned") or spec.startswith("v"):
        return settings, replace(options, generators=(spec,))
    raise ConfigurationError(f"--compare: {spec!r} is neither a .toml settings file nor base, tuned or an adapter version (vN)")
