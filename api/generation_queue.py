"""Admission control for answer generation: a few answers at a time, a bounded line behind them.

Generation is CPU/GPU-bound: a few at a time use the hardware as well as many. Questions
waiting for a slot wait on an asyncio semaphore, so they hold no worker thread and
retrieval-only requests keep being served. The line is bounded: past ``max_waiting``
a question is turned away at once with 503 and a ``Retry-After`` estimated from recent
answer times, instead of waiting minutes until the client's own timeout gives up on it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import HTTPException


class GenerationQueue:
    """At most ``slots`` answers generated at once and ``max_waiting`` questions waiting for a slot."""

    def __init__(self, slots: int, max_waiting: int, *, recent: int = 20) -> None:
        self.slots = slots
        self.max_waiting = max_waiting
        self._semaphore = asyncio.Semaphore(slots)
        self._waiting = 0
        self._seconds: deque[float] = deque(maxlen=recent)  # durations of the last answers
        self.rejected = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    def retry_after(self) -> int:
        """Seconds until a slot is likely free for a new question: the line ahead of it at recent speed."""
        per_answer = sum(self._seconds) / len(self._seconds) if self._seconds else 10.0
        return max(1, math.ceil(per_answer * (self._waiting + 1) / self.slots))

    def admit(self) -> None:
        """Raise 503 with ``Retry-After`` when every slot is busy and the line is full.

        Called while the response can still carry a status: before a stream starts.
        """
        if self._semaphore.locked() and self._waiting >= self.max_waiting:
            self.rejected += 1
            raise HTTPException(
                status_code=503,
                detail=f"{self._waiting} questions are already waiting for an answer slot; retry later",
                headers={"Retry-After": str(self.retry_after())},
            )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a generation slot and hold it for the body of the ``async with``."""
        self._waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self._waiting -= 1
        started = time.perf_counter()
        try:
            yield
        finally:
            self._seconds.append(time.perf_counter() - started)
            self._semaphore.release()
