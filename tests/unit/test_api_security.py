"""Pure pieces of the API's security: file-name checks, key storage, collection scoping, metadata migration."""

from __future__ import annotations

import io
import sqlite3

import pytest
from fastapi import HTTPException, UploadFile

from api.deps import effective_collections
from api.keys import ApiKey, KeyStore
from api.routers.documents import _write_new, safe_file_name
from storage.metadata import SqliteMetadataStore


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../../etc/passwd.md", "path"),
        ("/etc/passwd.md", "path"),
        ("a\\..\\b.md", "path"),
        ("..", "hidden"),
        (".env.md", "hidden"),
        (" padded.md", "space"),
        ("bell\x07.md", "control"),
        ("x" * 300 + ".md", "longer"),
        ("payload.exe", "unsupported"),
        ("noextension", "unsupported"),
        ("", "no file name"),
        (None, "no file name"),
    ],
)
def test_unsafe_file_names_are_rejected_with_a_reason(name, reason):
    with pytest.raises(ValueError, match=reason):
        safe_file_name(name)


def test_plain_names_pass_unchanged():
    assert safe_file_name("Minutes 2026-03-01.md") == "Minutes 2026-03-01.md"
    assert safe_file_name("會議記錄.txt") == "會議記錄.txt"


def test_upload_writes_never_follow_a_symlink(tmp_path):
    folder, outside = tmp_path / "job", tmp_path / "outside.md"
    folder.mkdir()
    outside.write_text("keep")
    (folder / "notes.md").symlink_to(outside)
    (folder / "fresh.md").symlink_to(tmp_path / "created-through-link.md")  # a dangling link
    for name in ("notes.md", "fresh.md"):
        with pytest.raises((OSError, ValueError)):
            _write_new(folder, name, UploadFile(io.BytesIO(b"overwritten")))
    assert outside.read_text() == "keep" and not (tmp_path / "created-through-link.md").exists()
    assert _write_new(folder, "plain.md", UploadFile(io.BytesIO(b"hello"))) == 5
    assert (folder / "plain.md").read_bytes() == b"hello" and not (folder / "plain.md").is_symlink()


def test_keys_are_stored_hashed_and_revocable(tmp_path):
    with KeyStore(tmp_path / "api.sqlite3") as store:
        record, secret = store.create("ci", ["read", "ingest"], ["alpha"])
        assert store.authenticate(secret) == record
        assert store.authenticate(secret + "x") is None
        assert store.authenticate("not-a-key") is None
        assert store.revoke(record.id) and not store.revoke(record.id)
        assert store.authenticate(secret) is None
        assert store.active_count() == 0
    assert secret.encode() not in (tmp_path / "api.sqlite3").read_bytes()
    with KeyStore(tmp_path / "api.sqlite3") as store:
        with pytest.raises(ValueError, match="scopes"):
            store.create("x", ["root"])
        with pytest.raises(ValueError, match="collection"):
            store.create("x", ["read"], ["../etc"])


def test_admin_implies_every_scope_but_not_every_collection():
    key = ApiKey(id="k", name="k", scopes=("admin",), collections=("alpha",))
    assert key.allows("read") and key.allows("ingest")
    assert key.sees("alpha") and not key.sees("beta")


def test_effective_collections_narrow_and_refuse():
    limited = ApiKey(id="k", name="k", scopes=("read",), collections=("alpha", "gamma"))
    unlimited = ApiKey(id="u", name="u", scopes=("read",), collections=None)
    assert effective_collections(limited, None) == ["alpha", "gamma"]
    assert effective_collections(limited, ["gamma"]) == ["gamma"]
    assert effective_collections(unlimited, None) is None
    assert effective_collections(unlimited, ["beta"]) == ["beta"]
    with pytest.raises(HTTPException) as refused:
        effective_collections(limited, ["alpha", "beta"])
    assert refused.value.status_code == 403 and "beta" in refused.value.detail


def test_metadata_store_adds_the_collection_column_to_an_old_database(tmp_path):
    path = tmp_path / "lore.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """CREATE TABLE documents (id TEXT PRIMARY KEY, source TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
           kind TEXT NOT NULL, language TEXT NOT NULL, content_hash TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}',
           text TEXT NOT NULL DEFAULT '', graph_synced INTEGER NOT NULL DEFAULT 0, ingested_at TEXT NOT NULL);
           INSERT INTO documents (id, source, title, kind, language, content_hash, ingested_at)
           VALUES ('doc_1', '/a.md', 'A', 'document', 'en', 'h', '2026-01-01');"""
    )
    old.commit()
    old.close()
    store = SqliteMetadataStore(path).open()
    try:
        assert [d.collection for d in store.documents()] == ["default"]
        assert [d.id for d in store.documents(["default"])] == ["doc_1"]
        assert store.documents(["other"]) == [] and store.documents([]) == []
    finally:
        store.close()
