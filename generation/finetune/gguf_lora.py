"""A peft LoRA adapter as a llama.cpp GGUF LoRA file, so the engine that serves answers serves the adapter.

llama.cpp applies LoRA at run time on top of the quantized base (no merge, no second copy of the
model): each adapted weight ``W`` gets two tensors ``<gguf name>.lora_a`` (r × in) and
``<gguf name>.lora_b`` (out × r), and the file says it is an adapter with its ``alpha``. Tensor
names come from the ``gguf`` package's own map of Hugging Face names to GGUF names for the base's
architecture, read from the base GGUF.

One layout detail: for the ``llama`` architecture the GGUF converter reorders the rows of the
query and key projections (rotary embeddings pair dimensions differently in llama.cpp), and
transformers undoes that when it de-quantizes the GGUF for training. A delta ``B·A`` on those
weights gets the same row order by reordering the rows of ``B``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from core.errors import ConfigurationError

GGUF_ADAPTER = "adapter.gguf"
_PEFT_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<base>.+)\.lora_(?P<part>[AB])(?:\.default)?\.weight$")
# Architectures whose GGUF conversion reorders query/key rows for rotary embeddings.
_ROPE_REORDERED = {"llama"}


def gguf_architecture(gguf_path: Path) -> tuple[str, dict[str, int]]:
    """The base GGUF's architecture name and the head counts a row reorder needs."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_path))
    fields = reader.fields

    def scalar(key: str) -> object | None:
        field = fields.get(key)
        if field is None:
            return None
        value = field.parts[field.data[0]]
        return bytes(value).decode() if field.types and field.types[0].name == "STRING" else int(value[0])

    arch = str(scalar("general.architecture"))
    heads = {name: scalar(f"{arch}.{key}") for name, key in
             (("blocks", "block_count"), ("heads", "attention.head_count"), ("kv_heads", "attention.head_count_kv"))}
    return arch, {k: int(v) for k, v in heads.items() if v is not None}


def _reorder_rows(weights: np.ndarray, heads: int) -> np.ndarray:
    # The GGUF converter's row order for rotary query/key projections: within each head the two
    # halves of the dimensions are interleaved.
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def convert_adapter(adapter_dir: Path, base_gguf: Path, output: Path | None = None) -> Path:
    """Write ``adapter_dir`` (peft ``adapter_config.json`` + ``adapter_model.safetensors``) as a GGUF LoRA
    for ``base_gguf``; returns its path (default ``adapter_dir/adapter.gguf``), written atomically."""
    import gguf
    from safetensors.numpy import load_file

    adapter_dir = Path(adapter_dir)
    config_file, weights_file = adapter_dir / "adapter_config.json", adapter_dir / "adapter_model.safetensors"
    for needed in (config_file, weights_file):
        if not needed.is_file():
            raise ConfigurationError(f"{adapter_dir} is not a peft LoRA adapter: {needed.name} is missing")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        raise ConfigurationError(f"{config_file}: peft_type {config.get('peft_type')!r} is not LORA")
    arch, sizes = gguf_architecture(base_gguf)
    try:
        arch_id = next(key for key, name in gguf.MODEL_ARCH_NAMES.items() if name == arch)
    except StopIteration:
        raise ConfigurationError(f"{base_gguf}: architecture {arch!r} is unknown to the gguf package") from None
    names = gguf.get_tensor_name_map(arch_id, sizes.get("blocks", 0))

    tensors: dict[str, dict[str, np.ndarray]] = {}
    for key, value in load_file(str(weights_file)).items():
        match = _PEFT_KEY.match(key)
        if match is None:
            raise ConfigurationError(f"{weights_file}: tensor {key!r} is not a LoRA A/B weight")
        tensors.setdefault(match.group("base"), {})[match.group("part")] = value.astype(np.float32)

    output = Path(output) if output else adapter_dir / GGUF_ADAPTER
    fd, scratch = tempfile.mkstemp(prefix=".adapter.", suffix=".gguf", dir=output.parent)
    os.close(fd)
    writer = gguf.GGUFWriter(scratch, arch)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config.get("lora_alpha", config.get("r", 8))))
        for base, parts in sorted(tensors.items()):
            if set(parts) != {"A", "B"}:
                raise ConfigurationError(f"{weights_file}: {base} lacks lora_{'B' if 'A' in parts else 'A'}")
            target = names.get_name(f"{base}.weight", try_suffixes=(".weight",))
            if target is None:
                raise ConfigurationError(f"{weights_file}: no GGUF tensor for {base} in a {arch} model")
            lora_a, lora_b = parts["A"], parts["B"]
            if arch in _ROPE_REORDERED and base.endswith(("q_proj", "k_proj")):
                heads = sizes["heads"] if base.endswith("q_proj") else sizes.get("kv_heads", sizes["heads"])
                lora_b = _reorder_rows(lora_b, heads)
            writer.add_tensor(f"{target}.lora_a", np.ascontiguousarray(lora_a))
            writer.add_tensor(f"{target}.lora_b", np.ascontiguousarray(lora_b))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(scratch, output)
    return output
