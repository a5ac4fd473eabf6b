"""Every Cypher statement Lore sends to the graph server, and nothing else.

Rules this module keeps, so the rest of the code base does not have to:

* Values only ever travel as parameters (``$rows``, ``$id``, ...). Text from
  documents, questions or users is never formatted into a statement.
* Cypher cannot parameterise labels or relationship types, so the builders that
  put one into a statement accept only members of the closed sets below and
  raise ``ValueError`` for anything else.
* Writes are batched: one ``UNWIND $rows AS row ...`` per statement.
* Only the portable subset that behaves the same on Neo4j 5 and on ArcadeDB's
  Bolt endpoint: no APOC, no fulltext/vector index DDL, no ``CALL {} IN
  TRANSACTIONS``. Every statement here is tested against ArcadeDB and written to
  Neo4j 5's documented grammar; so far none needs a server-specific variant.

Graph model (the full description, with examples, is docs/graph-schema.md)::

    (:Document {id, source, title, kind, language, content_hash, entity_ids})
        -[:HAS_CHUNK]->(:Chunk {id, document_id, index, text, start, end})
        -[:MENTIONS {document_id, start, end, text}]->(:Entity:<EntityType> {id, name, name_key, type})
    (:Entity)-[:<RELATION_TYPE> {chunk_id, document_id, evidence, start, end}]->(:Entity)
    (:Entity:Event:Meeting {date, attendees, document_id})-[:RECORDED_IN]->(:Document)
    (:Meeting)-[:HAS_DECISION]->(:Decision {id, text, document_id, chunk_id, start, end})
    (:Meeting)-[:HAS_ACTION_ITEM]->(:ActionItem {id, text, owner, due, ...})-[:ASSIGNED_TO]->(:Person)
    (:Person)-[:DECIDED {chunk_id, document_id, start, end}]->(:Decision)

``Document.entity_ids`` lists every entity the document's extraction touched. It
is what lets a re-ingest or delete find the document's relationships through
the ``Entity.id`` index instead of scanning every relationship in the graph.
"""

from __future__ import annotations

from typing import Final

from core.vocabulary import (  # noqa: F401  (re-exported: the builders' closed sets)
    CO_OCCURRENCE,
    ENTITY_TYPES,
    RELATION_TYPES,
    EntityType,
    RelationType,
    entity_label,
    relation_type,
)


def _checked_label(label: str) -> str:
    # Exact membership, no normalisation: the builders are the last line of
    # defence before text becomes part of a statement.
    if label not in ENTITY_TYPES:
        raise ValueError(f"label {label!r} is not an entity type; expected one of {sorted(ENTITY_TYPES)}")
    return label


def _checked_type(rel_type: str) -> str:
    if rel_type not in RELATION_TYPES:
        raise ValueError(f"relationship type {rel_type!r} is not allowed; expected one of {sorted(RELATION_TYPES)}")
    return rel_type


# ---- schema -------------------------------------------------------------------------
# Uniqueness constraints also create the backing index that every MERGE/MATCH by id uses.
SCHEMA: Final[tuple[str, ...]] = (
    "CREATE CONSTRAINT document_id IF NOT EXISTS FOR (n:Document) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT chunk_id IF NOT EXISTS FOR (n:Chunk) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT decision_id IF NOT EXISTS FOR (n:Decision) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT action_item_id IF NOT EXISTS FOR (n:ActionItem) REQUIRE n.id IS UNIQUE",
    "CREATE INDEX chunk_document_id IF NOT EXISTS FOR (n:Chunk) ON (n.document_id)",
    "CREATE INDEX entity_name_key IF NOT EXISTS FOR (n:Entity) ON (n.name_key)",
    "CREATE INDEX decision_document_id IF NOT EXISTS FOR (n:Decision) ON (n.document_id)",
    "CREATE INDEX action_item_document_id IF NOT EXISTS FOR (n:ActionItem) ON (n.document_id)",
)


# ---- removing a document's contribution ------------------------------------------------
DOCUMENT_ENTITY_IDS: Final[str] = """
MATCH (d:Document {id: $id})
RETURN coalesce(d.entity_ids, []) AS entity_ids
"""

# Every relationship a document contributed starts at one of its entities and
# carries its document_id; walking out of those entities uses the Entity.id index.
DELETE_DOCUMENT_RELATIONS: Final[str] = """
UNWIND $entity_ids AS entity_id
MATCH (:Entity {id: entity_id})-[r]->(:Entity)
WHERE r.document_id = $id
DELETE r
"""

# DETACH also removes the HAS_CHUNK and MENTIONS relationships of those chunks.
DELETE_DOCUMENT_CHUNKS: Final[str] = """
MATCH (c:Chunk {document_id: $id})
DETACH DELETE c
"""

# Decisions and action items belong to exactly one document; DETACH takes their
# HAS_*, DECIDED and ASSIGNED_TO relationships with them.
DELETE_DOCUMENT_DECISIONS: Final[str] = """
MATCH (n:Decision {document_id: $id})
DETACH DELETE n
"""

DELETE_DOCUMENT_ACTION_ITEMS: Final[str] = """
MATCH (n:ActionItem {document_id: $id})
DETACH DELETE n
"""

# The meeting entity stays while something else supports it; the link to the
# document is re-made by the new version if it is still a meeting.
DELETE_DOCUMENT_RECORDED_IN: Final[str] = """
MATCH (:Document {id: $id})<-[r:RECORDED_IN]-()
DELETE r
"""

DELETE_DOCUMENT: Final[str] = """
MATCH (d:Document {id: $id})
DETACH DELETE d
"""

# An entity exists while some chunk supports it: a mention, or a relationship
# (which always carries a chunk_id). Anything else is left over from deleted text.
PRUNE_ENTITIES: Final[str] = """
UNWIND $entity_ids AS entity_id
MATCH (e:Entity {id: entity_id})
WHERE NOT EXISTS { (e)--() }
DELETE e
"""


# ---- writing a document ---------------------------------------------------------------
MERGE_DOCUMENT: Final[str] = """
MERGE (d:Document {id: $document.id})
SET d.source = $document.source,
    d.title = $document.title,
    d.kind = $document.kind,
    d.language = $document.language,
    d.content_hash = $document.content_hash,
    d.entity_ids = $document.entity_ids,
    d.authors = $document.authors,
    d.tags = $document.tags,
    d.date = $document.date
"""

MERGE_CHUNKS: Final[str] = """
MATCH (d:Document {id: $document_id})
UNWIND $rows AS row
MERGE (c:Chunk {id: row.id})
SET c.document_id = $document_id,
    c.index = row.index,
    c.text = row.text,
    c.start = row.start,
    c.end = row.end
MERGE (d)-[:HAS_CHUNK]->(c)
"""

# One MENTIONS per (chunk, entity, span): the same name twice in a chunk is two mentions.
MERGE_MENTIONS: Final[str] = """
UNWIND $rows AS row
MATCH (c:Chunk {id: row.chunk_id})
MATCH (e:Entity {id: row.entity_id})
MERGE (c)-[m:MENTIONS {start: row.start, end: row.end}]->(e)
SET m.text = row.text,
    m.document_id = row.document_id
"""

# The meeting is an Event entity with a third label; MERGE with all three labels
# (see merge_entities for why labels are never SET on ArcadeDB).
MERGE_MEETINGS: Final[str] = """
MATCH (d:Document {id: $document_id})
UNWIND $rows AS row
MERGE (m:Entity:Event:Meeting {id: row.id})
SET m.name = row.name,
    m.name_key = row.name_key,
    m.type = row.type,
    m.date = row.date,
    m.attendees = row.attendees,
    m.document_id = $document_id
MERGE (m)-[:RECORDED_IN]->(d)
"""

MERGE_DECISIONS: Final[str] = """
UNWIND $rows AS row
MATCH (m:Meeting {id: row.meeting_id})
MERGE (n:Decision {id: row.id})
SET n.text = row.text,
    n.document_id = $document_id,
    n.chunk_id = row.chunk_id,
    n.start = row.start,
    n.end = row.end,
    n.decided_by = row.decided_by_name
MERGE (m)-[:HAS_DECISION]->(n)
WITH n, row
WHERE row.decided_by IS NOT NULL
MATCH (p:Entity {id: row.decided_by})
MERGE (p)-[r:DECIDED {chunk_id: row.chunk_id}]->(n)
SET r.document_id = $document_id,
    r.start = row.start,
    r.end = row.end,
    r.evidence = row.text
"""

MERGE_ACTION_ITEMS: Final[str] = """
UNWIND $rows AS row
MATCH (m:Meeting {id: row.meeting_id})
MERGE (n:ActionItem {id: row.id})
SET n.text = row.text,
    n.owner = row.owner,
    n.due = row.due,
    n.document_id = $document_id,
    n.chunk_id = row.chunk_id,
    n.start = row.start,
    n.end = row.end
MERGE (m)-[:HAS_ACTION_ITEM]->(n)
WITH n, row
WHERE row.owner_id IS NOT NULL
MATCH (p:Entity {id: row.owner_id})
MERGE (n)-[r:ASSIGNED_TO {chunk_id: row.chunk_id}]->(p)
SET r.document_id = $document_id,
    r.start = row.start,
    r.end = row.end,
    r.evidence = row.text
"""


def merge_entities(label: str) -> str:
    """Upsert entities of one type; ``label`` must be a member of ``ENTITY_TYPES``.

    Both labels sit in the MERGE pattern rather than in a later ``SET e:Label``:
    ArcadeDB implements a label change by re-creating the vertex under another
    type, which trips the unique index on ``Entity.id`` (ConstraintValidationFailed).
    The pattern cannot miss an existing node, because the label follows from the
    type and ``Entity.make_id`` hashes the type into the id.
    """
    label = _checked_label(label)
    return f"""
UNWIND $rows AS row
MERGE (e:Entity:{label} {{id: row.id}})
SET e.name = row.name,
    e.name_key = row.name_key,
    e.type = row.type
"""


def merge_relations(rel_type: str) -> str:
    """Upsert relationships of one type, one per (source, type, target, chunk) so provenance stays exact.

    ``rel_type`` must be a member of ``RELATION_TYPES``.
    """
    rel_type = _checked_type(rel_type)
    return f"""
UNWIND $rows AS row
MATCH (a:Entity {{id: row.source_id}})
MATCH (b:Entity {{id: row.target_id}})
MERGE (a)-[r:{rel_type} {{chunk_id: row.chunk_id}}]->(b)
SET r.document_id = $document_id,
    r.evidence = row.evidence,
    r.start = row.start,
    r.end = row.end,
    r.origin = row.origin
"""


# ---- reads ----------------------------------------------------------------------------
# Cheapest statement that proves the database is open and the credentials work.
PING: Final[str] = "RETURN 1 AS ok"

DOCUMENT_IDS: Final[str] = "MATCH (d:Document) RETURN d.id AS id"

CHUNK_IDS: Final[str] = "MATCH (c:Chunk) RETURN c.id AS id"

CHUNK_IDS_OF_DOCUMENT: Final[str] = "MATCH (c:Chunk {document_id: $document_id}) RETURN c.id AS id"

# Keys are casefolded in Python (Cypher's toLower() is not Unicode case folding).
# Each row carries its rank so the caller's order (e.g. longest span first) survives DISTINCT.
FIND_ENTITIES: Final[str] = """
UNWIND $rows AS row
MATCH (e:Entity {name_key: row.key})
WITH e, min(row.rank) AS rank
RETURN e.id AS id, e.name AS name, e.type AS type
ORDER BY rank, id
LIMIT $limit
"""

# WITH DISTINCT r: a relationship between two of the requested entities is
# reached from both ends. Grouping by (start, type, end) folds the one-per-chunk
# relationships back into one fact with all its supporting chunks.
TYPED_FACTS: Final[str] = """
UNWIND $ids AS entity_id
MATCH (:Entity {id: entity_id})-[r]-(:Entity)
WITH DISTINCT r
WITH startNode(r) AS s, type(r) AS predicate, endNode(r) AS o, collect(DISTINCT r.chunk_id) AS chunk_ids
RETURN s.id AS subject_id, s.name AS subject, predicate, o.id AS object_id, o.name AS object, chunk_ids,
       CASE predicate WHEN $co_occurrence THEN 1 ELSE 0 END AS vague
// A stated relation (LEADS, DEPENDS_ON, ...) says more than co-occurrence, whatever its support.
ORDER BY vague, size(chunk_ids) DESC, subject, predicate, object
LIMIT $limit
"""

# Stated relations one hop further: those of the entities a stated relation ties to the asked ones
# ("the team that owns Tally": Tally <-OWNS- Platform Team, then Rahul Menon -LEADS-> Platform Team),
# leaving out what touches the asked entities themselves (the query above has those).
SECOND_HOP_FACTS: Final[str] = """
UNWIND $ids AS entity_id
MATCH (:Entity {id: entity_id})-[first]-(n:Entity)
WHERE type(first) <> $co_occurrence AND NOT n.id IN $ids
WITH DISTINCT n
MATCH (n)-[r]-(m:Entity)
WHERE type(r) <> $co_occurrence AND NOT m.id IN $ids
WITH DISTINCT r
WITH startNode(r) AS s, type(r) AS predicate, endNode(r) AS o, collect(DISTINCT r.chunk_id) AS chunk_ids
RETURN s.id AS subject_id, s.name AS subject, predicate, o.id AS object_id, o.name AS object, chunk_ids
ORDER BY size(chunk_ids) DESC, subject, predicate, object
LIMIT $limit
"""

# Decisions a person made and tasks they own, as facts: "who decided X" is answered
# from the Decision's text, with the chunk that records it.
MEETING_FACTS: Final[str] = """
UNWIND $ids AS entity_id
MATCH (e:Entity {id: entity_id})-[r:DECIDED|ASSIGNED_TO]-(n)
WHERE n:Decision OR n:ActionItem
RETURN e.name AS subject, type(r) AS predicate, n.text AS object, n.due AS due, n.chunk_id AS chunk_id
ORDER BY subject, predicate, object
LIMIT $limit
"""

# A pair where both entities were asked about is reported once (a.id < b.id).
CO_OCCURRENCE_FACTS: Final[str] = """
UNWIND $ids AS entity_id
MATCH (a:Entity {id: entity_id})<-[:MENTIONS]-(c:Chunk)-[:MENTIONS]->(b:Entity)
WHERE a <> b AND (NOT b.id IN $ids OR a.id < b.id)
WITH a, b, collect(DISTINCT c.id) AS chunk_ids
RETURN a.id AS subject_id, a.name AS subject, b.id AS object_id, b.name AS object, chunk_ids
ORDER BY size(chunk_ids) DESC, subject, object
LIMIT $limit
"""

# Every typed relation, folded per (subject, type, object) like TYPED_FACTS: the
# fine-tuning data builder turns them into templated questions.
ALL_TYPED_FACTS: Final[str] = """
MATCH (s:Entity)-[r]->(o:Entity)
WITH s, type(r) AS predicate, o, collect(DISTINCT r.chunk_id) AS chunk_ids
RETURN s.id AS subject_id, s.name AS subject, predicate, o.id AS object_id, o.name AS object, chunk_ids
ORDER BY subject, predicate, object
LIMIT $limit
"""

COUNT_NODES: Final[str] = "MATCH (n) RETURN count(n) AS total"

COUNT_RELATIONSHIPS: Final[str] = "MATCH ()-[r]->() RETURN count(r) AS total"

COUNT_BY_LABEL: Final[str] = "MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS total"

COUNT_BY_RELATION_TYPE: Final[str] = "MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS total"

# ---- entity inspection (lore graph show, /v1/entities) --------------------------------
ENTITY_BY_ID: Final[str] = """
MATCH (e:Entity {id: $id})
OPTIONAL MATCH (c:Chunk)-[m:MENTIONS]->(e)
RETURN e.id AS id, e.name AS name, e.type AS type, labels(e) AS labels,
       count(m) AS mentions, collect(DISTINCT c.document_id) AS document_ids
"""

# Substring search on the casefolded key; the caller casefolds $q in Python.
SEARCH_ENTITIES: Final[str] = """
MATCH (e:Entity)
WHERE e.name_key CONTAINS $q
OPTIONAL MATCH (e)-[r]-()
WITH e, count(r) AS degree
RETURN e.id AS id, e.name AS name, e.type AS type, degree
ORDER BY degree DESC, name
LIMIT $limit
"""

# The rows of an entity's neighbourhood: each relationship with its provenance.
_EDGE_ROWS: Final[str] = """
RETURN startNode(r).id AS source_id, type(r) AS type, endNode(r).id AS target_id,
       n.id AS other_id, coalesce(n.name, n.text) AS other_name, labels(n) AS other_labels,
       r.chunk_id AS chunk_id, r.document_id AS document_id, r.evidence AS evidence,
       r.start AS start, r.end AS end
ORDER BY type, other_name
LIMIT $limit
"""

# Every relationship at the entity; Decision and ActionItem neighbours come back too
# (their text is the name).
ENTITY_EDGES: Final[str] = """
MATCH (e:Entity {id: $id})-[r]-(n)
WHERE NOT n:Chunk""" + _EDGE_ROWS

# ---- the same inspection, limited to some documents (API keys limited to collections) -----
# $document_ids are the documents the caller may read. Every node and relationship Lore
# writes names its document: relationships and mentions carry ``document_id``; chunks,
# decisions, action items and meetings carry ``document_id``; a document is its ``id``.
# HAS_CHUNK, HAS_DECISION and HAS_ACTION_ITEM carry none and belong to the document of the
# node they point at, RECORDED_IN to the document itself: hence coalesce(r, end node, end id).
# An entity is visible when something in those documents supports it: a relationship or
# mention from them (counted here as its degree), or, for a meeting, its own document.
SEARCH_ENTITIES_IN_DOCUMENTS: Final[str] = """
MATCH (e:Entity)
WHERE e.name_key CONTAINS $q
OPTIONAL MATCH (e)-[r]-(n)
WHERE coalesce(r.document_id, n.document_id) IN $document_ids
WITH e, count(r) AS degree
WHERE degree > 0 OR e.document_id IN $document_ids
RETURN e.id AS id, e.name AS name, e.type AS type, degree
ORDER BY degree DESC, name
LIMIT $limit
"""

# No row when nothing in the documents supports the entity: to this caller it does not exist.
ENTITY_BY_ID_IN_DOCUMENTS: Final[str] = """
MATCH (e:Entity {id: $id})
OPTIONAL MATCH (c:Chunk)-[m:MENTIONS]->(e)
WHERE c.document_id IN $document_ids
WITH e, count(m) AS mentions, collect(DISTINCT c.document_id) AS document_ids
OPTIONAL MATCH (e)-[r]-(n)
WHERE coalesce(r.document_id, n.document_id) IN $document_ids
WITH e, mentions, document_ids, count(r) AS supported
WHERE supported > 0 OR e.document_id IN $document_ids
RETURN e.id AS id, e.name AS name, e.type AS type, labels(e) AS labels, mentions, document_ids
"""

ENTITY_EDGES_IN_DOCUMENTS: Final[str] = """
MATCH (e:Entity {id: $id})-[r]-(n)
WHERE NOT n:Chunk
  AND (coalesce(r.document_id, n.document_id) IN $document_ids OR (n:Document AND n.id IN $document_ids))""" + _EDGE_ROWS

# Counts by label set (a node has several labels; the caller sums totals for the node count).
COUNT_DOCUMENT_NODES_IN_DOCUMENTS: Final[str] = """
MATCH (n)
WHERE NOT n:Entity AND coalesce(n.document_id, n.id) IN $document_ids
RETURN labels(n) AS labels, count(*) AS total
"""

COUNT_ENTITIES_IN_DOCUMENTS: Final[str] = """
MATCH (e:Entity)
OPTIONAL MATCH (e)-[r]-(n)
WHERE coalesce(r.document_id, n.document_id) IN $document_ids
WITH e, count(r) AS supported
WHERE supported > 0 OR e.document_id IN $document_ids
RETURN labels(e) AS labels, count(*) AS total
"""

COUNT_RELATIONSHIPS_IN_DOCUMENTS: Final[str] = """
MATCH ()-[r]->(b)
WHERE coalesce(r.document_id, b.document_id, b.id) IN $document_ids
RETURN type(r) AS type, count(*) AS total
"""

# One hop out of a frontier of entities: the caller repeats it for more hops,
# which keeps the statement portable (no parameterised path lengths).
NEIGHBOURHOOD_HOP: Final[str] = """
UNWIND $ids AS entity_id
MATCH (a:Entity {id: entity_id})-[r]-(b:Entity)
WITH DISTINCT r, b
RETURN startNode(r).id AS source_id, type(r) AS type, endNode(r).id AS target_id, r.chunk_id AS chunk_id,
       b.id AS id, b.name AS name, b.type AS entity_type
LIMIT $limit
"""

ENTITIES_BY_IDS: Final[str] = """
UNWIND $ids AS entity_id
MATCH (e:Entity {id: entity_id})
RETURN e.id AS id, e.name AS name, e.type AS type
"""

MENTION_COUNTS: Final[str] = """
UNWIND $ids AS entity_id
MATCH (e:Entity {id: entity_id})
OPTIONAL MATCH (:Chunk)-[m:MENTIONS]->(e)
RETURN e.id AS id, count(m) AS mentions
"""

# What entity resolution compares new names with: every entity of the given types.
ENTITY_CATALOGUE: Final[str] = """
MATCH (e:Entity)
WHERE e.type IN $types AND NOT e:Meeting
RETURN e.id AS id, e.name AS name, e.type AS type
"""

# Deleting in bounded batches keeps each transaction's memory bounded on a big graph.
CLEAR_BATCH: Final[str] = """
MATCH (n)
WITH n LIMIT $batch
DETACH DELETE n
RETURN count(*) AS deleted
"""

# ---- retrieval reads (graph retriever) ---------------------------------------------
# The chunks that mention each entity, as a capped list per entity: a very common
# entity must not pull thousands of chunks into one query's subgraph.
CHUNKS_MENTIONING: Final[str] = """
UNWIND $ids AS entity_id
MATCH (c:Chunk)-[:MENTIONS]->(e:Entity {id: entity_id})
WITH e, collect(DISTINCT c.id) AS chunk_ids
RETURN e.id AS entity_id, chunk_ids[0..$per_entity] AS chunk_ids
"""

ENTITIES_IN_CHUNKS: Final[str] = """
UNWIND $chunk_ids AS chunk_id
MATCH (c:Chunk {id: chunk_id})-[:MENTIONS]->(e:Entity)
RETURN DISTINCT c.id AS chunk_id, e.id AS entity_id
"""

# One hop around the entities, typed; the caller walks a second hop by calling again.
ENTITY_NEIGHBOURS: Final[str] = """
UNWIND $ids AS entity_id
MATCH (a:Entity {id: entity_id})-[r]-(b:Entity)
RETURN DISTINCT a.id AS source_id, type(r) AS type, b.id AS target_id
LIMIT $limit
"""

ENTITY_NAMES: Final[str] = "MATCH (e:Entity) RETURN e.id AS id, e.name AS name, e.type AS type"

# The other spellings the documents use for an entity: the surface text of its mentions that is
# not its name ("TTS" for Technology Transformation Services after resolution merged them).
ENTITY_ALIASES: Final[str] = """
MATCH (:Chunk)-[m:MENTIONS]->(e:Entity)
WITH e, collect(DISTINCT m.text) AS surfaces
UNWIND surfaces AS surface
WITH e, surface WHERE toLower(surface) <> toLower(e.name)
RETURN e.id AS id, surface
"""
