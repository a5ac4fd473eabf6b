"""Request limits: body size (checked before any parsing) and per-key rate limiting."""

from __future__ import annotations

import math
import re
import time

from fastapi import HTTPException
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response

UPLOAD_PATH = "/v1/documents"


# JSON deeper than this is refused before it is parsed: no request Lore takes nests past a few
# levels, and the parser's recursion on a body of a million "[" is a cheap way to burn a worker.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class _TooLarge(Exception):
    pass


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` (JSON) nests arrays and objects deeper than ``limit``; strings are skipped."""
    depth = 0
    for bracket in _JSON_STRING.sub(b'""', body).translate(None, _NOT_BRACKETS):
        depth += 1 if bracket in b"[{" else -1
        if depth > limit:
            return True
    return False


class BodySizeLimit:
    """Rejects bodies over the limit with 413 (by Content-Length up front, else while streaming, as
    with a chunked body) and JSON bodies nested deeper than ``MAX_JSON_DEPTH`` with 422.

    Uploads (POST /v1/documents) get their own, larger limit; every other body the JSON limit.
    """

    def __init__(self, app: ASGIApp, max_request_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        path = scope["path"].rstrip("/")
        limit = self.max_upload_bytes if path == UPLOAD_PATH else self.max_request_bytes
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _reject(scope, send, 413, f"request body larger than {limit} bytes")
            return
        if path != UPLOAD_PATH and headers.get(b"content-type", b"").split(b";")[0].strip().endswith(b"json"):
            await self._json(scope, receive, send, limit)
            return
        await self._streamed(scope, receive, send, limit)

    async def _json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """A JSON body is small: read it whole (within the limit), check its depth, then hand it on."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(message, receive), send)
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _reject(scope, send, 413, f"request body larger than {limit} bytes")
                return
            if not message.get("more_body", False):
                break
        if json_depth_exceeds(bytes(body)):
            await _reject(scope, send, 422, f"JSON body nested deeper than {MAX_JSON_DEPTH} levels")
            return
        whole = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay(whole, receive), send)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # The framework turns an error raised while it reads the body into its own 400;
            # the client is owed the 413 instead.
            if exceeded:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _reject(scope, send, 413, f"request body larger than {limit} bytes")
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            if not started:
                await _reject(scope, send, 413, f"request body larger than {limit} bytes")


def _replay(first: Message, receive: Receive) -> Receive:
    """A ``receive`` that gives the message already read, then the client's own messages: the app
    still learns of a disconnect when it happens, not before."""
    replayed = False

    async def replaying_receive() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return first
        return await receive()

    return replaying_receive


async def _reject(scope: Scope, send: Send, status: int, detail: str) -> None:
    response = problem_response(status, detail, instance=scope["path"])
    await response(scope, lambda: None, send)  # type: ignore[arg-type]


class RateLimiter:
    """A moving-window limit per caller (API key id, or client address without a key)."""

    def __init__(self, rate: str) -> None:
        self.item = parse_limit(rate) if rate.strip() else None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, caller: str) -> None:
        if self.item is None:
            return
        if not self.limiter.hit(self.item, caller):
            reset, _ = self.limiter.get_window_stats(self.item, caller)
            retry_after = max(1, math.ceil(reset - time.time()))
            raise HTTPException(
                status_code=429,
                detail=f"rate limit of {self.item} exceeded; retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
