"""Sentence embeddings from an int8 ONNX export of a sentence-transformers model.

On a CPU the encoder is the floor of ingest: the pipeline around it costs about a fifth
of a bare fp32 ``encode``. Here the model is exported to ONNX, its attention, layer norms
and GELU fused into onnxruntime's transformer operators, and its matrix multiplications
and attention quantized dynamically to int8 with one scale per output channel. That runs
about twice as fast as fp32 torch on AVX2/AVX-512 cores, with vectors at a mean cosine of
0.99 to fp32 (docs/ingest.md has the measurements). One scale per tensor, onnxruntime's
default, drops that to about 0.93 on MiniLM, which costs recall: hence ``per_channel``.

The export is made once per model and kept in the shared model cache, keyed by a hash
of the model's weights, so every data directory and every process reuses it. It needs
torch only while exporting; afterwards onnxruntime and the tokenizer are enough.

sentence-transformers' own ``backend="onnx"`` goes through ``optimum``, whose ONNX
exporter pins transformers below the release sentence-transformers 6 needs, so the
export here uses torch's exporter and onnxruntime's quantizer directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from core.errors import ModelLoadError

log = logging.getLogger(__name__)

TORCH_FP32 = "torch-fp32"
ONNX_INT8 = "onnx-int8"
EXPORT_FORMAT = 2  # bump when the export recipe changes, so old caches are rebuilt
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class EncoderLayout:
    """What an ONNX encoder needs to know about a sentence-transformers model directory."""

    directory: Path
    weights: Path
    pooling: Literal["mean", "cls"]
    max_seq_length: int

    @classmethod
    def read(cls, directory: Path) -> "EncoderLayout | None":
        """The layout of a plain text encoder (a Transformer, mean or CLS pooling, optionally
        Normalize); None for anything else, which then stays on torch."""
        directory = Path(directory)
        try:
            modules = json.loads((directory / "modules.json").read_text())
        except (OSError, ValueError):
            return None
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        if modules[0].get("path", "") not in ("", "."):
            return None  # the transformer lives in a subfolder: not the layout exported here
        weights = next((directory / name for name in ("model.safetensors", "pytorch_model.bin")
                        if (directory / name).exists()), None)
        try:
            pooling = json.loads((directory / modules[1]["path"] / "config.json").read_text())
            config = json.loads((directory / "sentence_bert_config.json").read_text())
        except (OSError, ValueError, KeyError):
            return None
        mode = "mean" if pooling.get("pooling_mode_mean_tokens") else "cls" if pooling.get("pooling_mode_cls_token") else None
        others = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v
                  and k not in ("pooling_mode_mean_tokens", "pooling_mode_cls_token")]
        if weights is None or mode is None or others:
            return None
        return cls(directory, weights, mode, int(config.get("max_seq_length") or 512))

    def fingerprint(self) -> str:
        """A hash of the weights and configuration: a retrained model gets its own export."""
        digest = hashlib.sha256(f"format {EXPORT_FORMAT}\n".encode())
        for path in (self.directory / "config.json", self.weights):
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()[:16]


def export_int8(layout: EncoderLayout, cache_dir: Path, model_name: str) -> Path:
    """The int8 ONNX file for ``layout`` under ``cache_dir``, exported now if it is not there.

    Written into a temporary folder and renamed into place, so a killed export leaves
    nothing half-written and two processes exporting at once both end with a whole file.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_name).strip("-")[-60:] or "model"
    target = Path(cache_dir) / "onnx" / f"{slug}-{layout.fingerprint()}"
    model_file = target / "model.int8.onnx"
    if model_file.exists():
        return model_file
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        log.info("exporting %s to int8 ONNX in %s (once per model)", model_name, target)
        inputs, config = _export_fp32(layout, work / "model.onnx")
        fused = _fuse(work / "model.onnx", work / "model.fused.onnx", config)
        _quantize(fused, work / "model.int8.onnx")
        for stage in work.iterdir():  # earlier stages and the quantizer's scratch files
            if stage.is_file() and stage.name != "model.int8.onnx":
                stage.unlink()
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "config.json"):
            if (layout.directory / name).exists():
                shutil.copy2(layout.directory / name, work / name)
        (work / "export.json").write_text(json.dumps({
            "model": model_name, "source": str(layout.directory), "fingerprint": layout.fingerprint(),
            "variant": ONNX_INT8, "inputs": inputs, "fused": fused.name != "model.onnx", "pooling": layout.pooling,
            "max_seq_length": layout.max_seq_length, "format": EXPORT_FORMAT,
        }, indent=2))
        try:
            os.replace(work, target)
        except OSError:  # another process finished first: its export is as good as ours
            if not model_file.exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return model_file


def _export_fp32(layout: EncoderLayout, path: Path) -> tuple[list[str], dict]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    # Eager attention exports as plain MatMul/Softmax, the pattern onnxruntime fuses into its
    # Attention operator (and then into int8 QAttention); the SDPA export is not recognised.
    model = AutoModel.from_pretrained(layout.directory, local_files_only=True, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(layout.directory, local_files_only=True)
    sample = tokenizer(["an example sentence", "and a second, longer one to pad against"],
                       padding=True, return_tensors="pt")
    names = [n for n in MODEL_INPUTS if n in sample]

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, tensors))).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "token_embeddings"]}
    with torch.no_grad():
        # The TorchScript exporter: the dynamo one needs onnxscript and gains nothing for an encoder.
        torch.onnx.export(LastHiddenState(), tuple(sample[n] for n in names), str(path), input_names=names,
                          output_names=["token_embeddings"], dynamic_axes=axes, opset_version=17, dynamo=False)
    return names, model.config.to_dict()


def _fuse(source: Path, target: Path, config: dict) -> Path:
    """``source`` with attention, layer norms and GELU fused into onnxruntime's transformer
    operators (``target``), or ``source`` itself for an architecture the fusions do not know.
    Fused, about a third more of the encoder's time is int8 (measured in docs/ingest.md)."""
    from onnxruntime.transformers import optimizer

    try:
        model = optimizer.optimize_model(str(source), model_type="bert", opt_level=1,
                                         num_heads=int(config.get("num_attention_heads") or 0),
                                         hidden_size=int(config.get("hidden_size") or 0))
        if not model.get_fused_operator_statistics().get("Attention"):
            return source
        model.save_model_to_file(str(target))
        return target
    except Exception as exc:  # an unknown graph: the plain export still quantizes
        log.info("no transformer fusions for this model (%s); quantizing the plain export", exc)
        return source


def _quantize(source: Path, target: Path) -> None:
    import contextlib

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Fused operators carry no inferred output types; FLOAT is what they produce.
    # Shape inference writes scratch files into the working directory; keep them
    # beside the target, not in whatever directory the user ran Lore from.
    source, target = source.resolve(), target.resolve()
    with contextlib.chdir(target.parent):
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": 1})


class OnnxEmbedder:
    """L2-normalised float32 embeddings from an ONNX encoder run by onnxruntime.

    Every text runs alone, unpadded, and a pool of single-threaded workers (one per core
    we may use) runs texts side by side. The int8 graph quantizes its activations with
    one scale per input tensor, so in a padded batch a text's vector depended on the
    texts beside it (cosine 0.992 to its vector alone, as far as int8 is from fp32): the
    same sentence got another vector at ingest than as a query. Alone, a text always
    gets the same vector. It is also no slower: on 2 cores, 1,500 QMSum chunks embed at
    60 a second this way against 54 in padded batches of 64 (no padding, and no
    barriers between two threads of one matrix product).
    """

    variant = ONNX_INT8

    def __init__(self, model_file: Path, model_name: str, *, batch_size: int = 64, threads: int = 0) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        export = json.loads((model_file.parent / "export.json").read_text())
        self.model_name = model_name
        self.batch_size = batch_size  # texts tokenized at a time: bounds the memory a huge call holds
        self._inputs: list[str] = export["inputs"]
        self._pooling: str = export["pooling"]
        self._max_length: int = export["max_seq_length"]
        self._tokenizer = AutoTokenizer.from_pretrained(model_file.parent, local_files_only=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # One session serves every worker: InferenceSession.run may be called from several threads.
        self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.dimension: int = int(self._session.get_outputs()[0].shape[-1])
        self._workers = ThreadPoolExecutor(threads or len(os.sched_getaffinity(0)), thread_name_prefix="lore-onnx")
        # A fast tokenizer is not safe to call from two threads at once.
        self._lock = threading.Lock()

    @classmethod
    def from_model(cls, model_name: str, directory: Path, cache_dir: Path, *, batch_size: int = 64,
                   threads: int = 0) -> "OnnxEmbedder":
        layout = EncoderLayout.read(directory)
        if layout is None:
            raise ModelLoadError(f"embedding model {model_name!r} is not a plain text encoder that Lore can export "
                                 f"to ONNX; set LORE_EMBEDDING_BACKEND=torch")
        try:
            model_file = export_int8(layout, cache_dir, model_name)
        except Exception as exc:  # torch's exporter and onnxruntime raise many kinds
            raise ModelLoadError(f"cannot export embedding model {model_name!r} to ONNX: {exc}") from exc
        return cls(model_file, model_name, batch_size=batch_size, threads=threads)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            part = list(texts[start:start + self.batch_size])
            with self._lock:
                tokens = self._tokenizer(part, truncation=True, max_length=self._max_length)
            feeds = [{name: np.asarray([tokens[name][i]], dtype=np.int64) for name in self._inputs}
                     for i in range(len(part))]
            out[start:start + len(part)] = list(self._workers.map(self._encode_one, feeds))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.ascontiguousarray(out / np.clip(norms, 1e-12, None), dtype=np.float32)

    def _encode_one(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        tokens = self._session.run(None, feed)[0]
        return self._pool(tokens, np.ones(tokens.shape[:2], dtype=np.int64))[0]  # unpadded: every token counts

    def _pool(self, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._pooling == "cls":
            return tokens[:, 0]
        weights = mask[..., None].astype(np.float32)
        return (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
