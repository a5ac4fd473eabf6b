"""In-process generation with transformers: any causal LM by hub id or local path, optional LoRA adapter.

Where the weights come from (first match wins):

1. a local directory (a ``save_pretrained`` folder) or a local ``.gguf`` file;
2. the Hugging Face cache, for a hub id that was downloaded before;
3. a converted copy under ``cache_dir`` made by an earlier run;
4. a GGUF file shipped inside a registry package (the default SmolLM2, see
   ``core.packaged_models``): de-quantised once, saved as safetensors under
   ``cache_dir`` and loaded from there from then on.

Nothing is downloaded unless ``allow_downloads`` is set: a hub id that is not
cached raises ``ModelLoadError`` straight away instead of hanging on the network.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# torch and transformers load here, not in generation/__init__: this module is
# imported only when the local backend is chosen (see backends.load_backend).
import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
from jinja2.exceptions import TemplateError
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from core.errors import ModelLoadError
from core.packaged_models import packaged_model_path
from generation.backends import gguf_file_for
from generation.backends.base import GenerationError, Message

log = logging.getLogger(__name__)

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
CONVERSION_MANIFEST = "lore_conversion.json"

# Used only when a tokenizer has no chat template (base models): a plain transcript
# the model can continue after "Assistant:".
_FALLBACK_ROLES = {"system": "System", "user": "User", "assistant": "Assistant"}


def safe_name(model: str) -> str:
    """A directory name for ``model`` that is the same on every machine (no absolute paths in it)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "--", model.strip("/")).strip("-.") or "model"


def _gguf_cache_name(gguf: Path) -> str:
    # A user's own .gguf file: the stem for readability, plus a digest of where it
    # lives and how big it is, so two different files with one name do not collide.
    stat = gguf.stat()
    digest = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}".encode()).hexdigest()[:10]
    return f"{safe_name(gguf.stem)}-{digest}"


class _Deadline(StoppingCriteria):
    """Stops generation at a wall-clock deadline.

    transformers' own MaxTimeCriteria starts its clock when generation starts; this
    one takes an absolute deadline so time spent waiting for the lock counts against
    the caller's timeout too. ``cancel`` stops a stream whose reader went away.
    """

    def __init__(self, deadline: float | None, cancel: threading.Event) -> None:
        self.deadline = deadline
        self.cancel = cancel

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        done = self.cancel.is_set() or (self.deadline is not None and time.monotonic() >= self.deadline)
        return torch.full((input_ids.shape[0],), done, device=input_ids.device, dtype=torch.bool)


class LocalLLM:
    """A transformers causal LM behind the ``LLMBackend`` interface. One lock serialises generation."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str,
        origin: str = "memory",
        load_seconds: float = 0.0,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        #: where the weights came from: local | hub-cache | converted-cache | converted-gguf | memory
        self.origin = origin
        #: seconds from_pretrained took (including any GGUF conversion)
        self.load_seconds = load_seconds
        # generate() mutates KV caches and is not documented as thread-safe; the API
        # shares one instance between request threads, so calls take turns.
        self._lock = threading.Lock()
        self._stop_ids = self._collect_stop_ids()
        #: tokens the chat template adds around a system + user message pair and the
        #: assistant header; prompt budgeting counts message contents only.
        self.chat_overhead_tokens = self._measure_chat_overhead()

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        model: str = DEFAULT_MODEL,
        *,
        cache_dir: Path,
        adapter_path: Path | None = None,
        device: str | None = None,
        allow_downloads: bool = False,
    ) -> LocalLLM:
        """Load ``model`` (hub id, directory or .gguf file), optionally merge a LoRA adapter."""
        started = time.perf_counter()
        path, origin = _resolve(model, Path(cache_dir), allow_downloads=allow_downloads)
        device = device or _best_device()
        hf_model, tokenizer = _load_dir(path, device=device, model_label=model)
        # PEFT records the base model's ``name_or_path`` in adapter_config.json. Use
        # the configured name rather than this machine's cache path, so an adapter
        # fine-tuned here loads on any machine configured with the same model.
        canonical = str(Path(model).expanduser().resolve()) if Path(model).expanduser().exists() else model
        hf_model.config.name_or_path = canonical
        hf_model.name_or_path = canonical
        if adapter_path is not None:
            hf_model, tokenizer = _merge_adapter(
                hf_model, tokenizer, Path(adapter_path), aliases=_aliases(model, path, canonical)
            )
        elapsed = time.perf_counter() - started
        log.info("loaded LLM %s from %s (%s) on %s in %.2fs", model, path, origin, device, elapsed)
        return cls(hf_model, tokenizer, name=model, origin=origin, load_seconds=elapsed)

    @property
    def device(self) -> torch.device:
        return self.model.device

    # --------------------------------------------------------------- interface
    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def generate(
        self,
        messages: list[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        timeout: float | None = None,
    ) -> str:
        deadline = None if timeout is None else time.monotonic() + timeout
        inputs = self._encode(messages)
        kwargs = self._generation_kwargs(inputs, max_new_tokens, temperature, _Deadline(deadline, threading.Event()))
        try:
            with self._lock, torch.inference_mode():
                output = self.model.generate(**kwargs)
        except (RuntimeError, ValueError) as exc:  # e.g. CUDA out of memory, a prompt longer than the model allows
            raise GenerationError(f"generation failed: {exc}") from exc
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True)

    def stream(
        self,
        messages: list[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        timeout: float | None = None,
    ) -> Iterator[str]:
        deadline = None if timeout is None else time.monotonic() + timeout
        cancel = threading.Event()
        inputs = self._encode(messages)
        # No queue timeout on the streamer: the worker always ends the stream (generate
        # does on success, the except branch on failure) and the deadline criterion
        # bounds the generation itself.
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = self._generation_kwargs(inputs, max_new_tokens, temperature, _Deadline(deadline, cancel))
        kwargs["streamer"] = streamer
        failure: list[BaseException] = []

        def work() -> None:
            try:
                with self._lock, torch.inference_mode():
                    self.model.generate(**kwargs)
            except BaseException as exc:  # surfaced in the reader's thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=work, name="lore-llm-stream", daemon=True)
        worker.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:
            # Reached on normal end, on error, and when the reader stops early
            # (generator closed): stop generating and release the lock promptly.
            cancel.set()
            worker.join()
        if failure:
            raise GenerationError(f"generation failed: {failure[0]}") from failure[0]

    def render(self, messages: list[Message]) -> str:
        """The exact text the model reads for ``messages`` (chat template and assistant header included)."""
        return self._render(messages)

    @property
    def stop_token_id(self) -> int:
        """The token that ends an assistant turn (fine-tuning targets end with it)."""
        template_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>") if self.tokenizer.chat_template else None
        if isinstance(template_end, int) and template_end in self._stop_ids:
            return template_end
        return self._stop_ids[0] if self._stop_ids else int(self.tokenizer.eos_token_id)

    # --------------------------------------------------------------- internals
    def _collect_stop_ids(self) -> list[int]:
        # Chat models end a turn with a token that is not always the config's eos
        # (e.g. <|im_end|> vs <|endoftext|>): stop on either.
        ids: list[int] = []
        configured = self.model.generation_config.eos_token_id
        if isinstance(configured, int):
            ids.append(configured)
        elif configured:
            ids.extend(configured)
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def _measure_chat_overhead(self) -> int:
        # Templates may inject text of their own (Llama 3 adds a date header to the
        # system turn), so measure rather than assume; +2 covers merges at the edges.
        empty = [{"role": "system", "content": ""}, {"role": "user", "content": ""}]
        try:
            return self.count_tokens(self._render(empty)) + 2
        except Exception:  # templates that reject empty or system turns
            return 32

    def _render(self, messages: list[Message]) -> str:
        if self.tokenizer.chat_template:
            try:
                return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            except TemplateError:
                # Some templates (Gemma, early Mistral) refuse a system turn: fold the
                # instructions into the first user message instead.
                if len(messages) < 2 or messages[0]["role"] != "system" or messages[1]["role"] != "user":
                    raise
                merged = {"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"}
                return self.tokenizer.apply_chat_template(
                    [merged, *messages[2:]], tokenize=False, add_generation_prompt=True
                )
        lines = [f"{_FALLBACK_ROLES.get(m['role'], m['role'].title())}: {m['content']}" for m in messages]
        return "\n\n".join(lines) + "\n\nAssistant:"

    def _encode(self, messages: list[Message]) -> dict[str, torch.Tensor]:
        # The chat template already contains the special tokens it needs; letting the
        # tokenizer add its own (a second BOS) changes the model's output.
        encoded = self.tokenizer(self._render(messages), return_tensors="pt", add_special_tokens=False)
        return {key: value.to(self.model.device) for key, value in encoded.items()}

    def _generation_kwargs(
        self, inputs: dict[str, Any], max_new_tokens: int, temperature: float, deadline: _Deadline
    ) -> dict[str, Any]:
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        # Start from the model's own settings (eos ids, pad id) but decide sampling
        # here: hub configs often enable sampling by default, and answers must be
        # reproducible when temperature is 0.
        config = copy.deepcopy(self.model.generation_config)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature}
            if temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        pad_id = config.pad_token_id if config.pad_token_id is not None else self.tokenizer.pad_token_id
        config.update(
            max_new_tokens=max_new_tokens,
            eos_token_id=self._stop_ids or None,
            pad_token_id=pad_id if pad_id is not None else (self._stop_ids[0] if self._stop_ids else None),
            **sampling,
        )
        return {**inputs, "generation_config": config, "stopping_criteria": StoppingCriteriaList([deadline])}


# ---------------------------------------------------------------------- helpers
def _best_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _looks_like_path(model: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else that does not exist is a typo'd path.
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model or model.endswith(".gguf")


def _resolve(model: str, cache_dir: Path, *, allow_downloads: bool) -> tuple[Path, str]:
    """Find a directory ``from_pretrained`` can read without network access (converting a GGUF if needed)."""
    local = Path(model).expanduser()
    if local.is_file() and local.suffix == ".gguf":
        target = cache_dir / _gguf_cache_name(local)
        if (target / CONVERSION_MANIFEST).is_file():
            return target, "converted-cache"
        return convert_gguf(local, target, source=str(local.resolve())), "converted-gguf"
    if local.is_dir():
        single = gguf_file_for(model, cache_dir)  # a folder holding one GGUF and no config.json
        if single is not None:
            return _resolve(str(single), cache_dir, allow_downloads=allow_downloads)
        return local, "local"
    if _looks_like_path(model):
        raise ModelLoadError(f"LLM path {model!r} does not exist")

    cached = _hub_snapshot(model, allow_downloads=allow_downloads)
    if cached is not None:
        return cached, "hub-cache"
    target = cache_dir / safe_name(model)
    if (target / CONVERSION_MANIFEST).is_file():
        return target, "converted-cache"
    gguf = packaged_model_path(model)
    if gguf is not None and gguf.suffix == ".gguf":
        return convert_gguf(gguf, target, source=model), "converted-gguf"
    hint = "it is not in the Hugging Face cache and downloads are off" if not allow_downloads else "download failed"
    raise ModelLoadError(
        f"cannot load LLM {model!r}: {hint}. Give a local directory or .gguf file as the model, "
        f"download it beforehand (huggingface-cli download {model}), or use an OpenAI-compatible server."
    )


def _hub_snapshot(model: str, *, allow_downloads: bool) -> Path | None:
    try:
        return Path(
            snapshot_download(
                model,
                local_files_only=not allow_downloads,
                # Only what transformers needs: repos often also carry ONNX/GGUF/.bin copies.
                allow_patterns=["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "*.tiktoken", "tokenizer*"],
            )
        )
    except (LocalEntryNotFoundError, HFValidationError):
        return None
    except Exception as exc:  # network or auth failures when downloads are allowed
        log.warning("could not fetch %s from the hub: %s", model, exc)
        return None


def convert_gguf(gguf: Path, target: Path, *, source: str) -> Path:
    """De-quantise ``gguf`` into a safetensors model directory at ``target`` (atomic), and return ``target``.

    Loading a GGUF makes transformers de-quantise every tensor in Python (tens of
    seconds on a small CPU); the safetensors copy reloads in well under a second.
    """
    started = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot read GGUF model {gguf}: {exc}") from exc
    # The weights are plain float tensors by now, but the model still carries the
    # GGUF quantizer and its config entry, and save_pretrained refuses to save a
    # "quantized" model. Dropping both makes it an ordinary checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    target.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename: a crash or a concurrent run never leaves
    # a half-written directory that a later run would mistake for a finished copy.
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        manifest = {
            "source": source,
            "gguf_file": str(gguf),
            "gguf_bytes": gguf.stat().st_size,
            "convert_seconds": round(time.perf_counter() - started, 2),
        }
        (scratch / CONVERSION_MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        try:
            os.rename(scratch, target)
        except OSError:
            if not (target / CONVERSION_MANIFEST).is_file():  # not a finished copy from a concurrent run
                raise
    except OSError as exc:
        raise ModelLoadError(f"cannot write converted model to {target}: {exc}") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("converted %s to %s in %.1fs", gguf, target, time.perf_counter() - started)
    return target


def _load_dir(path: Path, *, device: str, model_label: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    # float32 on CPU: half precision is slow or unsupported there. On GPU, bf16 where
    # the card has it (same range as fp32, so no overflow), else fp16.
    if device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        # device_map places weights on the device while loading: no full CPU copy of
        # a large model first.
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, device_map=device, local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot load LLM {model_label!r} from {path}: {exc}") from exc
    model.eval()
    return model, tokenizer


def _aliases(model: str, path: Path, canonical: str) -> set[str]:
    """Names under which an adapter may have recorded this base model."""
    names = {model, canonical, str(path), str(path.resolve()), safe_name(model)}
    return {_norm_name(n) for n in names}


def _norm_name(name: str) -> str:
    return name.rstrip("/").casefold()


def _same_base(recorded: str, aliases: set[str]) -> bool:
    recorded_norm = _norm_name(recorded)
    if recorded_norm in aliases:
        return True
    # An adapter trained on another machine from that machine's converted cache
    # records an absolute path ending in the machine-independent cache folder name.
    is_path = recorded.count("/") > 1 or "\\" in recorded
    return is_path and _norm_name(Path(recorded).name) in aliases


def _merge_adapter(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, adapter_path: Path, *, aliases: set[str]
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from peft import PeftConfig, PeftModel  # only needed with an adapter

    if not (adapter_path / "adapter_config.json").is_file():
        raise ModelLoadError(f"{adapter_path} is not a PEFT adapter directory (no adapter_config.json)")
    try:
        config = PeftConfig.from_pretrained(str(adapter_path))
    except Exception as exc:
        raise ModelLoadError(f"cannot read adapter config in {adapter_path}: {exc}") from exc
    recorded = config.base_model_name_or_path
    if recorded and not _same_base(recorded, aliases):
        raise ModelLoadError(
            f"adapter {adapter_path} was trained on base model {recorded!r}, "
            f"but the configured LLM is {model.name_or_path!r}; configure that model or another adapter"
        )
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter_path), is_trainable=False)
        # Folding the LoRA deltas into the base weights removes the adapter's extra
        # matmuls from every forward pass.
        merged = peft_model.merge_and_unload()
    except Exception as exc:  # shape mismatches surface here as RuntimeError
        raise ModelLoadError(f"cannot apply adapter {adapter_path}: {exc}") from exc
    merged.eval()
    # Fine-tuning may change the chat template or add tokens; a tokenizer saved with
    # the adapter wins.
    if (adapter_path / "tokenizer_config.json").is_file():
        try:
            tokenizer = AutoTokenizer.from_pretrained(adapter_path, local_files_only=True)
        except Exception as exc:
            raise ModelLoadError(f"cannot load the tokenizer saved with adapter {adapter_path}: {exc}") from exc
    return merged, tokenizer
