"""SQLite metadata store: documents, chunks and the integer ids of their vectors.

SQLite is the source of truth. The FAISS index and the graph are derived from it
and reconciled against it after a crash: a chunk's ``vector_id`` is its row id,
a document's ``graph_synced`` flag says whether its graph contribution has
been written since its chunks last changed, and ``derived_pending`` whether a
document made from it (a meeting's minutes) is still to be written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

from core.types import Chunk, Document, Passage
from storage.sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL UNIQUE,
    title         TEXT NOT NULL,
    kind          TEXT NOT NULL,
    language      TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    metadata      TEXT NOT NULL DEFAULT '{}',
    text          TEXT NOT NULL DEFAULT '',
    graph_synced  INTEGER NOT NULL DEFAULT 0,
    ingested_at   TEXT NOT NULL,
    collection    TEXT NOT NULL DEFAULT 'default',
    derived_pending INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS chunks (
    vector_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    document_id  TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    text         TEXT NOT NULL,
    start        INTEGER NOT NULL,
    "end"        INTEGER NOT NULL,
    metadata     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id, idx);
-- What `lore graph enrich` read in a chunk with the LLM (an Extraction as JSON). A row goes with
-- its chunk: a re-ingested or deleted document takes its enrichment with it.
CREATE TABLE IF NOT EXISTS enrichments (
    chunk_id     TEXT PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    document_id  TEXT NOT NULL,
    model        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS enrichments_by_document ON enrichments(document_id);
"""

DEFAULT_COLLECTION = "default"

# Columns added after the first release, created on open() in databases that predate them.
MIGRATIONS = {
    ("documents", "collection"): "ALTER TABLE documents ADD COLUMN collection TEXT NOT NULL DEFAULT 'default'",
    ("documents", "derived_pending"): "ALTER TABLE documents ADD COLUMN derived_pending INTEGER NOT NULL DEFAULT 0",
}
POST_MIGRATION = "CREATE INDEX IF NOT EXISTS documents_by_collection ON documents(collection)"


def collection_of(document: Document) -> str:
    """The collection a document belongs to: ``metadata['collection']``, else the default one."""
    return str(document.metadata.get("collection") or DEFAULT_COLLECTION)


@dataclass(frozen=True)
class StoredChunk:
    """A chunk row joined with the fields of its document that a citation needs."""

    vector_id: int
    chunk: Chunk
    source: str
    title: str

    def passage(self, score: float = 0.0, scores: dict[str, float] | None = None) -> Passage:
        """The chunk as a retrieved passage with ``score`` and its components."""
        chunk = self.chunk
        return Passage(chunk_id=chunk.id, document_id=chunk.document_id, source=self.source, title=self.title,
                       text=chunk.text, score=score, scores=scores or {}, start=chunk.start, end=chunk.end,
                       metadata=chunk.metadata)


@dataclass(frozen=True)
class DocumentRecord:
    id: str
    source: str
    title: str
    kind: str
    language: str
    content_hash: str
    metadata: dict
    graph_synced: bool
    ingested_at: str
    chunk_count: int
    collection: str = DEFAULT_COLLECTION


class SqliteMetadataStore(SqliteStore):
    schema = SCHEMA
    pragmas = ("PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        for (table, column), statement in MIGRATIONS.items():
            if column not in {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}:
                conn.execute(statement)
        conn.execute(POST_MIGRATION)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # ---- writes -----------------------------------------------------------
    def replace_document(
        self, document: Document, chunks: list[Chunk], *, derived_pending: bool = False
    ) -> tuple[list[int], list[int]]:
        """Store ``document`` and its chunks in place of any previous version; ``derived_pending``
        marks, in the same transaction, that a document derived from it is still to be written.

        Returns (vector ids that were removed, vector ids of the new chunks).
        """
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._transaction() as conn:
            old = [r[0] for r in conn.execute("SELECT vector_id FROM chunks WHERE document_id = ?", (document.id,))]
            conn.execute("DELETE FROM chunks WHERE document_id = ?", (document.id,))
            # A different document may have held this source before (never with the
            # path-derived ids, but be safe with user-supplied ids).
            conn.execute("DELETE FROM documents WHERE source = ? AND id != ?", (document.source, document.id))
            conn.execute(
                """INSERT INTO documents (id, source, title, kind, language, content_hash, metadata, text,
                                          graph_synced, ingested_at, collection, derived_pending)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET source=excluded.source, title=excluded.title, kind=excluded.kind,
                       language=excluded.language, content_hash=excluded.content_hash, metadata=excluded.metadata,
                       text=excluded.text, graph_synced=0, ingested_at=excluded.ingested_at,
                       collection=excluded.collection, derived_pending=excluded.derived_pending""",
                (
                    document.id, document.source, document.title, document.kind, document.language,
                    document.content_hash, json.dumps(document.metadata, default=str), document.text, now,
                    collection_of(document), int(derived_pending),
                ),
            )
            new = []
            for chunk in chunks:
                cursor = conn.execute(
                    """INSERT INTO chunks (id, document_id, idx, text, start, "end", metadata)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    (chunk.id, chunk.document_id, chunk.index, chunk.text, chunk.start, chunk.end,
                     json.dumps(chunk.metadata, default=str)),
                )
                new.append(int(cursor.lastrowid))
        return old, new

    def store_enrichment(self, chunk_id: str, document_id: str, model: str, payload: dict) -> None:
        """Record a chunk's LLM extraction and, in the same transaction, that its document's graph
        is behind (a kill before the graph is rewritten is repaired by the next run or reconcile)."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._transaction() as conn:
            conn.execute(
                """INSERT INTO enrichments (chunk_id, document_id, model, payload, created_at) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT(chunk_id) DO UPDATE SET model=excluded.model, payload=excluded.payload,
                       created_at=excluded.created_at""",
                (chunk_id, document_id, model, json.dumps(payload), now),
            )
            conn.execute("UPDATE documents SET graph_synced = 0 WHERE id = ?", (document_id,))

    def enrichments_for(self, chunk_ids: Iterable[str]) -> dict[str, dict]:
        """Stored LLM extractions by chunk id (chunks never enriched are absent)."""
        ids = list(chunk_ids)
        found: dict[str, dict] = {}
        with self._lock:
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                rows = self.conn.execute(
                    f"SELECT chunk_id, payload FROM enrichments WHERE chunk_id IN ({','.join('?' * len(part))})", part)
                found.update((row[0], json.loads(row[1])) for row in rows)
        return found

    def chunks_to_enrich(self, limit: int | None = None) -> list[StoredChunk]:
        """Chunks no enrichment has read yet, document by document, in reading order."""
        query = """SELECT c.*, d.source, d.title FROM chunks c
                   JOIN documents d ON d.id = c.document_id
                   LEFT JOIN enrichments e ON e.chunk_id = c.id
                   WHERE e.chunk_id IS NULL ORDER BY d.source, c.idx"""
        with self._lock:
            rows = self.conn.execute(query + (" LIMIT ?" if limit else ""), (limit,) if limit else ()).fetchall()
        return [self._stored_chunk(row) for row in rows]

    def enrichment_progress(self) -> tuple[int, int]:
        """(chunks enriched, chunks stored)."""
        with self._lock:
            done = self.conn.execute("SELECT COUNT(*) FROM enrichments").fetchone()[0]
            total = self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(done), int(total)

    def mark_graph_synced(self, document_id: str) -> None:
        with self._lock:
            self.conn.execute("UPDATE documents SET graph_synced = 1 WHERE id = ?", (document_id,))

    def mark_derived(self, document_id: str) -> None:
        """The document derived from this one has been written."""
        with self._lock:
            self.conn.execute("UPDATE documents SET derived_pending = 0 WHERE id = ?", (document_id,))

    def delete_document(self, document_id: str) -> list[int]:
        """Remove a document and its chunks; returns the vector ids to drop from the index."""
        with self._transaction() as conn:
            ids = [r[0] for r in conn.execute("SELECT vector_id FROM chunks WHERE document_id = ?", (document_id,))]
            conn.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))
        return ids

    # ---- reads ------------------------------------------------------------
    def content_hash_for(self, source: str) -> str | None:
        with self._lock:
            row = self.conn.execute("SELECT content_hash FROM documents WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    def documents(self, collections: Iterable[str] | None = None) -> list[DocumentRecord]:
        """Every document, or only those in ``collections`` when given."""
        where, params = "", []
        if collections is not None:
            params = list(collections)
            where = f"WHERE d.collection IN ({','.join('?' * len(params))})" if params else "WHERE 0"
        with self._lock:
            rows = self.conn.execute(
                f"""SELECT d.*, (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) AS chunk_count
                    FROM documents d {where} ORDER BY d.source""",
                params,
            ).fetchall()
        return [self._record(r) for r in rows]

    def vector_ids_in_collections(self, collections: Iterable[str]) -> list[int]:
        """Vector ids of every chunk whose document is in one of ``collections``."""
        names = list(collections)
        if not names:
            return []
        with self._lock:
            rows = self.conn.execute(
                f"""SELECT c.vector_id FROM chunks c JOIN documents d ON d.id = c.document_id
                    WHERE d.collection IN ({','.join('?' * len(names))})""",
                names,
            ).fetchall()
        return [r[0] for r in rows]

    def chunk_collections(self, chunk_ids: Iterable[str]) -> dict[str, str]:
        """The collection of each known chunk id."""
        ids = list(chunk_ids)
        if not ids:
            return {}
        with self._lock:
            rows = self.conn.execute(
                f"""SELECT c.id, d.collection FROM chunks c JOIN documents d ON d.id = c.document_id
                    WHERE c.id IN ({','.join('?' * len(ids))})""",
                ids,
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def document(self, document_id: str) -> DocumentRecord | None:
        with self._lock:
            row = self.conn.execute(
                """SELECT d.*, (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) AS chunk_count
                   FROM documents d WHERE d.id = ?""",
                (document_id,),
            ).fetchone()
        return self._record(row) if row else None

    def unsynced_document_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self.conn.execute("SELECT id FROM documents WHERE graph_synced = 0")]

    def derived_pending_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self.conn.execute("SELECT id FROM documents WHERE derived_pending = 1")]

    def chunks_by_vector_ids(self, vector_ids: Iterable[int]) -> dict[int, StoredChunk]:
        return {c.vector_id: c for c in self._chunks_where("vector_id", list(vector_ids))}

    def chunks_by_ids(self, chunk_ids: Iterable[str]) -> dict[str, StoredChunk]:
        return {c.chunk.id: c for c in self._chunks_where("id", list(chunk_ids))}

    def _chunks_where(self, column: str, values: list) -> list[StoredChunk]:
        """Chunks whose ``column`` (an identifier from this class, never user input) is in ``values``."""
        if not values:
            return []
        placeholders = ",".join("?" * len(values))
        with self._lock:
            rows = self.conn.execute(
                f"""SELECT c.*, d.source, d.title FROM chunks c JOIN documents d ON d.id = c.document_id
                    WHERE c.{column} IN ({placeholders})""",
                values,
            ).fetchall()
        return [self._stored_chunk(r) for r in rows]

    def chunks_for_document(self, document_id: str) -> list[StoredChunk]:
        with self._lock:
            rows = self.conn.execute(
                """SELECT c.*, d.source, d.title FROM chunks c JOIN documents d ON d.id = c.document_id
                   WHERE c.document_id = ? ORDER BY c.idx""",
                (document_id,),
            ).fetchall()
        return [self._stored_chunk(r) for r in rows]

    def search_rows(self, vector_ids: Iterable[int]) -> list[tuple[int, str, str, int, str, dict]]:
        """(vector_id, chunk id, document id, index, text, chunk metadata) of chunks, for search indexes."""
        ids = list(vector_ids)
        out: list[tuple[int, str, str, int, str, dict]] = []
        # Batches keep each statement under SQLite's bound-parameter limit.
        for start in range(0, len(ids), 10_000):
            batch = ids[start : start + 10_000]
            placeholders = ",".join("?" * len(batch))
            with self._lock:
                rows = self.conn.execute(
                    f"""SELECT vector_id, id, document_id, idx, text, metadata FROM chunks
                        WHERE vector_id IN ({placeholders})""",
                    batch,
                ).fetchall()
            out.extend((r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows)
        return out

    def vector_ids(self, languages: Iterable[str] | None = None) -> set[int]:
        if languages is None:
            with self._lock:
                return {r[0] for r in self.conn.execute("SELECT vector_id FROM chunks")}
        names = list(languages)
        if not names:
            return set()
        with self._lock:
            rows = self.conn.execute(
                f"""SELECT c.vector_id FROM chunks c JOIN documents d ON d.id = c.document_id
                    WHERE d.language IN ({','.join('?' * len(names))})""",
                names,
            ).fetchall()
        return {r[0] for r in rows}

    def document_count(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def chunk_count(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    # ---- row mapping ------------------------------------------------------
    @staticmethod
    def _stored_chunk(row: sqlite3.Row) -> StoredChunk:
        chunk = Chunk(
            id=row["id"],
            document_id=row["document_id"],
            index=row["idx"],
            text=row["text"],
            start=row["start"],
            end=row["end"],
            metadata=json.loads(row["metadata"]),
        )
        return StoredChunk(vector_id=row["vector_id"], chunk=chunk, source=row["source"], title=row["title"])

    @staticmethod
    def _record(row: sqlite3.Row) -> DocumentRecord:
        return DocumentRecord(
            id=row["id"],
            source=row["source"],
            title=row["title"],
            kind=row["kind"],
            language=row["language"],
            content_hash=row["content_hash"],
            metadata=json.loads(row["metadata"]),
            graph_synced=bool(row["graph_synced"]),
            ingested_at=row["ingested_at"],
            chunk_count=row["chunk_count"],
            collection=row["collection"],
        )
