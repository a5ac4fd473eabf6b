"""The graph enrichment job of the HTTP API: one background run of ``LoreService.enrich_graph`` at a time.

The job's state is the metadata store itself (which chunks have an enrichment row), so a run
stopped by a shutdown or a crash is resumed by starting the job again; this object only
keeps the progress of the run in this process for ``GET /v1/graph/enrich``.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from api.service import LoreService

log = logging.getLogger(__name__)


class EnrichmentRunner:
    def __init__(self, service: LoreService) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._state: dict = {"running": False, "started_at": None, "finished_at": None, "read": 0, "planned": 0,
                             "seconds": 0.0, "report": None, "error": None}

    def start(self, limit: int | None = None) -> bool:
        """Start a run unless one is going; returns whether this call started it."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._stop.clear()
            self._state.update(running=True, started_at=_now(), finished_at=None, read=0, planned=0, seconds=0.0,
                               report=None, error=None)
            self._thread = threading.Thread(target=self._run, args=(limit,), name="lore-enrich", daemon=True)
            self._thread.start()
            return True

    def _run(self, limit: int | None) -> None:
        def progress(read: int, planned: int, seconds: float) -> None:
            self._state.update(read=read, planned=planned, seconds=seconds)

        try:
            report = self.service.enrich_graph(limit, progress=progress, stop=self._stop.is_set)
            self._state["report"] = report.as_json()
        except Exception as exc:  # reported by status(); the next start resumes where this stopped
            log.exception("graph enrichment failed")
            self._state["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            self._state.update(running=False, finished_at=_now())

    def status(self) -> dict:
        done, total = self.service.enrichment_progress()
        state = dict(self._state)
        rate = state["read"] / state["seconds"] if state["seconds"] > 0 else 0.0
        left = max(state["planned"] - state["read"], 0)
        return {**state, "chunks_enriched": done, "chunks_total": total,
                "chunks_per_minute": round(60 * rate, 2),
                "eta_seconds": round(left / rate) if rate > 0 and state["running"] else None}

    def shutdown(self, timeout: float = 180.0) -> None:
        """Stop after the chunk being read (its row is kept); the next start goes on from there."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            deadline = time.monotonic() + timeout
            thread.join(max(0.0, deadline - time.monotonic()))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
