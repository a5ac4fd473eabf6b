"""LLM backends behind one ``LLMBackend`` seam, chosen by name in settings.

Each backend module is imported only when chosen, so the OpenAI-compatible client
never pulls in torch and the local backend's heavy imports cost nothing elsewhere.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from core.errors import ConfigurationError
from core.packaged_models import packaged_model_path
from core.settings import Settings
from generation.backends.base import GenerationError, LLMBackend, Message
from generation.finetune.gguf_lora import GGUF_ADAPTER

__all__ = ["GenerationError", "LLMBackend", "Message", "gguf_file_for", "load_backend"]

log = logging.getLogger(__name__)


def gguf_file_for(model: str, shared_dir: Path) -> Path | None:
    """The GGUF file ``model`` names: a .gguf path, a folder holding exactly one, or a packaged model
    shipped as GGUF (joined into ``shared_dir`` if it comes in parts). None: not a GGUF model."""
    local = Path(model).expanduser()
    if local.is_file() and local.suffix == ".gguf":
        return local
    if local.is_dir():
        ggufs = sorted(local.glob("*.gguf"))
        return ggufs[0] if len(ggufs) == 1 and not (local / "config.json").is_file() else None
    packaged = packaged_model_path(model, shared_dir)
    return packaged if packaged is not None and packaged.suffix == ".gguf" else None


def _llamacpp_plan(settings: Settings) -> tuple[Path, list[Path]] | None:
    """The GGUF and GGUF LoRA files llama.cpp should serve, or None when transformers must."""
    if settings.llm_engine == "transformers":
        return None
    adapter = settings.adapter_path
    if adapter is not None and Path(adapter).is_dir() and (Path(adapter) / GGUF_ADAPTER).is_file():
        adapter = Path(adapter) / GGUF_ADAPTER  # a `lore finetune` version: its engine copy
    gguf_adapter = adapter is not None and Path(adapter).suffix == ".gguf"
    usable = importlib.util.find_spec("xllamacpp") is not None
    gguf = gguf_file_for(settings.llm_model, settings.shared_model_dir)
    reason = ("xllamacpp is not installed" if not usable else
              f"{settings.llm_model!r} is not a GGUF model" if gguf is None else
              f"adapter {adapter} is a transformers LoRA folder, not a GGUF LoRA file"
              if adapter is not None and not gguf_adapter else None)
    if reason is None:
        return gguf, [Path(adapter)] if gguf_adapter else []  # type: ignore[list-item,return-value]
    if settings.llm_engine == "llamacpp":
        raise ConfigurationError(f"llm_engine is 'llamacpp' but {reason}")
    log.info("local LLM on transformers: %s", reason)
    return None


def load_backend(settings: Settings) -> LLMBackend:
    """Build the backend named by ``settings.llm_backend``. Loads model weights for "local"."""
    if settings.llm_backend == "local":
        plan = _llamacpp_plan(settings)
        if plan is not None:
            from generation.backends.llamacpp import LlamaCppLLM

            gguf, adapters = plan
            return LlamaCppLLM.load(gguf, name=settings.llm_model, threads=settings.llm_threads,
                                    context_tokens=settings.llm_context_window, lora_adapters=adapters)
        from generation.backends.local import LocalLLM

        return LocalLLM.from_pretrained(
            settings.llm_model,
            cache_dir=settings.model_cache_dir,
            adapter_path=settings.adapter_path,
            device=settings.llm_device,
            # Settings has no such field yet; when it gains one it is honoured here.
            allow_downloads=bool(getattr(settings, "allow_downloads", False)),
        )
    if settings.llm_backend == "openai":
        from generation.backends.openai_compat import OpenAICompatLLM

        if not settings.llm_base_url:
            raise ConfigurationError("llm_backend is 'openai' but llm_base_url is not set (LORE_LLM_BASE_URL)")
        api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return OpenAICompatLLM(
            settings.llm_base_url, settings.llm_model, api_key=api_key, timeout=settings.generation_timeout
        )
    raise ConfigurationError(f"unknown llm_backend {settings.llm_backend!r}; expected 'local' or 'openai'")
