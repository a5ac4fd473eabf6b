"""GraphStore against the real local Bolt server (ArcadeDB), one clean graph per test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import ConstraintError

from core.errors import GraphServerError
from core.types import Chunk, Document, Entity, Fact, Mention, Relation, content_id
from graph import GraphStore, LocalGraphServer

Query = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def query(graph_server: LocalGraphServer) -> Query:
    """Raw Cypher for assertions, over its own driver: checks what is really stored."""
    info = graph_server.start()

    def run(statement: str, **parameters: Any) -> list[dict[str, Any]]:
        with GraphDatabase.driver(info.uri, auth=info.auth) as driver:
            records, _, _ = driver.execute_query(statement, parameters, database_=info.database)
            return [r.data() for r in records]

    return run


@dataclass
class Contribution:
    """What an ingest of one file hands to the store."""

    document: Document
    chunks: list[Chunk]
    entities: list[Entity]
    mentions: list[Mention]
    relations: list[Relation]

    def upsert(self, store: GraphStore) -> None:
        store.upsert_document(self.document, self.chunks, self.entities, self.mentions, self.relations)

    def entity(self, name: str) -> Entity:
        return next(e for e in self.entities if e.name == name)


def contribution(
    source: str,
    texts: list[str],
    entities: dict[str, str],
    relations: tuple[tuple[str, str, str, int], ...] = (),
    title: str = "Title",
) -> Contribution:
    """A document whose chunks are ``texts``; every occurrence of an entity name in a chunk is a mention."""
    doc_id = Document.make_id(source)
    text = "\n".join(texts)
    document = Document(id=doc_id, source=source, title=title, text=text, content_hash=content_id(text))
    chunks, offset = [], 0
    for index, chunk_text in enumerate(texts):
        chunk_id = Chunk.make_id(doc_id, index, chunk_text)
        end = offset + len(chunk_text)
        chunks.append(Chunk(id=chunk_id, document_id=doc_id, index=index, text=chunk_text, start=offset, end=end))
        offset = end + 1
    ents = {name: Entity(id=Entity.make_id(name, kind), name=name, type=kind) for name, kind in entities.items()}
    mentions = []
    for chunk in chunks:
        for name, entity in ents.items():
            start = chunk.text.find(name)
            while start != -1:
                mentions.append(
                    Mention(entity_id=entity.id, chunk_id=chunk.id, text=name, start=start, end=start + len(name))
                )
                start = chunk.text.find(name, start + 1)
    rels = [
        Relation(
            source_id=ents[s].id,
            target_id=ents[o].id,
            type=t,
            chunk_id=chunks[i].id,
            evidence=chunks[i].text,
        )
        for s, t, o, i in relations
    ]
    return Contribution(document, chunks, list(ents.values()), mentions, rels)


def entity_names(query: Query) -> set[str]:
    return {r["name"] for r in query("MATCH (e:Entity) RETURN e.name AS name")}


def relations(query: Query) -> set[tuple[str, str, str, str]]:
    rows = query("MATCH (a:Entity)-[r]->(b:Entity) RETURN a.name AS s, type(r) AS t, b.name AS o, r.chunk_id AS c")
    return {(r["s"], r["t"], r["o"], r["c"]) for r in rows}


# ---- schema -----------------------------------------------------------------------------------
def test_schema_is_idempotent_and_enforces_unique_ids(graph_store: GraphStore, query: Query) -> None:
    graph_store.ensure_schema()
    graph_store.ensure_schema()
    names = {r["name"] for r in query("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert {"document_id", "chunk_id", "entity_id"} <= names
    query("CREATE (:Document {id: $id})", id="dup")
    with pytest.raises(ConstraintError):
        query("CREATE (:Document {id: $id})", id="dup")


# ---- writes and reads -------------------------------------------------------------------------
def test_upsert_then_query(graph_store: GraphStore, query: Query) -> None:
    doc = contribution(
        "notes/apollo.md",
        ["Ann Lee works on Apollo at Acme.", "Ann Lee is a member of Acme."],
        {"Ann Lee": "Person", "Apollo": "Project", "Acme": "Organization"},
        relations=(("Ann Lee", "WORKS_ON", "Apollo", 0), ("Ann Lee", "MEMBER_OF", "Acme", 1)),
    )
    doc.upsert(graph_store)

    assert graph_store.document_ids() == {doc.document.id}
    assert graph_store.chunk_ids(doc.document.id) == {c.id for c in doc.chunks}
    assert graph_store.chunk_ids() == {c.id for c in doc.chunks}
    assert graph_store.chunk_ids("doc_missing") == set()

    found = graph_store.find_entities(["ann lee", "ACME", "nobody", "Ann  Lee"])
    assert found == [doc.entity("Ann Lee"), doc.entity("Acme")]
    assert graph_store.find_entities(["ann lee", "acme"], limit=1) == [doc.entity("Ann Lee")]
    assert graph_store.find_entities([]) == []

    stored = query(
        "MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk) RETURN d.title AS title, d.content_hash AS hash, "
        "c.index AS index, c.start AS start, c.end AS end, c.document_id AS doc ORDER BY index"
    )
    assert [(r["index"], r["start"], r["end"]) for r in stored] == [(c.index, c.start, c.end) for c in doc.chunks]
    assert {r["doc"] for r in stored} == {doc.document.id}
    assert stored[0]["hash"] == doc.document.content_hash
    labels = query("MATCH (e:Entity {name: $name}) RETURN labels(e) AS labels", name="Ann Lee")[0]["labels"]
    assert set(labels) == {"Entity", "Person"}
    mention = query(
        "MATCH (:Chunk)-[m:MENTIONS]->(:Entity {name: $name}) RETURN m.start AS s, m.end AS e", name="Apollo"
    )
    start = doc.chunks[0].text.index("Apollo")
    assert mention == [{"s": start, "e": start + len("Apollo")}]

    stats = graph_store.stats()
    assert stats.nodes == 6  # 1 document, 2 chunks, 3 entities
    assert stats.by_label["Document"] == 1 and stats.by_label["Chunk"] == 2 and stats.by_label["Entity"] == 3
    assert stats.by_label["Person"] == 1 and stats.by_label["Project"] == 1
    # 2 HAS_CHUNK + 5 MENTIONS + 2 typed relations
    assert stats.relationships == 9
    assert "ArcadeDB" in stats.server_agent


def test_reupsert_of_a_changed_document_replaces_exactly_its_contribution(
    graph_store: GraphStore, query: Query
) -> None:
    v1 = contribution(
        "a.md",
        ["Ann leads Bob.", "Dave owns Apollo."],
        {"Ann": "Person", "Bob": "Person", "Dave": "Person", "Apollo": "Project"},
        relations=(("Ann", "LEADS", "Bob", 0), ("Dave", "OWNS", "Apollo", 1)),
    )
    other = contribution(
        "b.md",
        ["Bob works on Apollo."],
        {"Bob": "Person", "Apollo": "Project"},
        relations=(("Bob", "WORKS_ON", "Apollo", 0),),
    )
    v1.upsert(graph_store)
    other.upsert(graph_store)
    before_other = query("MATCH (c:Chunk {document_id: $id}) RETURN c.id AS id, c.text AS text", id=other.document.id)

    v1.upsert(graph_store)  # same content again: nothing changes
    assert graph_store.stats().relationships == (2 + 1) + (4 + 2) + (2 + 1)  # HAS_CHUNK, MENTIONS, typed

    v2 = contribution(
        "a.md",
        ["Ann reports to Carol.", "Carol leads Apollo."],
        {"Ann": "Person", "Carol": "Person", "Apollo": "Project"},
        relations=(("Ann", "REPORTS_TO", "Carol", 0), ("Carol", "LEADS", "Apollo", 1)),
    )
    assert v2.document.id == v1.document.id
    v2.upsert(graph_store)

    assert graph_store.document_ids() == {v1.document.id, other.document.id}
    assert graph_store.chunk_ids(v1.document.id) == {c.id for c in v2.chunks}
    assert not graph_store.chunk_ids() & {c.id for c in v1.chunks}
    assert query("MATCH (c:Chunk {document_id: $id}) RETURN c.id AS id, c.text AS text", id=other.document.id) == (
        before_other
    )
    # Dave was only in v1; Bob is still mentioned by b.md.
    assert entity_names(query) == {"Ann", "Bob", "Carol", "Apollo"}
    assert relations(query) == {
        ("Ann", "REPORTS_TO", "Carol", v2.chunks[0].id),
        ("Carol", "LEADS", "Apollo", v2.chunks[1].id),
        ("Bob", "WORKS_ON", "Apollo", other.chunks[0].id),
    }
    assert query("MATCH (d:Document {id: $id}) RETURN d.content_hash AS h", id=v1.document.id) == [
        {"h": v2.document.content_hash}
    ]


def test_delete_removes_entities_only_when_nothing_supports_them(graph_store: GraphStore, query: Query) -> None:
    a = contribution(
        "a.md",
        ["Ann partners with Acme.", "Acme is in Oslo."],
        {"Ann": "Person", "Acme": "Organization", "Oslo": "Location"},
        relations=(("Ann", "PARTNERS_WITH", "Acme", 0), ("Acme", "LOCATED_IN", "Oslo", 1)),
    )
    b = contribution(
        "b.md",
        ["Acme is in Oslo, says Bea."],
        {"Acme": "Organization", "Oslo": "Location", "Bea": "Person"},
        relations=(("Acme", "LOCATED_IN", "Oslo", 0),),
    )
    a.upsert(graph_store)
    b.upsert(graph_store)
    assert len([r for r in relations(query) if r[1] == "LOCATED_IN"]) == 2  # one per supporting chunk

    graph_store.delete_document(a.document.id)

    assert graph_store.document_ids() == {b.document.id}
    assert graph_store.chunk_ids() == {c.id for c in b.chunks}
    assert entity_names(query) == {"Acme", "Oslo", "Bea"}  # Ann went with a.md; Acme and Oslo are still in b.md
    assert relations(query) == {("Acme", "LOCATED_IN", "Oslo", b.chunks[0].id)}

    graph_store.delete_document(b.document.id)
    graph_store.delete_document(b.document.id)  # deleting twice is harmless
    stats = graph_store.stats()
    assert (stats.nodes, stats.relationships) == (0, 0)


def test_a_second_hop_adds_the_stated_relations_of_the_entities_one_stated_relation_away(graph_store: GraphStore) -> None:
    doc = contribution(
        "org.md",
        ["The Platform Team owns Tally.", "Rahul Menon leads the Platform Team.", "Rahul Menon reports to Helena Marsh.",
         "Tally and Wren came up at lunch."],
        {"Tally": "Product", "Platform Team": "Team", "Rahul Menon": "Person", "Helena Marsh": "Person", "Wren": "Product",
         "Roster": "Product"},
        relations=(("Platform Team", "OWNS", "Tally", 0), ("Rahul Menon", "LEADS", "Platform Team", 1),
                   ("Rahul Menon", "REPORTS_TO", "Helena Marsh", 2), ("Tally", "MENTIONED_WITH", "Wren", 3),
                   ("Wren", "DEPENDS_ON", "Roster", 3)),
    )
    doc.upsert(graph_store)
    tally = [doc.entity("Tally").id]

    def stated(facts: list[Fact]) -> list[tuple[str, str, str]]:
        return [(f.subject, f.predicate, f.object) for f in facts if f.predicate != "MENTIONED_WITH"]

    assert stated(graph_store.facts_about(tally, limit=20)) == [("Platform Team", "OWNS", "Tally")]
    further = stated(graph_store.facts_about(tally, limit=20, second_hop=True))
    # The team's own relation comes after Tally's; two hops from the team (Helena) is not reached, nor
    # what lies beyond a co-mention (Wren depends on Roster), and nothing comes twice.
    assert further == [("Platform Team", "OWNS", "Tally"), ("Rahul Menon", "LEADS", "Platform Team")]
    assert graph_store.facts_about(tally, limit=2, second_hop=True)[:2] == graph_store.facts_about(
        tally, limit=20, second_hop=True)[:2]


def test_hostile_strings_round_trip_unchanged(graph_store: GraphStore, query: Query) -> None:
    nasty = "O'Brien \"Q\" \\ back\\slash '}) DETACH DELETE n // \n$rows {x: 1} `tick` 名前"
    doc = contribution(
        f"dir/{nasty}.md",
        [f"{nasty} decided it.", "Plain chunk."],
        {nasty: "Person", "it": "Topic"},
        relations=((nasty, "DECIDED", "it", 0),),
        title=nasty,
    )
    doc.upsert(graph_store)

    stored = query("MATCH (d:Document) RETURN d.title AS title, d.source AS source")
    assert stored == [{"title": nasty, "source": doc.document.source}]
    texts = {r["text"] for r in query("MATCH (c:Chunk) RETURN c.text AS text")}
    assert texts == {c.text for c in doc.chunks}
    assert nasty in entity_names(query)
    evidence = query("MATCH ()-[r:DECIDED]->() RETURN r.evidence AS evidence")
    assert evidence == [{"evidence": doc.chunks[0].text}]
    assert graph_store.find_entities([nasty.upper()]) == [doc.entity(nasty)]
    assert graph_store.stats().nodes == 1 + 2 + 2  # nothing was deleted by the text


def test_facts_about_returns_provenance(graph_store: GraphStore) -> None:
    doc = contribution(
        "team.md",
        ["Ann works on Apollo with Bob.", "Ann works on Apollo daily; Bob too.", "Ann met Cy."],
        {"Ann": "Person", "Apollo": "Project", "Bob": "Person", "Cy": "Person"},
        relations=(
            ("Ann", "WORKS_ON", "Apollo", 0),
            ("Ann", "WORKS_ON", "Apollo", 1),
            ("Ann", "MENTIONED_WITH", "Cy", 2),  # stated co-occurrence: not repeated as a derived fact
        ),
    )
    doc.upsert(graph_store)
    c0, c1, c2 = (c.id for c in doc.chunks)

    facts = graph_store.facts_about([doc.entity("Ann").id], limit=10)

    assert facts[0] == Fact(subject="Ann", predicate="WORKS_ON", object="Apollo", chunk_ids=tuple(sorted((c0, c1))))
    assert Fact(subject="Ann", predicate="MENTIONED_WITH", object="Cy", chunk_ids=(c2,)) in facts
    derived = [f for f in facts if f.predicate == "MENTIONED_WITH" and f.object != "Cy"]
    assert derived == [
        Fact(subject="Ann", predicate="MENTIONED_WITH", object="Apollo", chunk_ids=tuple(sorted((c0, c1)))),
        Fact(subject="Ann", predicate="MENTIONED_WITH", object="Bob", chunk_ids=tuple(sorted((c0, c1)))),
    ]
    assert len(facts) == 4
    assert graph_store.facts_about([doc.entity("Ann").id], limit=1) == facts[:1]
    assert graph_store.facts_about([], limit=5) == []

    # Asking about both ends of a pair reports it once.
    both = graph_store.facts_about([doc.entity("Ann").id, doc.entity("Bob").id], limit=20)
    pairs = [frozenset((f.subject, f.object)) for f in both if f.predicate == "MENTIONED_WITH"]
    assert len(pairs) == len(set(pairs))
    assert frozenset(("Apollo", "Bob")) in pairs


def test_invalid_input_is_rejected_before_anything_is_written(graph_store: GraphStore) -> None:
    doc = contribution("x.md", ["Ann likes Bob."], {"Ann": "Person", "Bob": "Person"})
    liking = Relation(
        source_id=doc.entity("Ann").id, target_id=doc.entity("Bob").id, type="LIKES", chunk_id=doc.chunks[0].id
    )
    with pytest.raises(ValueError, match="unknown relation type"):
        graph_store.upsert_document(doc.document, doc.chunks, doc.entities, doc.mentions, [liking])
    stray = Mention(entity_id="ent_missing", chunk_id=doc.chunks[0].id, text="x", start=0, end=1)
    with pytest.raises(ValueError, match="ent_missing"):
        graph_store.upsert_document(doc.document, doc.chunks, doc.entities, [stray], [])
    assert graph_store.document_ids() == set()


def test_unknown_entity_types_are_stored_under_other(graph_store: GraphStore, query: Query) -> None:
    doc = contribution("y.md", ["Zed and Kafka."], {"Zed": "PERSON", "Kafka": "software"})
    doc.upsert(graph_store)
    rows = query("MATCH (e:Entity) RETURN e.name AS name, labels(e) AS labels, e.type AS type ORDER BY name")
    assert [(r["name"], set(r["labels"]), r["type"]) for r in rows] == [
        ("Kafka", {"Entity", "Other"}, "software"),
        ("Zed", {"Entity", "Person"}, "PERSON"),
    ]


def test_open_reports_the_uri_when_the_server_is_unreachable() -> None:
    store = GraphStore("bolt://127.0.0.1:1", ("root", "x"))
    with pytest.raises(GraphServerError, match=r"bolt://127\.0\.0\.1:1"):
        store.open()
    with pytest.raises(RuntimeError, match="not open"):
        store.document_ids()


def test_open_reports_rejected_credentials(graph_server: LocalGraphServer) -> None:
    info = graph_server.start()
    with pytest.raises(GraphServerError, match="rejected the credentials"):
        GraphStore(info.uri, ("root", "wrong-password"), info.database).open()


def test_entity_catalogue_follows_writes_of_this_store_and_others(
    graph_store: GraphStore, graph_server: LocalGraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    types = ("Person", "Organization", "Location")

    def names() -> set[str]:
        return {e.name for e in graph_store.entity_catalogue(types)}

    a = contribution("a.md", ["Ann works at Acme."], {"Ann": "Person", "Acme": "Organization"})
    a.upsert(graph_store)
    assert names() == {"Ann", "Acme"}
    # A new document extends the kept catalogue; dates are not among the types asked for.
    contribution("b.md", ["Bea met Ann in Oslo on 2026-03-02."],
                 {"Bea": "Person", "Ann": "Person", "Oslo": "Location", "2026-03-02": "Date"}).upsert(graph_store)
    assert names() == {"Ann", "Acme", "Bea", "Oslo"}
    # A changed document whose old entities lose their support: the removed ones leave the catalogue.
    contribution("a.md", ["Ann left."], {"Ann": "Person"}).upsert(graph_store)
    assert names() == {"Ann", "Bea", "Oslo"}
    graph_store.delete_document(Document.make_id("b.md"))
    assert names() == {"Ann"}

    # Another process's write is seen once the kept catalogue is older than CATALOGUE_MAX_AGE.
    info = graph_server.start()
    with GraphStore(info.uri, info.auth, info.database) as other:
        contribution("c.md", ["Cy joined."], {"Cy": "Person"}).upsert(other)
    monkeypatch.setattr("graph.store.CATALOGUE_MAX_AGE", 0.0)
    assert names() == {"Ann", "Cy"}
