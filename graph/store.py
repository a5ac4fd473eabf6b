"""GraphStore: Lore's knowledge graph on any Bolt server (Neo4j 5, or the local ArcadeDB).

Documents, chunks, entities and the relations between them, each relation tied
to the chunk that states it. A document's whole contribution is replaced in one
transaction, so the graph never shows half of an old and half of a new version.

All Cypher comes from :mod:`graph.cypher`. Every write runs through
``session.execute_write`` and every read through ``execute_read``; transient
driver failures are retried by one tenacity policy (the driver's own retry loop
is switched off so the two do not multiply).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Self, TypeVar

from neo4j import Driver, GraphDatabase, ManagedTransaction
from neo4j.exceptions import AuthError, DriverError, Neo4jError
from tenacity import Retrying, before_sleep_log, retry_if_exception, stop_after_attempt, wait_exponential

from core.errors import GraphServerError
from core.types import Chunk, Document, Entity, Fact, MeetingRecord, Mention, Relation
from core.vocabulary import name_key
from graph import cypher
from graph.transactions import document_rows, fact_of, prune, remove_contribution, run, run_batched
from graph.views import Edge, EntityView, GraphStats, Neighbourhood

logger = logging.getLogger(__name__)

T = TypeVar("T")

_CLEAR_BATCH = 10_000
_RETRY_ATTEMPTS = 4


def _is_transient(exc: BaseException) -> bool:
    # The driver classifies its own errors: TransientError, ServiceUnavailable and
    # SessionExpired report retryable; syntax, constraint and auth errors do not.
    return isinstance(exc, Neo4jError | DriverError) and exc.is_retryable()


def _retrying() -> Retrying:
    # A fresh controller per call: tenacity keeps per-run statistics on it.
    return Retrying(
        retry=retry_if_exception(_is_transient),
        stop=stop_after_attempt(_RETRY_ATTEMPTS),
        wait=wait_exponential(multiplier=0.25, max=4.0),
        before_sleep=before_sleep_log(logger, logging.WARNING),
        reraise=True,
    )


CATALOGUE_MAX_AGE = 60.0  # seconds an in-memory entity catalogue is trusted without another write through it


class GraphStore:
    """The knowledge graph behind a Bolt URI. The constructor does no I/O; ``open()`` connects."""

    def __init__(self, uri: str, auth: tuple[str, str], database: str | None = None) -> None:
        self.uri = uri
        self.auth = auth
        self.database = database
        self._driver: Driver | None = None
        # Write transactions run through this store: readers that keep graph data in memory
        # (the retriever's mention index) reload when it changes.
        self.writes = 0
        # The entity catalogue is read before every document's extraction and grows with the graph.
        # It is kept per type set, extended by this store's own writes of new documents, and read
        # afresh after any other write or once older than CATALOGUE_MAX_AGE (other processes write too).
        self._catalogue: dict[tuple[str, ...], tuple[float, int, dict[str, Entity]]] = {}
        self._catalogue_lock = threading.Lock()

    # ---- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Connect and check that the server answers, the credentials work and the database exists."""
        if self._driver is not None:
            return
        try:
            # max_transaction_retry_time=0: retries are _retrying()'s job, not the driver's too.
            driver = GraphDatabase.driver(self.uri, auth=self.auth, max_transaction_retry_time=0.0)
        except (DriverError, ValueError) as exc:
            raise GraphServerError(f"invalid graph server URI {self.uri!r}: {exc}") from exc
        try:
            driver.verify_connectivity()
            driver.execute_query(cypher.PING, database_=self.database)
        except AuthError as exc:
            driver.close()
            raise GraphServerError(
                f"graph server at {self.uri} rejected the credentials of user {self.auth[0]!r}"
            ) from exc
        except (Neo4jError, DriverError, OSError) as exc:
            driver.close()
            raise GraphServerError(f"cannot reach the graph server at {self.uri}: {exc}") from exc
        self._driver = driver

    def ping(self) -> None:
        """One trivial read: raises GraphServerError when the server does not answer (readiness probes)."""
        self._read(lambda tx: tx.run(cypher.PING).consume())

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- writes ------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create the constraints and indexes if missing; safe to call on every start."""
        for statement in cypher.SCHEMA:
            # One transaction per statement: Neo4j does not mix schema changes with other work.
            self._write(partial(run, query=statement, parameters={}))

    def upsert_document(
        self,
        document: Document,
        chunks: list[Chunk],
        entities: list[Entity],
        mentions: list[Mention],
        relations: list[Relation],
        meetings: Sequence[MeetingRecord] = (),
    ) -> None:
        """Replace the document's whole contribution (node, chunks, mentions, relations, meeting
        structure) in one transaction.

        Entities the old version referenced and nothing supports any more are removed.
        Raises ValueError, before writing anything, when a mention or relation refers
        to a chunk or entity not given, or a relation type is outside the closed set.
        """
        rows = document_rows(document, chunks, entities, mentions, relations, meetings)

        def work(tx: ManagedTransaction) -> bool:
            old_entity_ids = remove_contribution(tx, document.id)
            run(tx, cypher.MERGE_DOCUMENT, {"document": rows.document})
            run_batched(tx, cypher.MERGE_CHUNKS, rows.chunks, document_id=document.id)
            # Meetings before the other entities: their node needs all three labels at creation.
            run_batched(tx, cypher.MERGE_MEETINGS, rows.meetings, document_id=document.id)
            for label, entity_rows in rows.entities.items():
                run_batched(tx, cypher.merge_entities(label), entity_rows)
            run_batched(tx, cypher.MERGE_MENTIONS, rows.mentions)
            for rel_type, relation_rows in rows.relations.items():
                run_batched(tx, cypher.merge_relations(rel_type), relation_rows, document_id=document.id)
            run_batched(tx, cypher.MERGE_DECISIONS, rows.decisions, document_id=document.id)
            run_batched(tx, cypher.MERGE_ACTION_ITEMS, rows.action_items, document_id=document.id)
            still_used = set(rows.entity_ids)
            pruned = [e for e in old_entity_ids if e not in still_used]
            prune(tx, pruned)
            return not pruned

        if self._write(work):  # nothing removed: the catalogue only gained this document's entities
            meeting_ids = {m.entity_id for m in meetings}
            self._extend_catalogue([e for e in entities if e.id not in meeting_ids])

    def _extend_catalogue(self, entities: list[Entity]) -> None:
        with self._catalogue_lock:
            for types, (read_at, writes, known) in list(self._catalogue.items()):
                if writes == self.writes - 1:  # current up to this write
                    known.update((e.id, e) for e in entities if e.type in types and e.id not in known)
                    self._catalogue[types] = (read_at, self.writes, known)

    def delete_document(self, document_id: str) -> None:
        """Remove the document, its chunks, mentions and relations, and entities nothing else supports."""

        def work(tx: ManagedTransaction) -> None:
            old_entity_ids = remove_contribution(tx, document_id)
            run(tx, cypher.DELETE_DOCUMENT, {"id": document_id})
            prune(tx, old_entity_ids)

        self._write(work)

    def clear(self) -> None:
        """Delete every node and relationship (constraints and indexes stay). Meant for tests."""

        def work(tx: ManagedTransaction) -> int:
            record = tx.run(cypher.CLEAR_BATCH, {"batch": _CLEAR_BATCH}).single()
            return int(record["deleted"]) if record else 0

        while self._write(work):
            pass

    # ---- reads -------------------------------------------------------------------------------
    def document_ids(self) -> set[str]:
        return self._read(lambda tx: {r["id"] for r in tx.run(cypher.DOCUMENT_IDS)})

    def chunk_ids(self, document_id: str | None = None) -> set[str]:
        if document_id is None:
            return self._read(lambda tx: {r["id"] for r in tx.run(cypher.CHUNK_IDS)})
        return self._read(
            lambda tx: {r["id"] for r in tx.run(cypher.CHUNK_IDS_OF_DOCUMENT, {"document_id": document_id})}
        )

    def find_entities(self, names: list[str], limit: int = 20) -> list[Entity]:
        """Entities whose name equals one of ``names`` ignoring case, in the order of ``names``."""
        keys = list(dict.fromkeys(k for k in (name_key(n) for n in names) if k))
        if not keys or limit <= 0:
            return []
        rows = [{"key": key, "rank": rank} for rank, key in enumerate(keys)]

        def work(tx: ManagedTransaction) -> list[Entity]:
            result = tx.run(cypher.FIND_ENTITIES, {"rows": rows, "limit": limit})
            return [Entity(id=r["id"], name=r["name"], type=r["type"]) for r in result]

        return self._read(work)

    def facts_about(self, entity_ids: list[str], limit: int, *, second_hop: bool = False) -> list[Fact]:
        """Typed relations touching the entities, then the decisions and action items of the people
        among them, then co-occurrence facts, best supported first. With ``second_hop``, the stated
        relations of the entities a stated relation ties them to come after their own stated ones.

        Each fact carries the ids of the chunks that support it. Co-occurrence
        (chunks mentioning both entities) is derived at query time; a pair that
        already has a stored MENTIONED_WITH relation is not repeated.
        """
        ids = list(dict.fromkeys(entity_ids))
        if not ids or limit <= 0:
            return []

        def work(tx: ManagedTransaction) -> list[Fact]:
            typed = list(tx.run(cypher.TYPED_FACTS, {"ids": ids, "limit": limit, "co_occurrence": cypher.CO_OCCURRENCE}))
            facts = [fact_of(r, r["predicate"]) for r in typed if r["predicate"] != cypher.CO_OCCURRENCE]
            if second_hop and len(facts) < limit:
                further = tx.run(cypher.SECOND_HOP_FACTS, {"ids": ids, "limit": limit - len(facts),
                                                           "co_occurrence": cypher.CO_OCCURRENCE})
                facts.extend(fact_of(r, r["predicate"]) for r in further)
            facts += [fact_of(r, r["predicate"]) for r in typed if r["predicate"] == cypher.CO_OCCURRENCE]
            if len(facts) < limit:
                for r in tx.run(cypher.MEETING_FACTS, {"ids": ids, "limit": limit - len(facts)}):
                    task = f"{r['object']} (due {r['due']})" if r["due"] else r["object"]
                    facts.append(Fact(subject=r["subject"], predicate=r["predicate"], object=task,
                                      chunk_ids=(r["chunk_id"],) if r["chunk_id"] else ()))
            stated = {
                frozenset((r["subject_id"], r["object_id"])) for r in typed if r["predicate"] == cypher.CO_OCCURRENCE
            }
            remaining = limit - len(facts)
            if remaining > 0:
                derived = tx.run(cypher.CO_OCCURRENCE_FACTS, {"ids": ids, "limit": remaining + len(stated)})
                for r in derived:
                    if frozenset((r["subject_id"], r["object_id"])) not in stated:
                        facts.append(fact_of(r, cypher.CO_OCCURRENCE))
            return facts[:limit]

        return self._read(work)

    def entity(
        self, entity_id: str, limit: int = 200, *, document_ids: Sequence[str] | None = None
    ) -> EntityView | None:
        """The entity, how often it is mentioned and where, and its relationships with their sources.

        With ``document_ids``, only what those documents support: mentions, relationships and
        sources from them, and None when nothing in them supports the entity.
        """
        if document_ids is None:
            by_id, edge_query, scope = cypher.ENTITY_BY_ID, cypher.ENTITY_EDGES, {}
        else:
            by_id, edge_query = cypher.ENTITY_BY_ID_IN_DOCUMENTS, cypher.ENTITY_EDGES_IN_DOCUMENTS
            scope = {"document_ids": list(document_ids)}

        def work(tx: ManagedTransaction) -> EntityView | None:
            record = tx.run(by_id, {"id": entity_id, **scope}).single()
            if record is None or record["id"] is None:
                return None
            edges, neighbours = [], {}
            for r in tx.run(edge_query, {"id": entity_id, "limit": limit, **scope}):
                edges.append(Edge(r["source_id"], r["type"], r["target_id"], r["chunk_id"], r["document_id"],
                                  r["evidence"], r["start"], r["end"]))
                neighbours[r["other_id"]] = (r["other_name"], list(r["other_labels"]))
            return EntityView(
                entity=Entity(id=record["id"], name=record["name"], type=record["type"]),
                mentions=int(record["mentions"]),
                document_ids=sorted(d for d in record["document_ids"] if d),
                edges=edges,
                neighbours=neighbours,
            )

        return self._read(work)

    def lookup(self, name_or_id: str) -> EntityView | None:
        """An entity by id, else by exact name (ignoring case), else the most connected partial match."""
        view = self.entity(name_or_id)
        if view is None:
            found = self.find_entities([name_or_id], limit=1) or [e for e, _ in self.search_entities(name_or_id, 1)]
            view = self.entity(found[0].id) if found else None
        return view

    def search_entities(
        self, query: str, limit: int = 20, *, document_ids: Sequence[str] | None = None
    ) -> list[tuple[Entity, int]]:
        """Entities whose name contains ``query`` (ignoring case), most connected first, with their degree.

        With ``document_ids``, only entities those documents support, with the degree counted in them.
        """
        key = name_key(query)
        if not key or limit <= 0:
            return []
        if document_ids is None:
            statement, parameters = cypher.SEARCH_ENTITIES, {"q": key, "limit": limit}
        else:
            statement = cypher.SEARCH_ENTITIES_IN_DOCUMENTS
            parameters = {"q": key, "limit": limit, "document_ids": list(document_ids)}

        def work(tx: ManagedTransaction) -> list[tuple[Entity, int]]:
            result = tx.run(statement, parameters)
            return [(Entity(id=r["id"], name=r["name"], type=r["type"]), int(r["degree"])) for r in result]

        return self._read(work)

    def neighbourhood(self, entity_ids: list[str], hops: int = 1, limit: int = 500) -> Neighbourhood:
        """Entities within ``hops`` typed relationships of the seeds, the edges walked and their chunk ids.

        One indexed one-hop query per hop; ``limit`` bounds the edges read per hop.
        """
        seeds = list(dict.fromkeys(entity_ids))
        if not seeds:
            return Neighbourhood({}, [])

        def work(tx: ManagedTransaction) -> Neighbourhood:
            nodes = {r["id"]: Entity(id=r["id"], name=r["name"], type=r["type"])
                     for r in tx.run(cypher.ENTITIES_BY_IDS, {"ids": seeds})}
            edges: dict[tuple[str, str, str, str | None], Edge] = {}
            frontier = list(nodes)
            for _ in range(max(hops, 0)):
                if not frontier:
                    break
                found = []
                for r in tx.run(cypher.NEIGHBOURHOOD_HOP, {"ids": frontier, "limit": limit}):
                    edge = Edge(r["source_id"], r["type"], r["target_id"], r["chunk_id"])
                    edges.setdefault((edge.source_id, edge.type, edge.target_id, edge.chunk_id), edge)
                    if r["id"] not in nodes:
                        nodes[r["id"]] = Entity(id=r["id"], name=r["name"], type=r["entity_type"])
                        found.append(r["id"])
                frontier = found
            return Neighbourhood(nodes, list(edges.values()))

        return self._read(work)

    def entity_catalogue(self, types: Sequence[str]) -> list[Entity]:
        """Every entity of the given types (meetings excluded): the candidates entity resolution compares with."""
        if not types:
            return []
        key = tuple(sorted(set(types)))
        with self._catalogue_lock:
            cached = self._catalogue.get(key)
        if cached is not None and cached[1] == self.writes and time.monotonic() - cached[0] < CATALOGUE_MAX_AGE:
            return list(cached[2].values())
        writes, read_at = self.writes, time.monotonic()
        entities = self._read(lambda tx: [Entity(id=r["id"], name=r["name"], type=r["type"])
                                          for r in tx.run(cypher.ENTITY_CATALOGUE, {"types": list(key)})])
        with self._catalogue_lock:
            self._catalogue[key] = (read_at, writes, {e.id: e for e in entities})
        return entities

    def mention_counts(self, entity_ids: Sequence[str]) -> dict[str, int]:
        """How many mentions each stored entity has (entities not stored are left out)."""
        ids = list(dict.fromkeys(entity_ids))
        if not ids:
            return {}
        return self._read(lambda tx: {r["id"]: int(r["mentions"]) for r in tx.run(cypher.MENTION_COUNTS, {"ids": ids})})

    def chunks_mentioning(self, entity_ids: list[str], per_entity: int = 50) -> dict[str, list[str]]:
        """For each entity, the ids of (at most ``per_entity``) chunks that mention it."""
        ids = list(dict.fromkeys(entity_ids))
        if not ids or per_entity <= 0:
            return {}

        def work(tx: ManagedTransaction) -> dict[str, list[str]]:
            result = tx.run(cypher.CHUNKS_MENTIONING, {"ids": ids, "per_entity": per_entity})
            return {r["entity_id"]: list(r["chunk_ids"])[:per_entity] for r in result}

        return self._read(work)

    def entities_in_chunks(self, chunk_ids: list[str]) -> list[tuple[str, str]]:
        """(chunk id, entity id) for every entity the chunks mention."""
        ids = list(dict.fromkeys(chunk_ids))
        if not ids:
            return []
        return self._read(
            lambda tx: [(r["chunk_id"], r["entity_id"]) for r in tx.run(cypher.ENTITIES_IN_CHUNKS, {"chunk_ids": ids})]
        )

    def entity_neighbours(self, entity_ids: list[str], limit: int = 500) -> list[tuple[str, str, str]]:
        """(entity id, relationship type, neighbour id) one hop around the entities, either direction."""
        ids = list(dict.fromkeys(entity_ids))
        if not ids or limit <= 0:
            return []
        return self._read(
            lambda tx: [
                (r["source_id"], r["type"], r["target_id"])
                for r in tx.run(cypher.ENTITY_NEIGHBOURS, {"ids": ids, "limit": limit})
            ]
        )

    def entity_names(self) -> list[Entity]:
        """Every entity (id, name, type): the vocabulary fuzzy entity linking matches against."""
        return self._read(
            lambda tx: [Entity(id=r["id"], name=r["name"], type=r["type"]) for r in tx.run(cypher.ENTITY_NAMES)]
        )

    def entity_aliases(self) -> list[tuple[str, str]]:
        """(entity id, surface form) for every spelling a mention used that is not the entity's name."""
        return self._read(lambda tx: [(r["id"], r["surface"]) for r in tx.run(cypher.ENTITY_ALIASES)])


    def typed_facts(self, limit: int = 10_000) -> list[Fact]:
        """Every stored relation between entities as a fact with its supporting chunks (for training data)."""

        def work(tx: ManagedTransaction) -> list[Fact]:
            return [fact_of(r, r["predicate"]) for r in tx.run(cypher.ALL_TYPED_FACTS, {"limit": limit})]

        return self._read(work)

    def stats(self, *, document_ids: Sequence[str] | None = None) -> GraphStats:
        """Node counts by label and relationship counts by type; with ``document_ids``, only the
        nodes and relationships those documents contributed (entities: those they support)."""

        def work(tx: ManagedTransaction) -> tuple[int, int, dict[str, int], dict[str, int]]:
            nodes = tx.run(cypher.COUNT_NODES).single()
            relationships = tx.run(cypher.COUNT_RELATIONSHIPS).single()
            by_label = {r["label"]: int(r["total"]) for r in tx.run(cypher.COUNT_BY_LABEL)}
            by_type = {r["type"]: int(r["total"]) for r in tx.run(cypher.COUNT_BY_RELATION_TYPE)}
            return (int(nodes["total"]) if nodes else 0, int(relationships["total"]) if relationships else 0,
                    by_label, by_type)

        def scoped(tx: ManagedTransaction) -> tuple[int, int, dict[str, int], dict[str, int]]:
            scope = {"document_ids": list(document_ids or [])}
            node_count, by_label = 0, defaultdict(int)
            for statement in (cypher.COUNT_DOCUMENT_NODES_IN_DOCUMENTS, cypher.COUNT_ENTITIES_IN_DOCUMENTS):
                for r in tx.run(statement, scope):
                    node_count += int(r["total"])
                    for label in r["labels"]:
                        by_label[label] += int(r["total"])
            by_type = {r["type"]: int(r["total"]) for r in tx.run(cypher.COUNT_RELATIONSHIPS_IN_DOCUMENTS, scope)}
            return node_count, sum(by_type.values()), dict(by_label), by_type

        nodes, relationships, by_label, by_type = self._read(work if document_ids is None else scoped)
        try:
            agent = str(self._require_driver().get_server_info().agent)
        except (Neo4jError, DriverError) as exc:
            raise GraphServerError(f"cannot read server info from {self.uri}: {exc}") from exc
        return GraphStats(uri=self.uri, server_agent=agent, nodes=nodes, relationships=relationships,
                          by_label=by_label, by_relation_type=by_type)

    # ---- plumbing -----------------------------------------------------------------------------
    def _require_driver(self) -> Driver:
        if self._driver is None:
            raise RuntimeError("GraphStore is not open; call open() or use it as a context manager")
        return self._driver

    def _write(self, work: Callable[[ManagedTransaction], T]) -> T:
        return self._execute(work, write=True)

    def _read(self, work: Callable[[ManagedTransaction], T]) -> T:
        return self._execute(work, write=False)

    def _execute(self, work: Callable[[ManagedTransaction], T], *, write: bool) -> T:
        driver = self._require_driver()
        try:
            result: T = _retrying()(self._in_session, driver, work, write)
            return result
        except (Neo4jError, DriverError) as exc:
            kind = "write" if write else "read"
            raise GraphServerError(f"graph {kind} on {self.uri} failed: {exc}") from exc
        finally:
            if write:
                self.writes += 1

    def _in_session(self, driver: Driver, work: Callable[[ManagedTransaction], T], write: bool) -> T:
        with driver.session(database=self.database) as session:
            return session.execute_write(work) if write else session.execute_read(work)
