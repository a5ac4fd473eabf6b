"""Upload jobs: a registry in SQLite and one background worker that ingests them.

Each upload lands in its own folder under ``<data dir>/uploads/<job id>/`` and is
ingested through ``LoreService.ingest``. Jobs are recorded before the upload is
acknowledged, so a job that was queued or running when the server stopped is
run again at the next start (ingest is idempotent: finished files are skipped).
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from core.types import Document
from storage.sqlite import SqliteStore

from api.service import LoreService

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "succeeded", "failed"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id           TEXT PRIMARY KEY,
    status       TEXT NOT NULL,
    collection   TEXT NOT NULL,
    folder       TEXT NOT NULL,
    files        TEXT NOT NULL,
    key_id       TEXT,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT,
    report       TEXT,
    error        TEXT
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_job_id() -> str:
    return f"job_{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Job:
    id: str
    status: JobStatus
    collection: str
    folder: str
    files: list[str]
    key_id: str | None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    report: dict | None = None
    error: str | None = None


class JobStore(SqliteStore):
    schema = SCHEMA

    def _execute(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def create(self, job_id: str, collection: str, folder: Path, files: list[str], key_id: str | None) -> Job:
        self._execute(
            "INSERT INTO jobs (id, status, collection, folder, files, key_id, created_at) VALUES (?, 'queued', ?, ?, ?, ?, ?)",
            (job_id, collection, str(folder), json.dumps(files), key_id, _now()),
        )
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        rows = self._execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return self._job(rows[0]) if rows else None

    def recent(self, limit: int, collections: tuple[str, ...] | None = None) -> list[Job]:
        """The newest ``limit`` jobs, in ``collections`` when given (None: all)."""
        where, params = "", []
        if collections is not None:
            params = list(collections)
            where = f"WHERE collection IN ({','.join('?' * len(params))})" if params else "WHERE 0"
        rows = self._execute(f"SELECT * FROM jobs {where} ORDER BY created_at DESC, id DESC LIMIT ?", (*params, limit))
        return [self._job(r) for r in rows]

    def unfinished(self) -> list[Job]:
        rows = self._execute("SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at, id")
        return [self._job(r) for r in rows]

    def mark_running(self, job_id: str) -> None:
        self._execute("UPDATE jobs SET status = 'running', started_at = ? WHERE id = ?", (_now(), job_id))

    def finish(self, job_id: str, status: JobStatus, report: dict | None, error: str | None = None) -> None:
        self._execute(
            "UPDATE jobs SET status = ?, finished_at = ?, report = ?, error = ? WHERE id = ?",
            (status, _now(), json.dumps(report) if report is not None else None, error, job_id),
        )

    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        return Job(
            id=row["id"],
            status=row["status"],
            collection=row["collection"],
            folder=row["folder"],
            files=json.loads(row["files"]),
            key_id=row["key_id"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            report=json.loads(row["report"]) if row["report"] else None,
            error=row["error"],
        )


class JobRunner:
    """Runs upload jobs one at a time in a background thread (ingest takes the service's write lock anyway)."""

    def __init__(
        self, service: LoreService, store: JobStore, on_finish: Callable[[Job, dict | None], None] | None = None
    ) -> None:
        self.service = service
        self.store = store
        self.on_finish = on_finish
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lore-ingest")

    def resume(self) -> int:
        """Queue every job a previous run left unfinished; returns how many."""
        jobs = self.store.unfinished()
        for job in jobs:
            self.submit(job.id)
        return len(jobs)

    def submit(self, job_id: str) -> None:
        self._executor.submit(self._run, job_id)

    def shutdown(self) -> None:
        # Queued jobs are cancelled but stay 'queued' in the registry and run at the next start;
        # the running one is allowed to finish so no file is left half-ingested.
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _run(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None:
            return
        self.store.mark_running(job_id)
        try:
            # An upload is named by the client's file name, so its citations say what the person uploaded.
            folder = Path(job.folder).resolve()
            result = self.service.ingest([folder], collection=job.collection,
                                         sources={folder / name: name for name in job.files})
        except Exception as exc:  # a job failure is recorded on the job, never lost in a worker thread
            log.exception("ingest job %s failed", job_id)
            self.store.finish(job_id, "failed", None, f"{type(exc).__name__}: {exc}")
            if self.on_finish:
                self.on_finish(job, None)
            return
        ingested = [*result.added, *result.updated, *result.unchanged]
        report = {
            "documents": [{"id": Document.make_id(source), "file": Path(source).name} for source in ingested],
            "added": len(result.added),
            "updated": len(result.updated),
            "unchanged": len(result.unchanged),
            "failed": [{"file": Path(f.path).name, "reason": f.reason} for f in result.failed],
            "chunks": result.chunks,
            "seconds": round(result.seconds, 3),
        }
        # A job whose every file failed has nothing to show for itself.
        status: JobStatus = "failed" if result.failed and not ingested else "succeeded"
        self.store.finish(job_id, status, report, None if status == "succeeded" else "no file could be ingested")
        # The text is stored now (SQLite is the source of truth); the copy would only come back if the job re-ran.
        shutil.rmtree(folder, ignore_errors=True)
        if self.on_finish:
            self.on_finish(job, report)
