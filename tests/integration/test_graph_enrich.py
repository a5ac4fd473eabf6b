"""`lore graph enrich`: the LLM pass over stored chunks, with the real graph server and a real small model.

The model is SmolLM2-135M on llama.cpp (the light packaged model), held to the triple schema by
grammar. What it finds is not asserted (a 135M model finds little); what the pass guarantees is:
every chunk is read once and recorded, every enriched fact is grounded in its chunk and typed in
the schema, with provenance; a kill resumes; a delete takes the enriched facts with it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from neo4j import GraphDatabase

from api.service import LoreService
from core.settings import Settings
from core.vocabulary import ENTITY_TYPES, RELATION_TYPES
from ingest.enrich import to_payload
from core.extraction import Extraction
from core.types import Document

REPO = Path(__file__).resolve().parents[2]
PAGES = {
    "platform.md": "# Platform\n\nMaria Chen leads the Platform Team. The Platform Team owns Gatehouse.\n\n"
                   "Gatehouse depends on Roster, which the Data Team maintains.\n",
    "radiology.md": "# Radiology\n\nThe Radiology Department is part of Northfield Hospital. "
                    "Dr Amara Okafor heads the Radiology Department.\n",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for name, text in PAGES.items():
        (root / name).write_text(text)
    return root


@pytest.fixture
def service(tmp_path, graph_env, graph_server, corpus):
    info = graph_server.start()
    with GraphDatabase.driver(info.uri, auth=info.auth) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n", database_=info.database)
    lore = LoreService.from_settings(Settings(data_dir=tmp_path / "data", llm_threads=1, **graph_env))
    lore.open()
    lore.ingest([corpus])
    try:
        yield lore
    finally:
        lore.close()


def _llm_relations(service: LoreService) -> list[dict]:
    info = service.settings
    with GraphDatabase.driver(info.graph_uri, auth=(info.graph_user, info.graph_password.get_secret_value())) as driver:
        rows, _, _ = driver.execute_query(
            "MATCH (a:Entity)-[r]->(b:Entity) WHERE r.origin = 'llm' "
            "RETURN a.name AS s, a.type AS st, type(r) AS t, b.name AS o, b.type AS ot, r.chunk_id AS chunk, "
            "r.document_id AS doc, r.evidence AS evidence", database_=info.graph_database)
    return [dict(r) for r in rows]


def test_enrich_reads_every_chunk_once_and_keeps_only_grounded_schema_facts(service):
    done, total = service.enrichment_progress()
    assert (done, total) == (0, len(service.metadata.chunks_to_enrich()))
    report = service.enrich_graph()
    assert report.chunks_read == total and report.remaining == 0
    assert service.enrichment_progress() == (total, total)
    assert service.enrich_graph().chunks_read == 0  # nothing left: a second run reads nothing
    chunks = {s.chunk.id: s.chunk for r in service.metadata.documents() for s in service.metadata.chunks_for_document(r.id)}
    for fact in _llm_relations(service):
        chunk = chunks[fact["chunk"]]
        assert fact["t"] in RELATION_TYPES and {fact["st"], fact["ot"]} <= ENTITY_TYPES - {"Other"}
        # Resolution may name an entity by a longer form known elsewhere; the chunk holds one of its names.
        assert fact["doc"] == chunk.document_id and fact["evidence"] and fact["evidence"] in chunk.text
    assert service.metadata.unsynced_document_ids() == []


def test_stored_enrichment_lands_through_resolution_and_goes_with_its_document(service):
    """A chunk's stored extraction is part of every graph write of its document; deleting the
    document removes its enrichment rows and the facts (the graph write path, not the model)."""
    record = next(r for r in service.metadata.documents() if r.source.endswith("radiology.md"))
    chunk = service.metadata.chunks_for_document(record.id)[0].chunk
    found = Extraction()
    department = found.add_entity("Radiology Department", "Team")
    hospital = found.add_entity("Northfield Hospital", "Organization")
    start = chunk.text.index("The Radiology Department")
    found.add_relation(department, "PART_OF", hospital, chunk, (start, chunk.text.index(".", start) + 1), origin="llm")
    service.metadata.store_enrichment(chunk.id, record.id, "test-model", to_payload(found))
    assert record.id in service.metadata.unsynced_document_ids()
    service.enrich_graph(limit=1)  # rewrites the unsynced document first
    facts = [f for f in _llm_relations(service) if f["t"] == "PART_OF"]
    assert [(f["s"], f["o"], f["doc"], f["chunk"]) for f in facts] == [
        ("Radiology Department", "Northfield Hospital", record.id, chunk.id)]
    assert facts[0]["evidence"] == "The Radiology Department is part of Northfield Hospital."
    assert service.delete_document(record.id)
    assert service.metadata.enrichments_for([chunk.id]) == {}
    assert not [f for f in _llm_relations(service) if f["doc"] == record.id]


def _enriched(data: Path) -> int:
    try:
        with sqlite3.connect(data / "lore.sqlite3", timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM enrichments").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_kill_during_enrich_then_rerun_finishes_and_leaves_the_graph_in_sync(tmp_path, graph_env, graph_server):
    info = graph_server.start()
    with GraphDatabase.driver(info.uri, auth=info.auth) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n", database_=info.database)
    corpus = tmp_path / "many"
    corpus.mkdir()
    for i in range(6):
        (corpus / f"team-{i}.md").write_text(f"# Team {i}\n\nPriya Raman {i} leads the Atlas {i} Team, "
                                             f"which is part of Northfield Hospital.\n")
    env = {**os.environ, "LORE_DATA_DIR": str(tmp_path / "lore"), "LORE_GRAPH_URI": info.uri,
           "LORE_GRAPH_USER": info.user, "LORE_GRAPH_PASSWORD": info.password,
           "LORE_GRAPH_DATABASE": info.database, "LORE_LLM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "api.cli", "ingest", str(corpus)], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "graph", "enrich"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while process.poll() is None and _enriched(tmp_path / "lore") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "enrich finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    killed_at = _enriched(tmp_path / "lore")
    assert 2 <= killed_at < 6
    finished = subprocess.run([sys.executable, "-m", "api.cli", "graph", "enrich", "--json"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert '"remaining": 0' in finished.stdout
    assert _enriched(tmp_path / "lore") == 6  # each chunk read once: the killed run's rows were kept
    with LoreService.from_settings(Settings(data_dir=tmp_path / "lore", **graph_env)) as lore:
        assert lore.metadata.unsynced_document_ids() == []
        ids = {r.id for r in lore.metadata.documents()}
        assert lore.graph.document_ids() == ids
        assert Document.make_id(str((corpus / "team-0.md").resolve())) in ids


def test_the_http_api_runs_the_job_for_admin_keys_and_reports_progress(service):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.keys import KeyStore

    with KeyStore(service.settings.api_db_path) as keys:
        _, reader = keys.create("reader", ["read"])
        _, admin = keys.create("admin", ["read", "admin"])
    with TestClient(create_app(service=service)) as client:
        assert client.post("/v1/graph/enrich", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
        started = client.post("/v1/graph/enrich", json={"limit": 1}, headers={"Authorization": f"Bearer {admin}"})
        assert started.status_code == 202 and started.json()["running"] is True
        deadline = time.monotonic() + 120
        while (status := client.get("/v1/graph/enrich", headers={"Authorization": f"Bearer {reader}"}).json())["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert status["error"] is None and status["report"]["chunks_read"] == 1
        assert status["chunks_enriched"] == 1 and status["chunks_total"] == len(service.metadata.chunks_to_enrich()) + 1
