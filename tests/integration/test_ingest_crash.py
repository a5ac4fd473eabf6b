"""kill -9 during `lore ingest`, then re-run: FAISS, SQLite and the graph end consistent."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph import GraphStore
from storage.metadata import SqliteMetadataStore
from storage.vectors import FaissVectorStore

REPO = Path(__file__).resolve().parents[2]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WORDS = ("Ana Ruiz reviewed the Kestrel launch with Bo Chen in Lisbon. The Platform team owns billing. "
         "Cleo Park asked Fernhill Robotics to move the Tern budget to June. ").split()


SPEAKERS = ("Ana Ruiz", "Bo Chen", "Cleo Park")
MEETINGS = 8


def _write_corpus(root: Path, files: int, seed: int, meetings: int = 0) -> None:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        sections = [f"## Part {s}\n\n" + " ".join(rng.choice(WORDS) for _ in range(rng.randint(120, 260)))
                    for s in range(rng.randint(2, 5))]
        (root / f"doc-{i:03d}.md").write_text(f"# Document {i}\n\n" + "\n\n".join(sections))
    for i in range(meetings):  # transcripts: each gets minutes, a second document written after it
        turns = [f"{rng.choice(SPEAKERS)}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60)))
                 for _ in range(rng.randint(8, 16))]
        (root / f"meeting-{i:02d}.txt").write_text("\n".join(turns) + "\n")


def _documents_in_sqlite(data: Path) -> int:
    try:
        with sqlite3.connect(data / "lore.sqlite3", timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


def _ingest(corpus: Path, env: dict, *, kill_after_documents: int | None, extra_delay: float) -> int | None:
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "ingest", str(corpus)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if kill_after_documents is None:
        return process.wait(timeout=600)
    deadline = time.monotonic() + 300
    data = Path(env["LORE_DATA_DIR"])
    while process.poll() is None and time.monotonic() < deadline:
        if _documents_in_sqlite(data) >= kill_after_documents:
            time.sleep(extra_delay)
            break
        time.sleep(0.05)
    if process.poll() is not None:
        return process.returncode  # finished before the kill point: still a valid iteration
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return None


@pytest.mark.slow
def test_kill_9_during_ingest_then_rerun_is_consistent(tmp_path, graph_server):
    info = graph_server.start()
    with GraphStore(info.uri, info.auth, info.database) as store:
        store.ensure_schema()
        store.clear()
    corpus = tmp_path / "corpus"
    _write_corpus(corpus, files=40, seed=1, meetings=MEETINGS)
    env = {**os.environ, "LORE_DATA_DIR": str(tmp_path / "lore"), "LORE_GRAPH_URI": info.uri,
           "LORE_GRAPH_USER": info.user, "LORE_GRAPH_PASSWORD": info.password,
           "LORE_GRAPH_DATABASE": info.database or "", "LORE_CONFIG": str(tmp_path / "none.toml"),
           "LORE_CHUNK_SIZE": "400", "LORE_CHUNK_OVERLAP": "50", "LORE_INGEST_BATCH_CHUNKS": "16"}
    rng = random.Random(7)
    killed = 0
    # The last kill comes once every file is stored: while the minutes are being written.
    for round_, kill_at in enumerate((1, 12, 25, 40 + MEETINGS)):
        if _ingest(corpus, env, kill_after_documents=kill_at, extra_delay=rng.uniform(0.0, 0.8)) is None:
            killed += 1
        if round_ == 1:  # change files between crashes so updates are interrupted too
            _write_corpus(corpus, files=8, seed=2)
    assert killed >= 2, "the ingest finished before it could be killed; make the corpus bigger"
    assert _ingest(corpus, env, kill_after_documents=None, extra_delay=0) == 0

    metadata = SqliteMetadataStore(tmp_path / "lore" / "lore.sqlite3").open()
    try:
        vectors = FaissVectorStore.open(tmp_path / "lore" / "index", embedding_model=MODEL, dimension=384)
        ids = vectors.ids().tolist()
        documents = metadata.documents()
        assert len(documents) == 40 + 2 * MEETINGS  # every meeting has its minutes
        assert sum(d.source.endswith("#minutes") for d in documents) == MEETINGS
        assert metadata.derived_pending_ids() == []
        assert len(ids) == len(set(ids)), "duplicated vectors"
        assert set(ids) == metadata.vector_ids(), "FAISS and SQLite disagree"
        chunk_ids = [s.chunk.id for d in documents for s in metadata.chunks_for_document(d.id)]
        assert len(chunk_ids) == len(set(chunk_ids)) == metadata.chunk_count(), "duplicated chunks"
        assert metadata.unsynced_document_ids() == []
        with GraphStore(info.uri, info.auth, info.database) as store:
            assert store.document_ids() == {d.id for d in documents}
            assert store.chunk_ids() == set(chunk_ids)
        # The edited files hold their new text, not a mix of versions.
        edited = next(d for d in documents if d.source.endswith("doc-000.md"))
        current = (corpus / "doc-000.md").read_text()
        assert all(s.chunk.text in current for s in metadata.chunks_for_document(edited.id))
        assert edited.content_hash == hashlib.sha256(current.encode()).hexdigest()
    finally:
        metadata.close()
