"""Request limits: body size (checked before any parsing) and per-key rate limiting."""

from __future__ import annotations

import math
import time

from fastapi import HTTPException
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response

UPLOAD_PATH = "/v1/documents"


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Rejects bodies over the limit with 413: by Content-Length up front, else while streaming.

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
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._reject(scope, send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, send, limit)

    @staticmethod
    async def _reject(scope: Scope, send: Send, limit: int) -> None:
        response = problem_response(413, f"request body larger than {limit} bytes", instance=scope["path"])
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
