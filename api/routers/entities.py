"""Knowledge graph inspection: entity search, one entity with its sourced relationships, and counts.

A key limited to collections sees the graph as its collections' documents made it: the
graph queries themselves keep only entities, relationships, mentions and sources from them.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from api.deps import ReadKey, ServiceDep, effective_collections
from api.problems import problem_responses
from api.schemas import EdgeOut, EntityDetail, EntityOut, GraphStatsOut

router = APIRouter(prefix="/v1", tags=["graph"], responses=problem_responses(401, 403, 422, 429))


@router.get("/entities", response_model=list[EntityOut])
def search_entities(
    service: ServiceDep,
    key: ReadKey,
    q: str = Query(min_length=1, max_length=200, description="Part of the name, any case."),
    limit: int = Query(default=20, ge=1, le=200),
) -> list[EntityOut]:
    """Entities whose name contains ``q``, most connected first."""
    found = service.search_entities(q, limit, collections=effective_collections(key, None))
    return [EntityOut(id=e.id, name=e.name, type=e.type, degree=d) for e, d in found]


@router.get("/entities/{entity_id}", response_model=EntityDetail, responses=problem_responses(404))
def get_entity(entity_id: str, service: ServiceDep, key: ReadKey) -> EntityDetail:
    """The entity, where it is mentioned, and every relationship with the chunk and sentence it came from."""
    view = service.entity(entity_id, collections=effective_collections(key, None))
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
def graph_stats(service: ServiceDep, key: ReadKey) -> GraphStatsOut:
    """Node counts by label and relationship counts by type."""
    stats = service.graph_stats(collections=effective_collections(key, None))
    return GraphStatsOut(uri=stats.uri, server_agent=stats.server_agent, nodes=stats.nodes,
                         relationships=stats.relationships, by_label=stats.by_label,
                         by_relation_type=stats.by_relation_type)

