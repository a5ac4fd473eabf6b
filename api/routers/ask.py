from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, HTTPException, Request
from sse_starlette import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.deps import ReadKey, ServiceDep, effective_collections
from api.problems import problem_responses
from api.schemas import AskRequest, AskResponse
from core.errors import LoreError
from core.types import Answer

router = APIRouter(prefix="/v1", tags=["ask"], responses=problem_responses(401, 403, 413, 422, 429, 503))

STREAM_DESCRIPTION = """Server-sent events: `event: token` with `{"text": "..."}` for each piece of the
answer as it is generated, then one `event: answer` whose data is the full answer object
(the same shape as `POST /v1/ask`: citations, passages, facts, timings). A failure after
the stream has started arrives as `event: error` with a problem details object."""


@router.post("/ask", response_model=AskResponse)
async def ask(body: AskRequest, request: Request, service: ServiceDep, key: ReadKey) -> AskResponse:
    """Answer a question from retrieved passages and graph facts, citing sources as [n]."""
    collections = effective_collections(key, body.requested_collections())
    queue = request.app.state.generation_queue
    queue.admit()  # 503 + Retry-After when the line for answer slots is full
    async with queue.slot():
        if await request.is_disconnected():
            # The client gave up while the question waited for a slot: a generation nobody reads would
            # only lengthen the queue for those still waiting (and hold up a graceful shutdown).
            raise HTTPException(status_code=503, detail="the client disconnected before the question was answered")
        # Retrieval and generation block: they run in a worker thread, never on the event loop.
        answer = await run_in_threadpool(service.ask, body.query(collections), body.turns())
    return AskResponse.of(answer)


@router.post(
    "/ask/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": STREAM_DESCRIPTION}},
)
async def ask_stream(body: AskRequest, request: Request, service: ServiceDep, key: ReadKey) -> EventSourceResponse:
    """Answer a question as a stream of server-sent events: tokens, then the answer with citations."""
    collections = effective_collections(key, body.requested_collections())
    queue = request.app.state.generation_queue
    queue.admit()  # before the stream starts, while the response can still be a 503

    def pieces() -> Iterator[dict]:
        try:
            for piece in service.ask_stream(body.query(collections), body.turns()):
                if isinstance(piece, Answer):
                    yield {"event": "answer", "data": AskResponse.of(piece).model_dump_json()}
                else:
                    yield {"event": "token", "data": json.dumps({"text": piece}, ensure_ascii=False)}
        except LoreError as exc:
            # Headers are gone once the stream starts: report the failure in-band.
            problem = {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": str(exc)}
            yield {"event": "error", "data": json.dumps(problem)}

    async def events() -> AsyncIterator[dict]:
        # The slot is released when the stream ends or the client goes away (cancellation).
        async with queue.slot():
            async for event in iterate_in_threadpool(pieces()):
                yield event

    return EventSourceResponse(events(), ping=15)
