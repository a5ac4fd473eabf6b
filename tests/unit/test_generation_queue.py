"""Admission control for answer generation: slots, a bounded line, 503 with Retry-After past it."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import HTTPException

from api.generation_queue import GenerationQueue


async def _hold(queue: GenerationQueue, release: asyncio.Event, started: list[int], n: int) -> None:
    async with queue.slot():
        started.append(n)
        await release.wait()


def test_questions_past_the_slots_wait_and_past_the_line_are_turned_away():
    async def scenario() -> None:
        queue = GenerationQueue(slots=2, max_waiting=1)
        release, started = asyncio.Event(), []
        holders = [asyncio.create_task(_hold(queue, release, started, n)) for n in range(3)]
        await asyncio.sleep(0.01)
        assert started == [0, 1] and queue.waiting == 1  # two answered at once, the third waits

        with pytest.raises(HTTPException) as turned_away:
            queue.admit()
        assert turned_away.value.status_code == 503
        assert int(turned_away.value.headers["Retry-After"]) >= 1
        assert queue.rejected == 1

        release.set()
        await asyncio.gather(*holders)
        assert started == [0, 1, 2] and queue.waiting == 0
        queue.admit()  # the line is empty again: admitted

    asyncio.run(scenario())


def test_retry_after_grows_with_the_line_at_recent_answer_speed():
    async def scenario() -> None:
        queue = GenerationQueue(slots=1, max_waiting=10)
        for _ in range(2):
            async with queue.slot():
                await asyncio.sleep(0.05)
        release, started = asyncio.Event(), []
        holders = [asyncio.create_task(_hold(queue, release, started, n)) for n in range(5)]
        await asyncio.sleep(0.01)
        # 4 waiting, ~0.05 s an answer, 1 slot: about 0.25 s, rounded up to whole seconds.
        assert queue.waiting == 4 and queue.retry_after() == 1
        queue._seconds.extend([3.0] * queue._seconds.maxlen)  # answers have slowed to 3 s each
        assert queue.retry_after() == 15  # (4 waiting + this one) x 3 s / 1 slot
        release.set()
        await asyncio.gather(*holders)

    asyncio.run(scenario())


def test_a_cancelled_wait_leaves_the_line():
    async def scenario() -> None:
        queue = GenerationQueue(slots=1, max_waiting=1)
        release, started = asyncio.Event(), []
        holder = asyncio.create_task(_hold(queue, release, started, 0))
        waiter = asyncio.create_task(_hold(queue, release, started, 1))
        await asyncio.sleep(0.01)
        assert queue.waiting == 1
        waiter.cancel()  # the client went away while waiting
        await asyncio.sleep(0.01)
        assert queue.waiting == 0
        queue.admit()
        release.set()
        await holder
        assert started == [0]

    asyncio.run(scenario())
