from __future__ import annotations

from fastapi import APIRouter

from api.deps import ReadKey, ServiceDep, effective_collections
from api.problems import problem_responses
from api.schemas import FactOut, PassageOut, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1", tags=["search"], responses=problem_responses(401, 403, 413, 422, 429))


@router.post("/search", response_model=SearchResponse)
def search(request: SearchRequest, service: ServiceDep, key: ReadKey) -> SearchResponse:
    """Retrieval only: ranked passages and graph facts, no generation."""
    collections = effective_collections(key, request.requested_collections())
    found = service.search(request.query(collections))
    return SearchResponse(
        query=found.query,
        passages=[PassageOut.of(p) for p in found.passages],
        facts=[FactOut.of(f) for f in found.facts],
        seconds=found.seconds,
    )
