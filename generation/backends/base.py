"""The seam every LLM backend implements, and the errors they share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from core.errors import LoreError

# One chat turn: {"role": "system" | "user" | "assistant", "content": "..."}.
Message = dict[str, str]


class GenerationError(LoreError):
    """The backend was reached (or loaded) but could not produce an answer."""


@runtime_checkable
class LLMBackend(Protocol):
    """A chat model. Implementations must be safe to share between threads.

    ``timeout`` is a wall-clock limit in seconds for the whole call. Backends that
    can stop mid-answer (local generation, streaming) return what they have so far;
    a non-streaming HTTP call that cannot finish in time raises ``GenerationError``.
    """

    name: str

    def generate(
        self,
        messages: list[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        timeout: float | None = None,
    ) -> str: ...

    def stream(
        self,
        messages: list[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        timeout: float | None = None,
    ) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...
