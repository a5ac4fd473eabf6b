"""``Lazy``: a value built on first use, once, whichever thread asks first.

The composition root hands out lazily-built parts so a command only pays for what it
touches: listing documents never loads an embedding model, a search never loads the LLM.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._built = False
        # Re-entrant: building one part may build another through the same container.
        self._lock = threading.RLock()

    @property
    def loaded(self) -> bool:
        return self._built

    def get(self) -> T:
        if self._built:  # the common case takes no lock
            return self._value  # type: ignore[return-value]
        with self._lock:
            if not self._built:
                self._value = self._build()
                self._built = True
            return self._value  # type: ignore[return-value]

    def reset(self) -> T | None:
        """Forget the value (the next ``get`` builds it again); returns the old one, if any."""
        with self._lock:
            old, self._value, self._built = self._value, None, False
            return old
