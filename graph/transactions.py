"""The work inside graph transactions: domain objects turned into parameter rows, and the
parameterised statements a document's write, delete and prune run (always from ``graph.cypher``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from neo4j import ManagedTransaction

from core.types import Chunk, Document, Entity, Fact, MeetingRecord, Mention, Relation, content_id
from core.vocabulary import name_key
from graph import cypher

T = TypeVar("T")
Row = dict[str, Any]

BATCH_ROWS = 500  # rows per UNWIND: large enough to amortise a round trip, small enough for any server


@dataclass
class DocumentRows:
    document: Row
    chunks: list[Row]
    entities: dict[str, list[Row]]  # label -> rows
    mentions: list[Row]
    relations: dict[str, list[Row]]  # relationship type -> rows
    entity_ids: list[str]
    meetings: list[Row] = field(default_factory=list)
    decisions: list[Row] = field(default_factory=list)
    action_items: list[Row] = field(default_factory=list)


def document_rows(
    document: Document,
    chunks: Sequence[Chunk],
    entities: Sequence[Entity],
    mentions: Sequence[Mention],
    relations: Sequence[Relation],
    meetings: Sequence[MeetingRecord] = (),
) -> DocumentRows:
    """Validate and shape everything before the first write: a bad reference fails loudly, not as a silent MATCH miss."""
    chunk_ids = {c.id for c in chunks}
    for chunk in chunks:
        if chunk.document_id != document.id:
            raise ValueError(f"chunk {chunk.id} belongs to {chunk.document_id}, not {document.id}")
    entity_by_id = {e.id: e for e in entities}

    def check(kind: str, chunk_id: str, *entity_ids: str) -> None:
        if chunk_id not in chunk_ids:
            raise ValueError(f"{kind} refers to chunk {chunk_id}, which is not among the document's chunks")
        for entity_id in entity_ids:
            if entity_id not in entity_by_id:
                raise ValueError(f"{kind} refers to entity {entity_id}, which is not among the entities given")

    meeting_ids = {m.entity_id for m in meetings}
    by_label: dict[str, list[Row]] = defaultdict(list)
    for entity in entity_by_id.values():
        if entity.id in meeting_ids:  # written by MERGE_MEETINGS with its third label
            continue
        by_label[cypher.entity_label(entity.type)].append(
            {"id": entity.id, "name": entity.name, "name_key": name_key(entity.name), "type": entity.type}
        )

    mention_rows: dict[tuple[str, str, int, int], Row] = {}
    for m in mentions:
        check("mention", m.chunk_id, m.entity_id)
        row = {"chunk_id": m.chunk_id, "entity_id": m.entity_id, "text": m.text, "start": m.start, "end": m.end,
               "document_id": document.id}
        mention_rows.setdefault((m.chunk_id, m.entity_id, m.start, m.end), row)

    # One relationship per (source, type, target, chunk); the first evidence wins.
    relation_rows: dict[tuple[str, str, str, str], Row] = {}
    for r in relations:
        check(f"relation {r.type}", r.chunk_id, r.source_id, r.target_id)
        rel_type = cypher.relation_type(r.type)
        row = {"source_id": r.source_id, "target_id": r.target_id, "chunk_id": r.chunk_id, "evidence": r.evidence,
               "start": r.start, "end": r.end, "origin": r.origin}
        relation_rows.setdefault((r.source_id, rel_type, r.target_id, r.chunk_id), row)
    by_type: dict[str, list[Row]] = defaultdict(list)
    for (_, rel_type, _, _), row in relation_rows.items():
        by_type[rel_type].append(row)

    meeting_rows, decision_rows, action_rows = [], [], []
    for meeting in meetings:
        if meeting.entity_id not in entity_by_id:
            raise ValueError(f"meeting {meeting.title!r} refers to entity {meeting.entity_id}, which is not among the entities given")
        meeting_rows.append({"id": meeting.entity_id, "name": meeting.title, "name_key": name_key(meeting.title), "type": "Event",
                             "date": meeting.date, "attendees": list(meeting.attendees)})
        for index, d in enumerate(meeting.decisions):
            check("decision", d.chunk_id, *([d.decided_by] if d.decided_by else []))
            decision_rows.append({
                "id": content_id(document.id, meeting.entity_id, "decision", str(index), prefix="dec_"),
                "meeting_id": meeting.entity_id, "text": d.text, "chunk_id": d.chunk_id, "start": d.start,
                "end": d.end, "decided_by": d.decided_by,
                "decided_by_name": entity_by_id[d.decided_by].name if d.decided_by else None,
            })
        for index, a in enumerate(meeting.action_items):
            check("action item", a.chunk_id, *([a.owner_id] if a.owner_id else []))
            action_rows.append({
                "id": content_id(document.id, meeting.entity_id, "action", str(index), prefix="act_"),
                "meeting_id": meeting.entity_id, "text": a.text, "owner": a.owner, "owner_id": a.owner_id,
                "due": a.due, "chunk_id": a.chunk_id, "start": a.start, "end": a.end,
            })

    entity_ids = sorted(entity_by_id)
    return DocumentRows(
        document={
            "id": document.id,
            "source": document.source,
            "title": document.title,
            "kind": document.kind,
            "language": document.language,
            "content_hash": document.content_hash,
            "entity_ids": entity_ids,
            # What the author declared (Markdown front matter), for the Browser: WHERE 'hr' IN d.tags.
            "authors": list(document.metadata.get("authors") or []),
            "tags": list(document.metadata.get("tags") or []),
            "date": next(iter((document.metadata.get("dates") or {}).values()), None),
        },
        chunks=[
            {"id": c.id, "index": c.index, "text": c.text, "start": c.start, "end": c.end}
            for c in {c.id: c for c in chunks}.values()
        ],
        entities=dict(by_label),
        mentions=list(mention_rows.values()),
        relations=dict(by_type),
        entity_ids=entity_ids,
        meetings=meeting_rows,
        decisions=decision_rows,
        action_items=action_rows,
    )


def batches(rows: Sequence[T], size: int = BATCH_ROWS) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# ---- transaction bodies ------------------------------------------------------------------------
def run(tx: ManagedTransaction, query: str, parameters: Row) -> None:
    tx.run(query, parameters).consume()


def run_batched(tx: ManagedTransaction, query: str, rows: Sequence[Any], key: str = "rows", **extra: Any) -> None:
    for batch in batches(rows):
        run(tx, query, {key: list(batch), **extra})


def remove_contribution(tx: ManagedTransaction, document_id: str) -> list[str]:
    """Delete the document's relationships and chunks; returns the entities it used to reference."""
    record = tx.run(cypher.DOCUMENT_ENTITY_IDS, {"id": document_id}).single()
    entity_ids: list[str] = list(record["entity_ids"]) if record else []
    run_batched(tx, cypher.DELETE_DOCUMENT_RELATIONS, entity_ids, key="entity_ids", id=document_id)
    run(tx, cypher.DELETE_DOCUMENT_DECISIONS, {"id": document_id})
    run(tx, cypher.DELETE_DOCUMENT_ACTION_ITEMS, {"id": document_id})
    run(tx, cypher.DELETE_DOCUMENT_RECORDED_IN, {"id": document_id})
    run(tx, cypher.DELETE_DOCUMENT_CHUNKS, {"id": document_id})
    return entity_ids


def prune(tx: ManagedTransaction, entity_ids: Sequence[str]) -> None:
    run_batched(tx, cypher.PRUNE_ENTITIES, entity_ids, key="entity_ids")


def fact_of(record: Any, predicate: str) -> Fact:
    return Fact(
        subject=record["subject"],
        predicate=predicate,
        object=record["object"],
        chunk_ids=tuple(sorted(record["chunk_ids"])),
    )
