from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter
from sse_starlette import EventSourceResponse

from api.deps import ReadKey, ServiceDep, effective_collections
from api.problems import problem_responses
from api.schemas import AskRequest, AskResponse
from core.errors import LoreError
from core.types import Answer

router = APIRouter(prefix="/v1", tags=["ask"], responses=problem_responses(401, 403, 413, 422, 429))

STREAM_DESCRIPTION = """Server-sent events: `event: token` with `{"text": "..."}` for each piece of the
answer as it is generated, then one `event: answer` whose data is the full answer object
(the same shape as `POST /v1/ask`: citations, passages, facts, timings). A failure after
the stream has started arrives as `event: error` with a problem details object."""


# A plain ``def``: FastAPI runs it in a worker thread, so generation never blocks the event loop.
@router.post("/ask", response_model=AskResponse)
def ask(request: AskRequest, service: ServiceDep, key: ReadKey) -> AskResponse:
    """Answer a question from retrieved passages and graph facts, citing sources as [n]."""
    collections = effective_collections(key, request.collections)
    return AskResponse.of(service.ask(request.question, request.top_k, collections=collections))


@router.post(
    "/ask/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": STREAM_DESCRIPTION}},
)
def ask_stream(request: AskRequest, service: ServiceDep, key: ReadKey) -> EventSourceResponse:
    """Answer a question as a stream of server-sent events: tokens, then the answer with citations."""
    collections = effective_collections(key, request.collections)

    # A sync generator: sse-starlette iterates it in a worker thread, one piece at a time.
    def events() -> Iterator[dict]:
        try:
            for piece in service.ask_stream(request.question, request.top_k, collections=collections):
                if isinstance(piece, Answer):
                    yield {"event": "answer", "data": AskResponse.of(piece).model_dump_json()}
                else:
                    yield {"event": "token", "data": json.dumps({"text": piece}, ensure_ascii=False)}
        except LoreError as exc:
            # Headers are gone once the stream starts: report the failure in-band.
            problem = {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": str(exc)}
            yield {"event": "error", "data": json.dumps(problem)}

    return EventSourceResponse(events(), ping=15)
