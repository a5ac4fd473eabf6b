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

Graph model::

    (:Document {id, source, title, kind, language, content_hash, entity_ids})
        -[:HAS_CHUNK]->(:Chunk {id, document_id, index, text, start, end})
        -[:MENTIONS {start, end, text}]->(:Entity:<EntityType> {id, name, name_key, type})
    (:Entity)-[:<RELATION_TYPE> {chunk_id, document_id, evidence}]->(:Entity)

``Document.entity_ids`` lists every entity the document's extraction touched. It
is what lets a re-ingest or delete find the document's relationships through
the ``Entity.id`` index instead of scanning every relationship in the graph.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class EntityType(StrEnum):
    """Entity labels. ``Other`` catches any type an extractor invents."""

    PERSON = "Person"
    ORGANIZATION = "Organization"
    TEAM = "Team"
    PROJECT = "Project"
    PRODUCT = "Product"
    LOCATION = "Location"
    EVENT = "Event"
    DATE = "Date"
    TOPIC = "Topic"
    OTHER = "Other"


class RelationType(StrEnum):
    """Relationship types between entities. There is no catch-all: an unknown type is an extractor bug."""

    WORKS_ON = "WORKS_ON"
    MEMBER_OF = "MEMBER_OF"
    REPORTS_TO = "REPORTS_TO"
    LEADS = "LEADS"
    OWNS = "OWNS"
    DEPENDS_ON = "DEPENDS_ON"
    DECIDED = "DECIDED"
    ASSIGNED_TO = "ASSIGNED_TO"
    ATTENDED = "ATTENDED"
    MENTIONED_WITH = "MENTIONED_WITH"
    PARTNERS_WITH = "PARTNERS_WITH"
    LOCATED_IN = "LOCATED_IN"


ENTITY_TYPES: Final[frozenset[str]] = frozenset(t.value for t in EntityType)
RELATION_TYPES: Final[frozenset[str]] = frozenset(t.value for t in RelationType)

# Predicate of the facts derived at query time from chunks that mention two entities.
CO_OCCURRENCE: Final[str] = RelationType.MENTIONED_WITH.value

_ENTITY_BY_FOLDED: Final[dict[str, str]] = {t.casefold(): t for t in ENTITY_TYPES}


# ---- closed-set checks --------------------------------------------------------------
def entity_label(type_name: str) -> str:
    """The label for an entity type: case-insensitive match to the closed set, else ``Other``.

    Extractors speak loosely ("person", "PERSON"); the graph keeps one spelling.
    Mapping unknown types to ``Other`` (instead of failing) keeps one odd entity
    from failing a whole document; its original ``type`` string is still stored
    as a property, where it is a parameter and therefore harmless.
    """
    return _ENTITY_BY_FOLDED.get(type_name.strip().casefold(), EntityType.OTHER.value)


def relation_type(name: str) -> str:
    """Canonical relationship type for ``name`` ("works on" -> ``WORKS_ON``); ``ValueError`` if not in the set."""
    canonical = "_".join(name.replace("-", " ").split()).upper()
    if canonical not in RELATION_TYPES:
        raise ValueError(f"unknown relation type {name!r}; expected one of {sorted(RELATION_TYPES)}")
    return canonical


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
    "CREATE INDEX chunk_document_id IF NOT EXISTS FOR (n:Chunk) ON (n.document_id)",
    "CREATE INDEX entity_name_key IF NOT EXISTS FOR (n:Entity) ON (n.name_key)",
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
    d.entity_ids = $document.entity_ids
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
SET m.text = row.text
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
    r.evidence = row.evidence
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
RETURN s.id AS subject_id, s.name AS subject, predicate, o.id AS object_id, o.name AS object, chunk_ids
ORDER BY size(chunk_ids) DESC, subject, predicate, object
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

# Deleting in bounded batches keeps each transaction's memory bounded on a big graph.
CLEAR_BATCH: Final[str] = """
MATCH (n)
WITH n LIMIT $batch
DETACH DELETE n
RETURN count(*) AS deleted
"""
