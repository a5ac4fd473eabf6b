"""One LLM backend for the whole process, loaded on first use.

The answerer, the abstractive minutes engine and the LLM entity extractor all ask the
provider, so the model's weights are in memory once however many parts use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.lazy import Lazy
from core.settings import Settings
from generation.backends import load_backend
from generation.backends.base import LLMBackend, Message
from generation.finetune.registry import AdapterRegistry


class BackendProvider:
    """The configured backend (``llm_backend``), with the active ``lore finetune`` adapter when the
    local model has no ``adapter_path`` of its own. ``reset()`` forgets it: the next use loads it
    again, with whatever adapter is active then.

    The provider is itself a backend (``generate``/``stream``/``count_tokens`` delegate), so a part
    can be given it at start-up and the model still loads only when that part first generates.
    """

    def __init__(self, settings: Settings, adapters: AdapterRegistry | None = None) -> None:
        self.settings = settings
        self.adapters = adapters
        self._backend: Lazy[LLMBackend] = Lazy(lambda: load_backend(self._resolved_settings()))

    @property
    def name(self) -> str:
        return self.get().name

    @property
    def loaded(self) -> bool:
        return self._backend.loaded

    def get(self) -> LLMBackend:
        return self._backend.get()

    def reset(self) -> None:
        self._backend.reset()

    def _resolved_settings(self) -> Settings:
        s = self.settings
        if s.llm_backend == "local" and s.adapter_path is None and self.adapters is not None:
            # LORE_ADAPTER_PATH wins; otherwise the active `lore finetune` adapter, merged.
            return s.model_copy(update={"adapter_path": self.adapters.active_path(s.llm_model)})
        return s

    # ---- LLMBackend, by delegation -------------------------------------------------------
    def generate(self, messages: list[Message], *, max_new_tokens: int, temperature: float = 0.0,
                 timeout: float | None = None) -> str:
        return self.get().generate(messages, max_new_tokens=max_new_tokens, temperature=temperature, timeout=timeout)

    def stream(self, messages: list[Message], *, max_new_tokens: int, temperature: float = 0.0,
               timeout: float | None = None) -> Iterator[str]:
        return self.get().stream(messages, max_new_tokens=max_new_tokens, temperature=temperature, timeout=timeout)

    def count_tokens(self, text: str) -> int:
        return self.get().count_tokens(text)

    @property
    def constrains_output(self) -> bool:
        """Whether the backend holds its output to a JSON Schema by grammar (llama.cpp does)."""
        return callable(getattr(self.get(), "generate_json", None))

    def generate_json(self, messages: list[Message], schema: dict, *, max_new_tokens: int,
                      timeout: float | None = None) -> Any:
        """An answer held to ``schema`` (JSON Schema) by the engine's grammar, parsed; ``TypeError``
        from a backend that cannot constrain (ask ``constrains_output`` first)."""
        constrained = getattr(self.get(), "generate_json", None)
        if not callable(constrained):
            raise TypeError(f"{self.name} cannot constrain its output to a schema")
        return constrained(messages, schema, max_new_tokens=max_new_tokens, timeout=timeout)
