"""OpenAI-compatible chat: `GET /v1/models` and `POST /v1/chat/completions`.

Chat front ends (Open WebUI, LibreChat), the `openai` SDK and LangChain's `ChatOpenAI` talk to
Lore as to a model. The last user message is the question; the turns before it are the
conversation a follow-up is rewritten against. Keys, scopes, collections, rate limits and the
answer queue are those of `/v1/ask`: this is another wire format for the same answer.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.deps import ReadKey, ServiceDep, effective_collections
from api.keys import ApiKey
from api.problems import problem_responses
from api.schemas import MAX_HISTORY_TURNS, MAX_QUESTION_CHARS, CitationOut, CollectionName, FactOut, RetrievalMode
from core.errors import LoreError
from core.types import Answer
from generation.followup import Turn
from retrieval.query import Query

router = APIRouter(prefix="/v1", tags=["openai-compatible"], responses=problem_responses(401, 403, 422, 429, 503))

MODEL = "lore"  # every collection the key sees; "lore/<collection>" reads one collection


# ---- wire models --------------------------------------------------------------------------------
class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "lore"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, ...: accepted, not used

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    # Clients send OpenAI fields Lore has no use for (temperature: Lore answers greedily, for
    # answers that are the same each time; max_tokens: the server's answer length holds): accepted.
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"model": "lore", "messages": [{"role": "user", "content": "Who leads the Platform team?"}]}]},
    )

    model: str = Field(examples=[MODEL], description="`lore`, or `lore/<collection>` to read one collection.")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_HISTORY_TURNS + 1)
    stream: bool = False
    stream_options: dict | None = Field(default=None, description="`{\"include_usage\": true}` adds usage to the last chunk.")
    collections: list[CollectionName] | None = Field(
        default=None, min_length=1, max_length=50, description="Lore extension: read only these collections."
    )
    mode: RetrievalMode | None = Field(default=None, description="Lore extension: dense, sparse, graph or hybrid.")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class LoreDetails(BaseModel):
    question: str = Field(description="The question retrieval used: a follow-up rewritten to stand alone.")
    abstained: bool
    abstention_rule: str | None
    facts: list[FactOut]
    timings: dict[str, float]


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[CitationOut] = Field(description="The sources the [n] markers in the message cite.")
    lore: LoreDetails


# ---- the request as a Lore question -------------------------------------------------------------
def _collections(body: ChatCompletionRequest, key: ApiKey) -> list[str] | None:
    if body.model == MODEL:
        requested = body.collections
    elif body.model.startswith(MODEL + "/") and len(body.model) > len(MODEL) + 1:
        named = body.model[len(MODEL) + 1:]
        if body.collections is not None and named not in body.collections:
            raise HTTPException(status_code=422, detail=f"model {body.model!r} reads {named!r}, not one of the collections asked for")
        requested = [named]
    else:
        raise HTTPException(status_code=404, detail=f"no model {body.model!r}: GET /v1/models lists them")
    return effective_collections(key, requested)


def _question(body: ChatCompletionRequest, collections: list[str] | None) -> tuple[Query, list[Turn]]:
    """The last user message as the query, the user and assistant turns before it as history."""
    last = max((i for i, m in enumerate(body.messages) if m.role == "user"), default=None)
    if last is None or not body.messages[last].text().strip():
        raise HTTPException(status_code=422, detail="messages: no user message with text to answer")
    question = body.messages[last].text().strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise HTTPException(status_code=422, detail=f"messages: the question is longer than {MAX_QUESTION_CHARS} characters")
    history = [Turn(m.role, m.text()) for m in body.messages[:last] if m.role in ("user", "assistant") and m.text().strip()]
    return Query(text=question, mode=body.mode, collections=collections), history


def _sources_footer(answer: Answer) -> str:
    """The cited sources under the answer, for chat front ends that show only the message text."""
    seen: dict[int, str] = {}
    for citation in answer.citations:
        seen.setdefault(citation.number, citation.source)
    if not seen:
        return ""
    return "\n\nSources:\n" + "\n".join(f"[{n}] {source}" for n, source in sorted(seen.items()))


def _usage(answer: Answer) -> Usage:
    prompt, completion = int(answer.timings.get("prompt_tokens", 0)), int(answer.timings.get("completion_tokens", 0))
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _details(answer: Answer) -> LoreDetails:
    return LoreDetails(question=answer.question, abstained=answer.abstained, abstention_rule=answer.abstention_rule,
                       facts=[FactOut.of(f) for f in answer.facts], timings=answer.timings)


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


# ---- routes -------------------------------------------------------------------------------------
@router.get("/models", response_model=ModelList)
def list_models(service: ServiceDep, key: ReadKey) -> ModelList:
    """`lore` (every collection the key sees) and `lore/<collection>` for each of them."""
    visible = effective_collections(key, None)
    collections = sorted({r.collection for r in service.documents(visible)} | set(visible or []))
    created = int(service.settings.data_dir.stat().st_mtime) if service.settings.data_dir.exists() else 0
    return ModelList(data=[ModelCard(id=MODEL, created=created),
                           *(ModelCard(id=f"{MODEL}/{c}", created=created) for c in collections)])


STREAM_DESCRIPTION = """With `"stream": true`: OpenAI's server-sent events, `data: {chat.completion.chunk}` with
the answer's text as `choices[0].delta.content` while it is generated, then a chunk listing the
cited sources, a last chunk with `finish_reason`, `citations` and `lore` (and `usage` when
`stream_options.include_usage` is set), then `data: [DONE]`."""


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={200: {"content": {"text/event-stream": {}}, "description": STREAM_DESCRIPTION}},
)
async def chat_completions(body: ChatCompletionRequest, request: Request, service: ServiceDep, key: ReadKey):
    """Answer the last user message from the knowledge base, with [n] citations, as an OpenAI chat completion."""
    query, history = _question(body, _collections(body, key))
    queue = request.app.state.generation_queue
    queue.admit()  # 503 + Retry-After when the line for answer slots is full
    created, completion_id = int(time.time()), _completion_id()
    if not body.stream:
        async with queue.slot():
            answer = await run_in_threadpool(service.ask, query, history)
        content = answer.text + _sources_footer(answer)
        return ChatCompletion(id=completion_id, created=created, model=body.model,
                              choices=[Choice(message=AssistantMessage(content=content))], usage=_usage(answer),
                              citations=[CitationOut.of(c) for c in answer.citations], lore=_details(answer))
    include_usage = bool((body.stream_options or {}).get("include_usage"))

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": body.model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    def pieces() -> Iterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            for piece in service.ask_stream(query, history):
                if not isinstance(piece, Answer):
                    yield chunk({"content": piece})
                    continue
                # The streamed text is the model's; the answer's markers may have moved to the source
                # that holds the sentence (grounding), so the citations below are the checked ones.
                if footer := _sources_footer(piece):
                    yield chunk({"content": footer})
                extra = {"citations": [CitationOut.of(c).model_dump() for c in piece.citations],
                         "lore": _details(piece).model_dump()}
                if include_usage:
                    extra["usage"] = _usage(piece).model_dump()
                yield chunk({}, "stop", **extra)
        except LoreError as exc:
            # Headers are gone once the stream starts: the failure is reported in-band, as OpenAI does.
            yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n"
        yield "data: [DONE]\n\n"

    async def events() -> AsyncIterator[str]:
        async with queue.slot():  # released when the stream ends or the client goes away
            async for event in iterate_in_threadpool(pieces()):
                yield event

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
