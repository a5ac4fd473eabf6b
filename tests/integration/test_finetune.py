"""Fine-tuning on a real knowledge base: the real graph server, FAISS, spaCy and (slow test) the real default LLM."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from api.service import LoreService
from core.settings import Settings
from generation.answerer import Answerer
from generation.backends.llamacpp import LlamaCppLLM
from generation.finetune.data import read_jsonl
from generation.finetune.gguf_lora import GGUF_ADAPTER
from generation.finetune.pipeline import build_dataset
from generation.finetune.train import answer_loss
from generation.finetune.registry import AdapterRegistry, Manifest
from generation.metrics import normalize_answer
from generation.prompts import ABSTENTIONS, TEMPLATES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SUBSET = [EXAMPLES / "docs" / name for name in ("handbook-leave-policy.md", "handbook-remote-work.md", "org-chart.md")]
EVAL_QUESTIONS = {json.loads(line)["question"] for line in (EXAMPLES / "questions.jsonl").read_text().splitlines() if line.strip()}
_TOKEN = re.compile(r"\w+|[^\s\w]")


class _WordCounter:
    """Counts tokens for prompt budgeting only: the data-builder test needs no model weights."""

    name = "word-counter"

    def count_tokens(self, text: str) -> int:
        return len(_TOKEN.findall(text))


@pytest.fixture(scope="module")
def settings(tmp_path_factory, graph_server) -> Settings:
    info = graph_server.start()
    return Settings(
        data_dir=tmp_path_factory.mktemp("lore-finetune"),
        graph_uri=info.uri,
        graph_user=info.user,
        graph_password=info.password,
        graph_database=info.database,
        context_tokens=700,
        finetune_distractors=2,
        finetune_unanswerable_share=0.25,
        finetune_max_examples=40,
    )


@pytest.fixture(scope="module")
def service(settings) -> LoreService:
    with LoreService.from_settings(settings) as service:
        service.graph.clear()
        report = service.ingest(SUBSET)
        assert report.failed == [], report.failed
        yield service


def test_raft_examples_from_the_knowledge_base_cite_their_oracle(service, settings):
    answerer = Answerer.from_settings(_WordCounter(), settings)
    dataset = build_dataset(service, answerer)
    examples = dataset.examples
    assert len(examples) >= 10
    assert dataset.pairs_by_origin.get("chunk", 0) > 0
    assert not EVAL_QUESTIONS & {e.question for e in examples}  # never the evaluation questions

    answerable = [e for e in examples if e.answerable]
    unanswerable = [e for e in examples if not e.answerable]
    assert answerable and unanswerable
    chunks = service.passages_by_id([e.oracle_chunk_id for e in examples])
    for example in answerable:
        # The target states the answer (a sentence of the oracle, or the fact stated) citing the
        # oracle's number, and that source shows the answer.
        assert f"[{example.oracle}]" in example.target
        assert normalize_answer(example.answer) in normalize_answer(example.target)
        if example.origin in {"fact", "chunk"}:  # a sentence, never the bare answer
            assert normalize_answer(example.target) != normalize_answer(example.answer), example.target
            assert example.target.rstrip().endswith((".", "?", "!", "。", "？", "！")), example.target
        assert example.metadata["sources"][example.oracle - 1] == example.oracle_chunk_id
        assert normalize_answer(example.answer) in normalize_answer(chunks[example.oracle_chunk_id].text)
        # The prompt is the serving prompt: its instructions, the question last.
        assert example.messages[0]["content"] == TEMPLATES["en"].system
        assert example.messages[1]["content"].endswith(f"Question: {example.question}")
    # The oracle is mixed among retrieved distractors (as many as fit the budget), not always first.
    assert sum(e.source_count >= 2 for e in answerable) >= len(answerable) // 2
    assert len({e.oracle for e in answerable}) >= 2
    for example in unanswerable:
        assert example.target == ABSTENTIONS["en"]
        assert example.oracle_chunk_id not in example.metadata["sources"]
        assert example.split == "validation"  # held out: abstaining examples only measure abstention
    assert {e.split for e in answerable} == {"train", "validation"}
    # Seeded: building again gives the same examples.
    again = build_dataset(service, answerer)
    assert [e.to_json() for e in again.examples] == [e.to_json() for e in examples]


@pytest.mark.slow  # de-quantizes the GGUF once for training (about 30 s) and trains a few steps (about 30 s) on 2 cores
def test_tiny_finetune_lowers_loss_and_the_answerer_applies_the_adapter(service, settings, tmp_path):
    tuned_settings = settings.model_copy(
        update={"context_tokens": 320, "finetune_batch_size": 2, "finetune_layers": 2, "finetune_learning_rate": 3e-3, "finetune_max_examples": 12}
    )
    service.settings = tuned_settings
    try:
        report = service.finetune(evaluate=False, max_steps=6, progress=False)
    finally:
        service.settings = settings
    training = report.training
    assert training["steps"] == 6
    assert len(training["eval_loss"]) >= 1

    registry = AdapterRegistry(settings.adapters_dir)
    assert registry.active() == report.version == "v1"
    manifest = Manifest.load(report.path)
    assert manifest.base_model == settings.llm_model and len(manifest.data_hash) == 64
    assert manifest.hyperparameters["lora_r"] == settings.finetune_lora_r and manifest.metrics["training"]["steps"] == 6
    assert (report.path / "adapter_config.json").is_file() and (report.path / "finetune_data.jsonl").is_file()
    # The base is a GGUF model: the adapter was also written for llama.cpp, which serves it.
    assert (report.path / GGUF_ADAPTER).is_file() and manifest.engine == "llamacpp"
    assert 0 < manifest.metrics["training"]["estimated_seconds"]

    # transformers merges the adapter into the base weights (the training engine) ...
    from generation.backends.local import LocalLLM

    base = LocalLLM.from_pretrained(settings.llm_model, cache_dir=settings.model_cache_dir, device="cpu")
    merged = LocalLLM.from_pretrained(settings.llm_model, cache_dir=settings.model_cache_dir, device="cpu",
                                      adapter_path=report.path)
    name = "model.layers.29.self_attn.q_proj.weight"
    assert not torch.equal(dict(merged.model.named_parameters())[name], dict(base.model.named_parameters())[name])
    lower = "model.layers.0.self_attn.q_proj.weight"  # outside the trained layers: untouched
    assert torch.equal(dict(merged.model.named_parameters())[lower], dict(base.model.named_parameters())[lower])
    # Training lowered the loss on what it trained on (answer tokens of the training examples).
    train = [e for e in read_jsonl(report.path / "finetune_data.jsonl") if e.split == "train"]
    assert answer_loss(merged, train) < answer_loss(base, train)

    # ... and the service answers with llama.cpp and the GGUF adapter, whose answers are not the base's.
    served = service.llm.get()
    assert isinstance(served, LlamaCppLLM)
    engine_base = LlamaCppLLM.load(served.path, threads=1, context_tokens=2048)
    prompts = [e.messages for e in train[:6]]
    tuned_answers = [served.generate(m, max_new_tokens=24) for m in prompts]
    assert tuned_answers != [engine_base.generate(m, max_new_tokens=24) for m in prompts]
    answer = service.ask("How many days of paid time off do US employees get each year?")
    assert answer.text
