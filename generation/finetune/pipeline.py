"""``lore finetune`` end to end: knowledge base -> RAFT examples -> LoRA adapter -> versioned, evaluated, active."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from core.errors import ConfigurationError
from core.settings import Settings
from core.types import Fact, Passage
from generation.answerer import Answerer
from generation.finetune.data import Example, RaftBuilder, data_hash, read_jsonl, split_examples, write_jsonl
from generation.finetune.questions import QAPair, chunk_pairs, fact_pairs, llm_pairs, load_user_pairs
from generation.finetune.estimate import TrainingEstimate, measured_flops_per_second
from generation.finetune.evaluate import EvalReport, evaluate
from generation.finetune.gguf_lora import convert_adapter
from generation.finetune.registry import AdapterRegistry, Manifest
from retrieval.query import Query

log = logging.getLogger(__name__)

DATA_FILE = "finetune_data.jsonl"
EVAL_MAX_NEW_TOKENS = 48  # the targets are short spans; a longer reply only lowers precision
# The light model offered when the configured one would train for hours on a CPU.
SMALL_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMALL_MODEL_PARAMETERS = 134_515_008


class KnowledgeBase(Protocol):
    """What the data builder reads: ``LoreService`` provides it."""

    settings: Settings

    def search(self, query: Query) -> Any: ...  # .passages, .facts

    def all_chunks(self) -> list[Passage]: ...

    def passages_by_id(self, chunk_ids: Sequence[str]) -> dict[str, Passage]: ...

    def passages_of_source(self, source: str) -> list[Passage]: ...

    def typed_facts(self) -> list[Fact]: ...


@dataclass
class DatasetReport:
    examples: list[Example]
    pairs_by_origin: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # bad lines of the user's file

    @property
    def train(self) -> list[Example]:
        return [e for e in self.examples if e.split == "train"]

    @property
    def validation(self) -> list[Example]:
        return [e for e in self.examples if e.split == "validation"]


@dataclass
class FinetuneReport:
    version: str
    path: Path
    dataset: dict[str, Any]
    training: dict[str, Any]
    before: EvalReport | None = None
    after: EvalReport | None = None
    activated: bool = False


def train_config(settings: Settings, max_steps: int | None = None) -> Any:
    from generation.finetune.train import TrainConfig

    return TrainConfig(
        lora_r=settings.finetune_lora_r,
        lora_alpha=settings.finetune_lora_alpha,
        target_modules=tuple(settings.finetune_target_modules),
        layers=settings.finetune_layers,
        learning_rate=settings.finetune_learning_rate,
        epochs=settings.finetune_epochs,
        batch_size=settings.finetune_batch_size,
        eval_steps=settings.finetune_eval_steps,
        patience=settings.finetune_patience,
        max_steps=max_steps or -1,
        seed=settings.finetune_seed,
    )


def load_base_llm(settings: Settings) -> Any:
    """The configured local model without any adapter: fine-tuning always starts from the base."""
    if settings.llm_backend != "local":
        raise ConfigurationError("fine-tuning needs llm_backend = 'local' (a remote server's weights cannot be trained here)")
    from generation.backends.local import LocalLLM

    return LocalLLM.from_pretrained(
        settings.llm_model,
        cache_dir=settings.model_cache_dir,
        device=settings.llm_device,
        allow_downloads=settings.allow_downloads,
    )


def answerer_for(llm: Any, settings: Settings) -> Answerer:
    return Answerer.from_settings(llm, settings)


def build_dataset(
    kb: KnowledgeBase,
    answerer: Answerer,
    *,
    user_data: Path | None = None,
    include_kb: bool = True,
    question_backend: Any | None = None,
) -> DatasetReport:
    """Question/answer pairs from the knowledge base (and the user's file) turned into split examples."""
    s = kb.settings
    pairs: list[QAPair] = []
    errors: list[str] = []
    if include_kb:
        chunks = kb.all_chunks()
        texts = {p.chunk_id: p.text for p in chunks}
        pairs += fact_pairs(kb.typed_facts(), texts.get)
        nlp = _spacy(s.spacy_model)
        pairs += chunk_pairs(
            [(p.chunk_id, p.text) for p in chunks], nlp, per_chunk=s.finetune_questions_per_chunk, seed=s.finetune_seed
        )
        if question_backend is not None:
            pairs += llm_pairs(question_backend, [(p.chunk_id, p.text) for p in chunks], per_chunk=s.finetune_questions_per_chunk)
    if user_data is not None:
        user_pairs, errors = load_user_pairs(user_data)
        pairs += user_pairs
    if not pairs:
        raise ConfigurationError("no training questions: ingest documents first or pass a question/answer file")
    pairs = _cap(pairs, s.finetune_max_examples, s.finetune_seed)

    def search(question: str, k: int) -> tuple[list[Passage], list[Fact]]:
        found = kb.search(Query(text=question, k=k))
        return list(found.passages), list(found.facts)

    builder = RaftBuilder(
        search,
        answerer.prepare,
        kb.passages_by_id,
        kb.passages_of_source,
        distractors=s.finetune_distractors,
        unanswerable_share=s.finetune_unanswerable_share,
        seed=s.finetune_seed,
    )
    built = builder.build(pairs)
    examples = split_examples(
        built.examples,
        validation_share=s.finetune_validation_share,
        seed=s.finetune_seed,
        train_abstentions=s.finetune_train_abstentions,
    )
    return DatasetReport(
        examples=examples,
        pairs_by_origin=dict(Counter(p.origin for p in pairs)),
        skipped=built.skipped,
        errors=errors,
    )


def _cap(pairs: list[QAPair], limit: int, seed: int) -> list[QAPair]:
    import random

    if len(pairs) <= limit:
        return pairs
    # User pairs are always kept; generated ones are sampled (seeded) to fill the rest.
    user = [p for p in pairs if p.origin == "user"]
    generated = [p for p in pairs if p.origin != "user"]
    keep = random.Random(seed).sample(generated, max(0, limit - len(user)))
    return user + keep


def _spacy(model: str) -> Any:
    import spacy

    try:
        return spacy.load(model, exclude=["lemmatizer"])
    except OSError as exc:
        raise ConfigurationError(f"cannot load spaCy model {model!r} for question generation: {exc}") from exc


def finetune(
    kb: KnowledgeBase,
    *,
    user_data: Path | None = None,
    include_kb: bool = True,
    run_eval: bool = False,
    activate: bool = True,
    max_steps: int | None = None,
    progress: bool = True,
    log_line: Callable[[str], None] = lambda line: None,
) -> FinetuneReport:
    s = kb.settings
    registry = AdapterRegistry(s.adapters_dir)
    base = load_base_llm(s)
    answerer = answerer_for(base, s)
    question_backend = None
    if s.finetune_llm_questions:
        from generation.backends import load_backend

        question_backend = load_backend(s.model_copy(update={"adapter_path": None}))
    dataset = build_dataset(kb, answerer, user_data=user_data, include_kb=include_kb, question_backend=question_backend)
    for error in dataset.errors:
        log_line(f"skipped {error}")
    log_line(
        f"{len(dataset.examples)} examples ({len(dataset.train)} train, {len(dataset.validation)} validation) "
        f"from {dataset.pairs_by_origin}; {len(dataset.skipped)} questions skipped"
    )
    if not dataset.train:
        raise ConfigurationError("no training examples could be built (see the skipped questions)")

    before = None
    if run_eval and dataset.validation:
        log_line("scoring the base model on the validation split ...")
        before = evaluate_version(s, None, dataset.validation)

    from generation.finetune.train import train_adapter

    config = train_config(s, max_steps)
    estimate = estimate_training(base, dataset.train, config)
    log_line(f"training: {estimate.describe(s.llm_model)}")
    if estimate.long and s.llm_model != SMALL_MODEL:
        small = replace(estimate, parameters=SMALL_MODEL_PARAMETERS, trained_share=min(1.0, config.layers / 30 or 1.0))
        log_line(f"that is hours on a CPU: LORE_LLM_MODEL={SMALL_MODEL} trains in about "
                 f"{small.seconds / 60:.0f} min here, or run this on a machine with a GPU")
    digest = data_hash(dataset.examples)
    version = registry.next_version()
    output = registry.path(version)
    work = registry.root / ".runs" / f"{digest[:12]}-{config.key()}"
    result = train_adapter(base, dataset.train, dataset.validation, config, output_dir=output, work_dir=work, progress=progress)
    write_jsonl(dataset.examples, output / DATA_FILE)
    engine_file = engine_adapter(s, output)
    if engine_file is not None:
        log_line(f"adapter converted for the llama.cpp engine: {engine_file}")

    after = None
    if run_eval and dataset.validation:
        log_line("scoring the fine-tuned model on the validation split ...")
        after = evaluate_version(s, output, dataset.validation)
    manifest = Manifest(
        version=version,
        base_model=s.llm_model,
        data_hash=digest,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        hyperparameters=config.to_dict(),
        data={
            "train": len(dataset.train),
            "validation": len(dataset.validation),
            "unanswerable": sum(not e.answerable for e in dataset.examples),
            "by_origin": dict(Counter(e.origin for e in dataset.examples)),
            "context_tokens": s.context_tokens,
        },
        engine="llamacpp" if engine_file is not None else "transformers",
        metrics={
            "training": {**result.summary(), "estimated_seconds": round(estimate.seconds, 1)},
            **({"before": before.to_dict()} if before else {}),
            **({"after": after.to_dict()} if after else {}),
        },
    )
    manifest.save(output)
    if activate:
        registry.activate(version)
    return FinetuneReport(
        version=version,
        path=output,
        dataset=manifest.data,
        training=result.summary(),
        before=before,
        after=after,
        activated=activate,
    )


def evaluate_version(settings: Settings, adapter: Path | None, examples: Sequence[Example]) -> EvalReport:
    """Scores the base model (with ``adapter``, None: without) on ``examples``, on the engine that serves it:
    llama.cpp with the adapter's GGUF file when the base is a GGUF model, else transformers."""
    from generation.backends import load_backend

    backend = load_backend(settings.model_copy(update={"adapter_path": adapter}))
    try:
        report, _ = evaluate(backend, examples, max_new_tokens=EVAL_MAX_NEW_TOKENS, timeout=settings.generation_timeout)
    finally:
        getattr(backend, "close", lambda: None)()
    return report


def engine_adapter(settings: Settings, adapter: Path) -> Path | None:
    """Write ``adapter`` as a GGUF LoRA beside it when the base model is served by llama.cpp; its path, else None."""
    from generation.backends import gguf_file_for

    base = gguf_file_for(settings.llm_model, settings.shared_model_dir)
    return convert_adapter(adapter, base) if base is not None else None


def estimate_training(base: Any, train: Sequence[Example], config: Any) -> TrainingEstimate:
    """What training ``train`` with ``config`` costs on the device ``base`` sits on (see estimate.py)."""
    from generation.finetune.train import encode_example

    sample = list(train[:20])
    tokens = sum(len(encode_example(base, e)["input_ids"]) for e in sample) // max(1, len(sample))
    layers = getattr(base.model.config, "num_hidden_layers", 0) or 1
    device = next(base.model.parameters()).device.type
    passes = (config.max_steps * config.batch_size / len(train)) if config.max_steps > 0 else config.epochs
    return TrainingEstimate(
        examples=len(train), tokens_per_example=tokens, passes=passes,
        parameters=sum(p.numel() for p in base.model.parameters()),
        trained_share=min(1.0, config.layers / layers) if config.layers > 0 else 1.0,
        flops_per_second=measured_flops_per_second(device), device=device,
    )


def reevaluate(settings: Settings, version: str) -> tuple[EvalReport, EvalReport]:
    """Before/after on a saved version's own held-out split (``lore finetune eval``)."""
    registry = AdapterRegistry(settings.adapters_dir)
    path = registry.path(version)
    data = path / DATA_FILE
    if not data.is_file():
        raise ConfigurationError(f"{path} has no {DATA_FILE}; cannot re-evaluate it")
    validation = [e for e in read_jsonl(data) if e.split == "validation"]
    if not validation:
        raise ConfigurationError(f"{data} has no validation examples")
    before = evaluate_version(settings, None, validation)
    after = evaluate_version(settings, path, validation)
    return before, after
