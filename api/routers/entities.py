"""Knowledge graph inspection: entity search, one entity with its sourced relationships, and counts.

A key limited to collections sees the graph as its collections' documents made it: the
graph queries themselves keep only entities, relationships, mentions and sources from them.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from api.deps import AdminKey, EnrichmentDep, ReadKey, ServiceDep, effective_collections
from api.problems import problem_responses
from api.schemas import EnrichRequest, EnrichStatus, EntityDetail, EntityOut, GraphStatsOut

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
    return EntityDetail.of(view)


@router.get("/graph/stats", response_model=GraphStatsOut)
def graph_stats(service: ServiceDep, key: ReadKey) -> GraphStatsOut:
    """Node counts by label and relationship counts by type."""
    stats = service.graph_stats(collections=effective_collections(key, None))
    return GraphStatsOut.of(stats)



@router.post("/graph/enrich", response_model=EnrichStatus, status_code=202)
def start_enrichment(enrichment: EnrichmentDep, key: AdminKey, body: EnrichRequest | None = None) -> EnrichStatus:
    """Start the LLM pass over chunks not yet enriched (one run at a time; a running one is left
    as it is). It reads every collection, so it needs the `admin` scope; it yields to queries
    between chunks, and a run cut off by a restart goes on from the next chunk when started again."""
    enrichment.start(body.limit if body else None)
    return EnrichStatus(**enrichment.status())


@router.get("/graph/enrich", response_model=EnrichStatus)
def enrichment_status(enrichment: EnrichmentDep, key: ReadKey) -> EnrichStatus:
    """Progress of the graph enrichment: chunks read, rate, estimated time left."""
    return EnrichStatus(**enrichment.status())
