"""A client for any server that speaks OpenAI's ``/v1/chat/completions`` (vLLM, llama.cpp server, Ollama, ...)."""

from __future__ import annotations

import json
import math
import time
import unicodedata
from collections.abc import Iterator
from typing import Any, Protocol

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

from generation.backends.base import GenerationError, Message

# Statuses worth another try: the server is overloaded, restarting or rate-limiting.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class _Tokenizer(Protocol):
    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


class _RetryableStatus(Exception):
    """A response whose status says "try again"; carries the response for the final error."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        super().__init__(f"HTTP {response.status_code}")


def _retryable(exc: BaseException) -> bool:
    # Connection problems and 5xx/429 may clear up; a 4xx or a read timeout will
    # not (retrying a timed-out generation only doubles the wait).
    if isinstance(exc, _RetryableStatus):
        return True
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.TimeoutException)


def approximate_tokens(text: str) -> int:
    """About 4 characters a token for Latin text, but about one token per CJK character."""
    wide = sum(1 for ch in text if unicodedata.east_asian_width(ch) in ("W", "F"))
    return wide + math.ceil((len(text) - wide) / 4)


class OpenAICompatLLM:
    """``LLMBackend`` over HTTP. Thread-safe: httpx.Client pools connections across threads."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        tokenizer: _Tokenizer | None = None,
        max_attempts: int = 3,
        retry_wait: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        # Accept both "http://host:8000" and the OpenAI-style "http://host:8000/v1".
        root = base_url.rstrip("/")
        if root.endswith("/v1"):
            root = root[: -len("/v1")]
        self.base_url = root
        self.model = model
        self.name = f"openai:{model}"
        self.timeout = timeout
        self._tokenizer = tokenizer
        self._max_attempts = max_attempts
        self._retry_wait = retry_wait
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=root, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- interface
    def count_tokens(self, text: str) -> int:
        if self._tokenizer is not None:
            return len(self._tokenizer.encode(text, add_special_tokens=False))
        return approximate_tokens(text)

    def generate(
        self,
        messages: list[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        timeout: float | None = None,
    ) -> str:
        body = self._body(messages, max_new_tokens, temperature, stream=False)
        response = self._send(body, timeout=timeout, stream=False)
        try:
            data = response.json()
            content = data["choices"][0]["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise GenerationError(f"{self.base_url} returned an unexpected completion: {response.text[:200]}") from exc
        return str(content)

    def stream(
        self,
        messages: list[Message],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        timeout: float | None = None,
    ) -> Iterator[str]:
        deadline = None if timeout is None else time.monotonic() + timeout
        body = self._body(messages, max_new_tokens, temperature, stream=True)
        # Retries cover opening the stream only: once text has been yielded, a retry
        # would repeat it.
        response = self._send(body, timeout=timeout, stream=True)
        try:
            for line in response.iter_lines():
                piece, done = _parse_sse_line(line)
                if piece:
                    yield piece
                if done:
                    break
                # Local generation is cut off at the deadline; do the same here.
                if deadline is not None and time.monotonic() >= deadline:
                    break
        except httpx.TimeoutException as exc:
            raise GenerationError(f"{self.base_url} stopped sending within {timeout}s") from exc
        except httpx.TransportError as exc:
            raise GenerationError(f"stream from {self.base_url} broke off: {exc}") from exc
        finally:
            response.close()

    # --------------------------------------------------------------- internals
    def _body(
        self, messages: list[Message], max_new_tokens: int, temperature: float, *, stream: bool
    ) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "stream": stream,
        }

    def _send(self, body: dict[str, Any], *, timeout: float | None, stream: bool) -> httpx.Response:
        limit = self.timeout if timeout is None else timeout
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._max_attempts) | stop_after_delay(limit),
            wait=wait_exponential(multiplier=self._retry_wait, max=8.0),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(body, limit, stream=stream)
        except _RetryableStatus as exc:
            raise GenerationError(
                f"{self.base_url} answered HTTP {exc.response.status_code} after retries: {exc.response.text[:200]}"
            ) from exc
        except httpx.TimeoutException as exc:
            raise GenerationError(f"{self.base_url} did not answer within {limit}s") from exc
        except httpx.TransportError as exc:
            raise GenerationError(f"cannot reach LLM server {self.base_url}: {exc}") from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    def _attempt(self, body: dict[str, Any], limit: float, *, stream: bool) -> httpx.Response:
        request = self._client.build_request("POST", "/v1/chat/completions", json=body, timeout=limit)
        response = self._client.send(request, stream=stream)
        if response.status_code in _RETRY_STATUSES:
            response.read()
            response.close()
            raise _RetryableStatus(response)
        if response.status_code >= 400:
            response.read()
            response.close()
            raise GenerationError(
                f"{self.base_url} rejected the request: HTTP {response.status_code}: {response.text[:200]}"
            )
        return response


def _parse_sse_line(line: str) -> tuple[str, bool]:
    """One line of a ``text/event-stream``: (text piece, stream finished)."""
    if not line.startswith("data:"):
        return "", False  # blank separators, comments (": keep-alive"), event names
    payload = line[len("data:") :].strip()
    if payload == "[DONE]":
        return "", True
    try:
        chunk = json.loads(payload)
    except ValueError as exc:
        raise GenerationError(f"malformed stream event: {payload[:200]}") from exc
    if "error" in chunk:
        raise GenerationError(f"LLM server reported an error mid-stream: {chunk['error']}")
    choices = chunk.get("choices") or []
    if not choices:
        return "", False  # e.g. a final usage-only chunk
    # finish_reason does not end the stream: a usage chunk and [DONE] may follow.
    delta = choices[0].get("delta") or {}
    return str(delta.get("content") or ""), False
