"""API keys, for administrators: the same store as `lore keys`, so the web app's admin page can manage them."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from api.deps import AdminKey, KeysDep
from api.problems import problem_responses
from api.schemas import KeyCreate, KeyCreated, KeyOut

router = APIRouter(prefix="/v1/keys", tags=["admin"], responses=problem_responses(401, 403, 429))


@router.get("", response_model=list[KeyOut])
def list_keys(keys: KeysDep, key: AdminKey) -> list[KeyOut]:
    """Every key, revoked ones included (secrets are never stored, so never shown)."""
    return [KeyOut.of(k) for k in keys.list()]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated, responses=problem_responses(422))
def create_key(body: KeyCreate, keys: KeysDep, key: AdminKey) -> KeyCreated:
    """A new key; its secret is in this response only."""
    try:
        record, secret = keys.create(body.name, list(body.scopes), body.collections)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return KeyCreated(**KeyOut.of(record).model_dump(), secret=secret)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404))
def revoke_key(key_id: str, keys: KeysDep, key: AdminKey) -> Response:
    """Revoke a key at once: requests with it get 401 from now on."""
    if not keys.revoke(key_id):
        raise HTTPException(status_code=404, detail=f"no active key with id {key_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
