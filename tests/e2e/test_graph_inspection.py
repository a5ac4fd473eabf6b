"""Graph inspection and merge curation through the real service, HTTP API and CLI (real graph server, models, FAISS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.keys import KeyStore
from api.cli import app as cli_app
from api.service import LoreService
from core.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = [EXAMPLES / "docs" / "org-chart.md", EXAMPLES / "meetings" / "2026-02-10-millrace-kickoff.md"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory, graph_server) -> Settings:
    info = graph_server.start()
    # Without derived minutes, so document counts are those of the source files.
    return Settings(data_dir=tmp_path_factory.mktemp("lore-graph"), graph_uri=info.uri, graph_user=info.user,
                    graph_password=info.password, graph_database=info.database, minutes_at_ingest=False)


@pytest.fixture(scope="module")
def service(settings) -> LoreService:
    with LoreService.from_settings(settings) as service:
        service.graph.clear()
        report = service.ingest(FILES)
        assert report.failed == []
        yield service


@pytest.fixture
def cli_env(settings, monkeypatch) -> CliRunner:
    for name, value in {"LORE_DATA_DIR": str(settings.data_dir), "LORE_GRAPH_URI": settings.graph_uri,
                        "LORE_GRAPH_USER": settings.graph_user,
                        "LORE_GRAPH_PASSWORD": settings.graph_password.get_secret_value(),
                        "LORE_GRAPH_DATABASE": settings.graph_database}.items():
        monkeypatch.setenv(name, value)
    return CliRunner()


def _client(service, **key_options) -> TestClient:
    with KeyStore(service.settings.api_db_path) as keys:
        _, secret = keys.create("graph-inspection", ["read"], **key_options)
    return TestClient(create_app(service=service), headers={"Authorization": f"Bearer {secret}"})


def test_http_entities_and_stats(service) -> None:
    with _client(service) as client:
        stats = client.get("/v1/graph/stats").json()
        assert stats["by_relation_type"]["REPORTS_TO"] >= 9 and stats["by_label"]["Meeting"] == 1
        hits = client.get("/v1/entities", params={"q": "rahul"}).json()
        rahul = next(h for h in hits if h["name"] == "Rahul Menon")
        assert rahul["type"] == "Person" and rahul["degree"] > 0
        detail = client.get(f"/v1/entities/{rahul['id']}").json()
        edges = {(e["type"], e["other_name"]) for e in detail["edges"]}
        assert ("LEADS", "Platform Team") in edges and ("ATTENDED", "Project Millrace Kickoff") in edges
        assert any(e["type"] == "DECIDED" and "Quarry Payments API version 3" in e["other_name"] for e in detail["edges"])
        assert all(e["chunk_id"] and e["evidence"] for e in detail["edges"])
        assert len(detail["document_ids"]) == 2
        assert client.get("/v1/entities/ent_nope").status_code == 404
        assert client.get("/v1/entities", params={"q": ""}).status_code == 422


def test_graph_inspection_is_confined_to_a_keys_collections(service) -> None:
    # Everything here is in the default collection: a key for another one sees an empty graph.
    with _client(service, collections=["other"]) as client:
        stats = client.get("/v1/graph/stats").json()
        assert stats["nodes"] == 0 and stats["relationships"] == 0
        assert client.get("/v1/entities", params={"q": "rahul"}).json() == []
    with _client(service, collections=["default"]) as client:
        assert any(h["name"] == "Rahul Menon" for h in client.get("/v1/entities", params={"q": "rahul"}).json())


def test_cli_stats_and_show(service, cli_env) -> None:
    stats = cli_env.invoke(cli_app, ["graph", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["by_relation_type"]["ATTENDED"] == 5
    shown = cli_env.invoke(cli_app, ["graph", "show", "platform team", "--json"])
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.output)
    assert view["name"] == "Platform Team"  # the HTTP API's EntityDetail, as GET /v1/entities/{id} returns it
    assert {"LEADS", "MEMBER_OF"} <= {e["type"] for e in view["edges"]}
    missing = cli_env.invoke(cli_app, ["graph", "show", "nobody-at-all"])
    assert missing.exit_code == 1


def test_cli_merges_and_unmerge(service, cli_env) -> None:
    listed = cli_env.invoke(cli_app, ["graph", "merges", "--json"])
    assert listed.exit_code == 0, listed.output
    merges = json.loads(listed.output)
    camille = next(m for m in merges if m["alias_name"] == "Camille")
    assert camille["canonical_name"] == "Camille Dufresne" and camille["rule"] == "first_name"
    assert service.graph.find_entities(["Camille"]) == []

    undone = cli_env.invoke(cli_app, ["graph", "unmerge", str(camille["id"])])
    assert undone.exit_code == 0, undone.output
    assert [e.name for e in service.graph.find_entities(["Camille"])] == ["Camille"]
    # A later rewrite of the same documents keeps the decision.
    service.pipeline.rewrite_graph(camille["document_ids"])
    assert [e.name for e in service.graph.find_entities(["Camille"])] == ["Camille"]
    assert cli_env.invoke(cli_app, ["graph", "unmerge", "99999"]).exit_code == 1
