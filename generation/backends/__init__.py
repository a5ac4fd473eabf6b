"""LLM backends behind one ``LLMBackend`` seam, chosen by name in settings.

Each backend module is imported only when chosen, so the OpenAI-compatible client
never pulls in torch and the local backend's heavy imports cost nothing elsewhere.
"""

from __future__ import annotations

from core.errors import ConfigurationError
from core.settings import Settings
from generation.backends.base import GenerationError, LLMBackend, Message

__all__ = ["GenerationError", "LLMBackend", "Message", "load_backend"]


def load_backend(settings: Settings) -> LLMBackend:
    """Build the backend named by ``settings.llm_backend``. Loads model weights for "local"."""
    if settings.llm_backend == "local":
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
