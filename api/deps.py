"""FastAPI dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.enrichment import EnrichmentRunner
from api.jobs import JobRunner, JobStore
from api.keys import ApiKey, KeyStore
from api.limits import RateLimiter
from api.service import LoreService
from core.settings import Settings


def get_service(request: Request) -> LoreService:
    return request.app.state.service


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_keys(request: Request) -> KeyStore:
    return request.app.state.keys


def get_jobs(request: Request) -> JobStore:
    return request.app.state.jobs


def get_runner(request: Request) -> JobRunner:
    return request.app.state.runner


def get_enrichment(request: Request) -> EnrichmentRunner:
    return request.app.state.enrichment


ServiceDep = Annotated[LoreService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
JobsDep = Annotated[JobStore, Depends(get_jobs)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
EnrichmentDep = Annotated[EnrichmentRunner, Depends(get_enrichment)]

_bearer = HTTPBearer(auto_error=False, description="An API key from `lore keys create`.")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key from `lore keys create`.")

# Who calls when authentication is switched off and no key is sent: every scope, every collection.
ANONYMOUS = ApiKey(id="anonymous", name="anonymous", scopes=("admin",), collections=None)


def current_key(
    request: Request,
    settings: SettingsDep,
    keys: KeysDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> ApiKey:
    """The caller's key (checked against the store), rate-limited per key."""
    secret = bearer.credentials if bearer is not None else header
    limiter: RateLimiter = request.app.state.limiter
    if secret is None:
        if settings.auth_required:
            raise HTTPException(
                status_code=401,
                detail="missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'; "
                "an administrator creates keys with `lore keys create`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        limiter.check(f"addr:{request.client.host if request.client else 'unknown'}")
        return ANONYMOUS
    key = keys.authenticate(secret)
    if key is None:
        raise HTTPException(
            status_code=401, detail="unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    limiter.check(f"key:{key.id}")
    return key


def require(scope: str):
    """A dependency that lets the request through only for keys with ``scope``."""

    def dependency(key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
        if not key.allows(scope):
            raise HTTPException(status_code=403, detail=f"this API key lacks the '{scope}' scope")
        return key

    return dependency


ReadKey = Annotated[ApiKey, Depends(require("read"))]


IngestKey = Annotated[ApiKey, Depends(require("ingest"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]


def effective_collections(key: ApiKey, requested: list[str] | None) -> list[str] | None:
    """The collections a request may read: the key's, narrowed by the request (None: all)."""
    if requested is None:
        return list(key.collections) if key.collections is not None else None
    outside = [c for c in requested if not key.sees(c)]
    if outside:
        raise HTTPException(status_code=403, detail=f"this API key cannot read collection(s): {', '.join(outside)}")
    return list(dict.fromkeys(requested))
