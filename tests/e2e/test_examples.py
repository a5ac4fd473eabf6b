"""End to end on the bundled sample corpus: real graph server, real FAISS, real models, real app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from api.keys import KeyStore
from api.service import LoreService
from core.settings import Settings
from retrieval.query import Query

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUESTIONS = [json.loads(line) for line in (EXAMPLES / "questions.jsonl").read_text().splitlines() if line.strip()]
CORPUS_FILES = sorted(p for d in ("docs", "meetings") for p in (EXAMPLES / d).rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def settings(tmp_path_factory, graph_server) -> Settings:
    info = graph_server.start()  # reuses the session's server
    return Settings(
        data_dir=tmp_path_factory.mktemp("lore-e2e"),
        graph_uri=info.uri,
        graph_user=info.user,
        graph_password=info.password,
        graph_database=info.database,
        max_new_tokens=48,
    )


@pytest.fixture(scope="module")
def service(settings) -> LoreService:
    with LoreService.from_settings(settings) as service:
        service.graph.clear()
        report = service.ingest([EXAMPLES])
        assert report.failed == [], report.failed
        yield service


def _relative(source: str) -> str:
    return Path(source).resolve().relative_to(EXAMPLES).as_posix()


def test_ingest_lands_every_file_in_all_three_stores(service):
    documents = service.documents()
    files = [d for d in documents if d.kind != "minutes"]  # each meeting also gets a derived minutes document
    assert {d.source for d in documents if d.kind == "minutes"} == {d.source + "#minutes" for d in files if d.kind == "meeting"}
    assert {_relative(d.source) for d in files} == {p.relative_to(EXAMPLES).as_posix() for p in CORPUS_FILES}
    chunk_count = service.metadata.chunk_count()
    assert len(service.vectors) == chunk_count > len(documents)
    assert service.metadata.vector_ids() == set(service.vectors.ids().tolist())
    assert service.graph.document_ids() == {d.id for d in documents}
    stats = service.graph_stats()
    assert stats.by_label.get("Chunk") == chunk_count
    assert stats.by_label.get("Person", 0) >= 5


def test_reingest_of_unchanged_corpus_does_nothing(service):
    report = service.ingest([EXAMPLES])
    assert report.added == [] and report.updated == []
    assert len(report.unchanged) == len(CORPUS_FILES)


def test_retrieval_hit_at_5_over_sample_questions(service):
    hits = 0
    for q in QUESTIONS:
        sources = {_relative(p.source) for p in service.search(Query(text=q["question"], k=5)).passages}
        hits += q["source"] in sources
    hit_rate = hits / len(QUESTIONS)
    assert hit_rate >= 0.8, f"hit@5 = {hit_rate:.2f}"


def test_graph_facts_for_a_named_person(service):
    people = [line for line in (EXAMPLES / "gold" / "entities.jsonl").read_text().splitlines() if '"Person"' in line]
    name = json.loads(people[0])["name"]
    facts = service.search(f"What is {name} working on?").facts
    assert facts, f"no graph facts for {name}"
    assert any(name in (f.subject, f.object) for f in facts)
    known_chunks = set(service.metadata.chunks_by_ids(c for f in facts for c in f.chunk_ids))
    assert all(set(f.chunk_ids) <= known_chunks for f in facts), "every fact must trace back to stored chunks"


def test_the_fact_that_answers_the_question_is_listed_first(service):
    # The org chart also makes Camille Dufresne and Owen Kettering members of the Platform
    # Team, and the store lists facts alphabetically within equal support.
    facts = service.search("Who leads the Platform team?").facts
    assert (facts[0].subject, facts[0].predicate, facts[0].object) == ("Rahul Menon", "LEADS", "Platform Team")
    assert any(f.predicate == "MEMBER_OF" for f in facts[1:])


def test_ask_answers_with_citations_that_point_at_retrieved_chunks(service):
    question = QUESTIONS[0]
    answer = service.ask(question["question"])
    assert answer.text.strip()
    assert question["source"] in {_relative(p.source) for p in answer.passages}
    passage_chunks = {p.chunk_id for p in answer.passages}
    for citation in answer.citations:
        assert citation.chunk_id in passage_chunks
        assert f"[{citation.number}]" in answer.text


def test_http_api_ask_and_search(service, settings):
    with KeyStore(settings.api_db_path) as keys:
        _, secret = keys.create("e2e", ["read"])
    with TestClient(create_app(service=service), headers={"Authorization": f"Bearer {secret}"}) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["graph"] is True and ready["index_vectors"] == len(service.vectors)

        question = QUESTIONS[1]
        found = client.post("/v1/search", json={"question": question["question"], "top_k": 5})
        assert found.status_code == 200
        assert question["source"] in {_relative(p["source"]) for p in found.json()["passages"]}

        response = client.post("/v1/ask", json={"question": question["question"]})
        assert response.status_code == 200
        body = response.json()
        assert body["answer"].strip()
        assert {"source", "chunk_id", "score", "text"} <= set(body["passages"][0])
        assert client.post("/v1/ask", json={"question": ""}).status_code == 422


def test_cli_search_json(settings, service, monkeypatch):
    for name, value in {
        "LORE_DATA_DIR": str(settings.data_dir),
        "LORE_GRAPH_URI": settings.graph_uri,
        "LORE_GRAPH_USER": settings.graph_user,
        "LORE_GRAPH_PASSWORD": settings.graph_password.get_secret_value(),
        "LORE_GRAPH_DATABASE": settings.graph_database or "",
    }.items():
        monkeypatch.setenv(name, value)
    question = QUESTIONS[2]
    result = CliRunner().invoke(cli_app, ["search", question["question"], "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert question["source"] in {_relative(p["source"]) for p in payload["passages"]}
    assert all({"source", "chunk_id", "score", "text"} <= set(p) for p in payload["passages"])
