"""Which graph entities each catalog chunk mentions, held in memory beside the chunk catalog.

The graph retriever needs, per question, the entities mentioned in its candidate chunks and
the chunks mentioning the linked entities. Read from the graph server per question, that is
two round trips (10-50 ms on a busy machine); the mention edges change only when documents
are written, so they are read once, in batches, and brought up to date incrementally when the
catalog changes (new chunks read, removed chunks dropped) or reloaded when the graph was written
through the store (a merge or unmerge can move mentions without changing any chunk).
"""

from __future__ import annotations

import threading

import numpy as np

from storage.protocols import GraphReader
from retrieval.catalog import ChunkCatalog

BATCH = 2_000


class MentionIndex:
    def __init__(self, graph: GraphReader, catalog: ChunkCatalog, batch: int = BATCH) -> None:
        self.graph = graph
        self.catalog = catalog
        self.batch = batch
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        self._by_chunk: dict[str, tuple[str, ...]] = {}
        self._by_entity: dict[str, list[str]] = {}

    def _graph_writes(self) -> int:
        return self.graph.writes

    def refresh(self) -> None:
        """Bring the index in line with the catalog and the graph (cheap when neither changed)."""
        key = (self.catalog.version, self._graph_writes())
        if key == self._key:
            return
        with self._lock:
            if key == self._key:
                return
            current = {row.chunk_id for row in self.catalog.rows}
            by_chunk = {} if self._key is None or key[1] != self._key[1] else dict(self._by_chunk)
            for chunk_id in set(by_chunk) - current:
                del by_chunk[chunk_id]
            missing = sorted(current - set(by_chunk))
            for start in range(0, len(missing), self.batch):
                part = missing[start : start + self.batch]
                found: dict[str, list[str]] = {}
                for chunk_id, entity_id in self.graph.entities_in_chunks(part):
                    found.setdefault(chunk_id, []).append(entity_id)
                for chunk_id in part:
                    by_chunk[chunk_id] = tuple(dict.fromkeys(found.get(chunk_id, ())))
            by_entity: dict[str, list[str]] = {}
            for row in self.catalog.rows:  # catalog order, so "the first n chunks" is stable
                for entity_id in by_chunk.get(row.chunk_id, ()):
                    by_entity.setdefault(entity_id, []).append(row.chunk_id)
            self._by_chunk, self._by_entity, self._key = by_chunk, by_entity, key

    def entities_in(self, chunk_ids: list[str]) -> list[tuple[str, str]]:
        """(chunk id, entity id) for every entity the chunks mention."""
        self.refresh()
        by_chunk = self._by_chunk
        return [(c, e) for c in dict.fromkeys(chunk_ids) for e in by_chunk.get(c, ())]

    def chunks_mentioning(self, entity_ids: list[str], per_entity: int,
                          mask: np.ndarray | None = None) -> dict[str, list[str]]:
        """For each entity, the ids of (at most ``per_entity``) chunks that mention it, within ``mask``
        (a boolean array over catalog rows) when given: filtering before the cap keeps a filtered
        search from losing the admitted chunks behind those of other documents."""
        self.refresh()
        if per_entity <= 0:
            return {}
        out: dict[str, list[str]] = {}
        for entity_id in dict.fromkeys(entity_ids):
            chunk_ids = self._by_entity.get(entity_id)
            if not chunk_ids:
                continue
            if mask is not None:
                rows = (self.catalog.row_of_chunk(c) for c in chunk_ids)
                chunk_ids = [c for c, row in zip(chunk_ids, rows) if row is not None and mask[row]]
            if chunk_ids:
                out[entity_id] = chunk_ids[:per_entity]
        return out
