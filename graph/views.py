"""What graph reads return: statistics, edges with their provenance, an entity's view, a neighbourhood."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.types import Entity


@dataclass
class GraphStats:
    """What ``lore graph status`` and the health check show."""

    uri: str
    server_agent: str
    nodes: int
    relationships: int
    by_label: dict[str, int] = field(default_factory=dict)
    by_relation_type: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Edge:
    """One relationship with where it came from."""

    source_id: str
    type: str
    target_id: str
    chunk_id: str | None
    document_id: str | None = None
    evidence: str | None = None
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class EntityView:
    """An entity with its edges and the neighbours they reach: what ``lore graph show`` prints."""

    entity: Entity
    mentions: int
    document_ids: list[str]
    edges: list[Edge]
    neighbours: dict[str, tuple[str, list[str]]]  # id -> (name, labels)


@dataclass(frozen=True)
class Neighbourhood:
    """Entities within some hops of a seed set and the typed edges between them, with supporting chunk ids."""

    nodes: dict[str, Entity]
    edges: list[Edge]

    @property
    def chunk_ids(self) -> set[str]:
        return {e.chunk_id for e in self.edges if e.chunk_id}
