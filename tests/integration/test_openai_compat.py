"""OpenAICompatLLM against a real HTTP server: a small OpenAI-style FastAPI app served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from core.settings import Settings
from generation.backends import GenerationError, LLMBackend, load_backend
from generation.backends.openai_compat import OpenAICompatLLM, approximate_tokens

REPLY = "Dana Reyes leads Apollo [1]."
STREAM_PIECES = ["Dana ", "Reyes ", "leads ", "Apollo ", "[1]."]


class Behaviour:
    """What the server does next; tests change it. Counts requests per model name."""

    def __init__(self) -> None:
        self.failures_left = 0  # answer 503 this many times first
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []


def make_app(behaviour: Behaviour) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request):
        body = await request.json()
        behaviour.requests.append(body)
        behaviour.headers.append(dict(request.headers))
        if behaviour.failures_left > 0:
            behaviour.failures_left -= 1
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if body["model"] == "missing":
            return JSONResponse({"error": {"message": "model not found"}}, status_code=404)
        if body["model"] == "slow":
            await asyncio.sleep(1.0)  # not time.sleep: that would stall the server for the next test
        if not body.get("stream"):
            return {
                "id": "cmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17},
            }

        def events() -> Iterator[str]:
            yield ": keep-alive\n\n"
            first = {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
            yield f"data: {json.dumps(first)}\n\n"
            for piece in STREAM_PIECES[: body["max_tokens"]]:
                chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
                if body["model"] == "slow-stream":
                    time.sleep(0.5)  # sync generators run in a worker thread
            yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})}\n\n"
            yield f"data: {json.dumps({'choices': [], 'usage': {'total_tokens': 17}})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Behaviour]]:
    behaviour = Behaviour()
    # Bind first and hand uvicorn the socket: no race for a "free" port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(make_app(behaviour), log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", behaviour
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def behaviour(server) -> Behaviour:
    behaviour = server[1]
    behaviour.failures_left = 0
    behaviour.requests.clear()
    behaviour.headers.clear()
    return behaviour


MESSAGES = [{"role": "system", "content": "Answer from sources."}, {"role": "user", "content": "Who leads Apollo?"}]


def client(server, model: str = "tiny", **kwargs) -> OpenAICompatLLM:
    return OpenAICompatLLM(server[0] + "/v1", model, api_key="sk-test", retry_wait=0.01, **kwargs)


def test_generate_sends_an_openai_request_and_returns_the_message(server, behaviour):
    with client(server) as llm:
        assert isinstance(llm, LLMBackend)
        assert llm.generate(MESSAGES, max_new_tokens=32) == REPLY
    body = behaviour.requests[-1]
    assert body == {"model": "tiny", "messages": MESSAGES, "max_tokens": 32, "temperature": 0.0, "stream": False}
    assert behaviour.headers[-1]["authorization"] == "Bearer sk-test"


def test_stream_parses_server_sent_events(server, behaviour):
    with client(server) as llm:
        pieces = list(llm.stream(MESSAGES, max_new_tokens=32))
    assert pieces == STREAM_PIECES
    assert "".join(pieces) == REPLY
    assert behaviour.requests[-1]["stream"] is True


def test_503_is_retried_then_succeeds(server, behaviour):
    behaviour.failures_left = 2
    with client(server, max_attempts=3) as llm:
        assert llm.generate(MESSAGES, max_new_tokens=8) == REPLY
    assert len(behaviour.requests) == 3


def test_stream_open_is_retried_on_503(server, behaviour):
    behaviour.failures_left = 1
    with client(server) as llm:
        assert "".join(llm.stream(MESSAGES, max_new_tokens=32)) == REPLY
    assert len(behaviour.requests) == 2


def test_persistent_503_gives_up_with_a_clear_error(server, behaviour):
    behaviour.failures_left = 10
    with client(server, max_attempts=2) as llm, pytest.raises(GenerationError, match="HTTP 503 after retries"):
        llm.generate(MESSAGES, max_new_tokens=8)
    assert len(behaviour.requests) == 2


def test_client_errors_are_not_retried(server, behaviour):
    with client(server, model="missing") as llm, pytest.raises(GenerationError, match="HTTP 404"):
        llm.generate(MESSAGES, max_new_tokens=8)
    assert len(behaviour.requests) == 1


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = OpenAICompatLLM(f"http://127.0.0.1:{port}", "tiny", retry_wait=0.01, max_attempts=3)
    started = time.monotonic()
    with pytest.raises(GenerationError, match="cannot reach LLM server"):
        llm.generate(MESSAGES, max_new_tokens=8)
    assert time.monotonic() - started < 5


def test_generate_timeout_raises(server, behaviour):
    with client(server, model="slow") as llm, pytest.raises(GenerationError, match="did not answer within"):
        llm.generate(MESSAGES, max_new_tokens=8, timeout=0.3)
    assert len(behaviour.requests) == 1  # a timed-out generation is not retried


def test_stream_is_cut_off_at_the_deadline(server, behaviour):
    with client(server, model="slow-stream") as llm:
        started = time.monotonic()
        # 1.2 s: room for the first piece on a busy machine, well short of the stream's 2.5 s.
        pieces = list(llm.stream(MESSAGES, max_new_tokens=32, timeout=1.2))
    assert 0 < len(pieces) < len(STREAM_PIECES)
    assert time.monotonic() - started < 2.2


def test_count_tokens_is_approximate_unless_a_tokenizer_is_given(server):
    assert approximate_tokens("abcdefgh") == 2
    assert approximate_tokens("阿波罗项目") == 5  # about one token per ideograph, not chars/4

    class Words:
        def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
            return list(range(len(text.split())))

    assert client(server).count_tokens("one two three four five six") == 7
    assert client(server, tokenizer=Words()).count_tokens("one two three four five six") == 6


def test_load_backend_builds_the_openai_client(server, behaviour, tmp_path, monkeypatch):
    monkeypatch.setenv("LORE_CONFIG", str(tmp_path / "absent.toml"))
    settings = Settings(llm_backend="openai", llm_base_url=server[0], llm_model="tiny", llm_api_key="k")
    backend = load_backend(settings)
    assert isinstance(backend, OpenAICompatLLM) and backend.name == "openai:tiny"
    assert backend.generate(MESSAGES, max_new_tokens=8) == REPLY
    assert behaviour.headers[-1]["authorization"] == "Bearer k"
