"""The graph on text from another domain than examples/ (a hospital's handbook), through the real
ingest pipeline and graph server: tables as rows, the precision rules, structural relations."""

from __future__ import annotations

import pytest
from neo4j import GraphDatabase

from api.service import LoreService
from core.settings import Settings

HANDBOOK = """---
title: Northfield Imaging Handbook
authors: [Grace Liu]
---

# Imaging at Northfield

The Imaging Directorate is organized into three units: Radiology, Nuclear Medicine, and Ultrasound.
Dr Amara Okafor heads the Imaging Directorate. Northfield Hospital's Imaging Directorate serves four wards.

Book scans in Epic and page the on-call radiographer on PagerDuty. Escalations go to Controlled Correspondence.

## Systems

| System | Owner | Notes |
|---|---|---|
| **PACS Viewer** | Radiology | Images from every scanner |
| Dose Tracker | Nuclear Medicine | Weekly audit |

## Standard Operating Procedures

Read the Standard Operating Procedures before your first shift.
"""


@pytest.fixture(scope="module")
def graph(tmp_path_factory, graph_env, graph_server):
    info = graph_server.start()
    with GraphDatabase.driver(info.uri, auth=info.auth) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n", database_=info.database)
    root = tmp_path_factory.mktemp("hospital")
    (root / "imaging.md").write_text(HANDBOOK)
    with LoreService.from_settings(Settings(data_dir=root / "data", **graph_env)) as lore:
        lore.ingest([root / "imaging.md"])
        chunks = [s.chunk.text for r in lore.metadata.documents() for s in lore.metadata.chunks_for_document(r.id)]
    with GraphDatabase.driver(info.uri, auth=info.auth) as driver:
        entities, _, _ = driver.execute_query("MATCH (e:Entity) RETURN e.name AS name, e.type AS type",
                                              database_=info.database)
        relations, _, _ = driver.execute_query(
            "MATCH (a:Entity)-[r]->(b:Entity) WHERE type(r) <> 'MENTIONED_WITH' "
            "RETURN a.name AS s, type(r) AS t, b.name AS o, r.evidence AS evidence, r.origin AS origin",
            database_=info.database)
    return {e["name"]: e["type"] for e in entities}, [dict(r) for r in relations], chunks


def test_a_table_row_is_stored_as_its_cells_beside_their_headers(graph):
    _, _, chunks = graph
    text = "\n".join(chunks)
    assert "- System: **PACS Viewer**; Owner: Radiology; Notes: Images from every scanner" in text
    assert "|---|" not in text


def test_only_names_with_personal_evidence_are_people(graph):
    entities, _, _ = graph
    people = {name for name, kind in entities.items() if kind == "Person"}
    assert "Amara Okafor" in people
    assert not people & {"Epic", "PagerDuty", "Controlled Correspondence", "Standard Operating Procedures",
                         "PACS Viewer", "Dose Tracker", "Imaging Directorate", "Grace Liu"}  # the author is metadata
    assert entities.get("Standard Operating Procedures") in (None, "Other")  # a heading's words, untyped


def test_structure_and_prose_give_typed_relations_with_their_evidence(graph):
    _, relations, _ = graph
    facts = {(r["s"], r["t"], r["o"]) for r in relations}
    for unit in ("Radiology", "Nuclear Medicine", "Ultrasound"):
        assert (unit, "PART_OF", "Imaging Directorate") in facts
    assert ("Imaging Directorate", "PART_OF", "Northfield Hospital") in facts  # "Northfield Hospital's Imaging Directorate"
    assert ("Amara Okafor", "LEADS", "Imaging Directorate") in facts
    assert ("Radiology", "OWNS", "PACS Viewer") in facts  # the table's Owner column
    row = next(r for r in relations if (r["s"], r["t"], r["o"]) == ("Radiology", "OWNS", "PACS Viewer"))
    assert row["evidence"].startswith("- System: **PACS Viewer**; Owner: Radiology") and row["origin"] == "rules"
