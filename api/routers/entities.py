"""Knowledge graph inspection: entity search, one entity with its sourced relationships, and counts."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from api.deps import GraphReadKey, ServiceDep
from api.schemas import EdgeOut, EntityDetail, EntityOut, GraphStatsOut

router = APIRouter(prefix="/v1", tags=["graph"])


@router.get("/entities", response_model=list[EntityOut])
def search_entities(
    service: ServiceDep,
    key: GraphReadKey,
    q: str = Query(min_length=1, max_length=200, description="Part of the name, any case."),
    limit: int = Query(default=20, ge=1, le=200),
) -> list[EntityOut]:
    """Entities whose name contains ``q``, most connected first."""
    return [EntityOut(id=e.id, name=e.name, type=e.type, degree=d) for e, d in service.search_entities(q, limit)]


@router.get("/entities/{entity_id}", response_model=EntityDetail)
def get_entity(entity_id: str, service: ServiceDep, key: GraphReadKey) -> EntityDetail:
    """The entity, where it is mentioned, and every relationship with the chunk and sentence it came from."""
    view = service.entity(entity_id)
    if view is None:
        raise HTTPException(status_code=404, detail=f"no entity with id {entity_id}")
    edges = []
    for edge in view.edges:
        other = edge.target_id if edge.source_id == view.entity.id else edge.source_id
        name, labels = view.neighbours.get(other, (None, []))
        edges.append(EdgeOut(source_id=edge.source_id, type=edge.type, target_id=edge.target_id, other_id=other,
                             other_name=name, other_labels=labels, chunk_id=edge.chunk_id,
                             document_id=edge.document_id, evidence=edge.evidence, start=edge.start, end=edge.end))
    return EntityDetail(id=view.entity.id, name=view.entity.name, type=view.entity.type, mentions=view.mentions,
                        document_ids=view.document_ids, edges=edges)


@router.get("/graph/stats", response_model=GraphStatsOut)
def graph_stats(service: ServiceDep, key: GraphReadKey) -> GraphStatsOut:
    """Node counts by label and relationship counts by type."""
    stats = service.graph_stats()
    return GraphStatsOut(uri=stats.uri, server_agent=stats.server_agent, nodes=stats.nodes,
                         relationships=stats.relationships, by_label=stats.by_label,
                         by_relation_type=stats.by_relation_type)
