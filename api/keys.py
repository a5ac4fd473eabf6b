"""API keys: created by ``lore keys create``, stored hashed in SQLite, shown once.

A key is ``lore_<id>_<secret>`` with 256 bits of randomness in the secret, so a
plain sha256 of the whole key is a safe verifier at rest (no password-style
stretching is needed for random keys); the id part lets ``lore keys revoke``
name a key without knowing it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone

from storage.sqlite import SqliteStore

SCOPES = ("read", "ingest", "admin")
KEY_PREFIX = "lore_"
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    collections  TEXT,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);
"""


def validate_collection(name: str) -> str:
    if not COLLECTION_NAME.match(name):
        raise ValueError(
            f"invalid collection name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ApiKey:
    """Who is calling: the scopes a key grants and the collections it may see (None: all)."""

    id: str
    name: str
    scopes: tuple[str, ...]
    collections: tuple[str, ...] | None
    created_at: str = ""
    revoked_at: str | None = None

    def allows(self, scope: str) -> bool:
        # admin implies every other scope.
        return scope in self.scopes or "admin" in self.scopes

    def sees(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections


class KeyStore(SqliteStore):
    """API keys in SQLite."""

    schema = SCHEMA

    def create(self, name: str, scopes: list[str], collections: list[str] | None = None) -> tuple[ApiKey, str]:
        """A new key and its secret; the secret is not stored and cannot be shown again."""
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise ValueError(f"scopes must be a non-empty subset of {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}")
        if collections is not None:
            collections = [validate_collection(c) for c in dict.fromkeys(collections)]
            if not collections:
                raise ValueError("collections, when given, must name at least one collection")
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(
            id=key_id,
            name=name,
            scopes=tuple(s for s in SCOPES if s in scopes),
            collections=tuple(collections) if collections is not None else None,
            created_at=_now(),
        )
        with self._lock:
            self.conn.execute(
                "INSERT INTO api_keys (id, name, key_hash, scopes, collections, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.name,
                    _hash(secret),
                    json.dumps(list(record.scopes)),
                    json.dumps(list(record.collections)) if record.collections is not None else None,
                    record.created_at,
                ),
            )
        return record, secret

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key matching ``secret``, or None."""
        if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            return None
        with self._lock:
            row = self.conn.execute(
                "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (_hash(secret),)
            ).fetchone()
        return self._record(row) if row else None

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self.conn.execute("SELECT * FROM api_keys ORDER BY created_at, id").fetchall()
        return [self._record(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            cursor = self.conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (_now(), key_id)
            )
        return cursor.rowcount > 0

    def active_count(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL").fetchone()[0])

    @staticmethod
    def _record(row: sqlite3.Row) -> ApiKey:
        collections = json.loads(row["collections"]) if row["collections"] is not None else None
        return ApiKey(
            id=row["id"],
            name=row["name"],
            scopes=tuple(json.loads(row["scopes"])),
            collections=tuple(collections) if collections is not None else None,
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )
