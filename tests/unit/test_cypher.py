"""The Cypher module: closed sets for labels and types, and statements that only take parameters."""

from __future__ import annotations

import pytest

from graph import cypher

HOSTILE = [
    "Person) DETACH DELETE n //",
    "Person`:`Other",
    "WORKS_ON]->() DELETE r //",
    "person",  # builders take exact members only; normalising is entity_label's job
    "works_on",
    "Document",
    "HAS_CHUNK",
    "MENTIONS",
    "",
    " Person",
]


def _statements() -> list[str]:
    constants = [value for name, value in vars(cypher).items() if name.isupper() and isinstance(value, str)]
    schema = list(cypher.SCHEMA)
    built = [cypher.merge_entities(t) for t in sorted(cypher.ENTITY_TYPES)]
    built += [cypher.merge_relations(t) for t in sorted(cypher.RELATION_TYPES)]
    return [s for s in constants + schema + built if s not in (cypher.CO_OCCURRENCE,)]


def test_closed_sets_are_the_documented_ones() -> None:
    assert cypher.ENTITY_TYPES == {
        "Person",
        "Organization",
        "Team",
        "Project",
        "Product",
        "Location",
        "Event",
        "Date",
        "Topic",
        "Other",
    }
    assert cypher.RELATION_TYPES == {
        "WORKS_ON",
        "MEMBER_OF",
        "REPORTS_TO",
        "LEADS",
        "OWNS",
        "DEPENDS_ON",
        "DECIDED",
        "ASSIGNED_TO",
        "ATTENDED",
        "MENTIONED_WITH",
        "PARTNERS_WITH",
        "LOCATED_IN",
        "PART_OF",
        "USES",
    }


@pytest.mark.parametrize("label", sorted(cypher.ENTITY_TYPES))
def test_merge_entities_puts_the_label_in_and_values_in_parameters(label: str) -> None:
    statement = cypher.merge_entities(label)
    assert f"MERGE (e:Entity:{label} {{id: row.id}})" in statement
    assert "UNWIND $rows AS row" in statement


@pytest.mark.parametrize("rel_type", sorted(cypher.RELATION_TYPES))
def test_merge_relations_keys_each_relationship_by_chunk(rel_type: str) -> None:
    statement = cypher.merge_relations(rel_type)
    assert f"MERGE (a)-[r:{rel_type} {{chunk_id: row.chunk_id}}]->(b)" in statement
    assert "UNWIND $rows AS row" in statement


@pytest.mark.parametrize("bad", HOSTILE)
def test_merge_entities_rejects_labels_outside_the_closed_set(bad: str) -> None:
    with pytest.raises(ValueError, match="not an entity type"):
        cypher.merge_entities(bad)


@pytest.mark.parametrize("bad", HOSTILE)
def test_merge_relations_rejects_types_outside_the_closed_set(bad: str) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        cypher.merge_relations(bad)


def test_entity_label_normalises_case_and_falls_back_to_other() -> None:
    assert cypher.entity_label("PERSON") == "Person"
    assert cypher.entity_label(" organization ") == "Organization"
    assert cypher.entity_label("Person) DETACH DELETE n //") == "Other"
    assert cypher.entity_label("") == "Other"


def test_relation_type_normalises_spelling_and_rejects_unknown_types() -> None:
    assert cypher.relation_type("works on") == "WORKS_ON"
    assert cypher.relation_type("reports-to") == "REPORTS_TO"
    assert cypher.relation_type("MENTIONED_WITH") == "MENTIONED_WITH"
    for bad in ("LIKES", "WORKS_ON]->() DELETE r //", "", "HAS_CHUNK"):
        with pytest.raises(ValueError, match="unknown relation type"):
            cypher.relation_type(bad)


def test_no_statement_carries_a_literal_value() -> None:
    # Values only travel as parameters: a quote in a statement would mean text was formatted in.
    for statement in _statements():
        assert "'" not in statement and '"' not in statement, statement


def test_batched_writes_unwind_rows() -> None:
    for statement in (cypher.MERGE_CHUNKS, cypher.MERGE_MENTIONS):
        assert "UNWIND $rows AS row" in statement
    for statement in (cypher.DELETE_DOCUMENT_RELATIONS, cypher.PRUNE_ENTITIES):
        assert "UNWIND $entity_ids AS entity_id" in statement


def test_schema_is_idempotent_ddl_only() -> None:
    for statement in cypher.SCHEMA:
        assert "IF NOT EXISTS" in statement
    constraints = [s for s in cypher.SCHEMA if s.startswith("CREATE CONSTRAINT")]
    assert {s.split("(n:")[1].split(")")[0] for s in constraints} == {"Document", "Chunk", "Entity", "Decision", "ActionItem"}
