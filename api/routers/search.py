from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServiceDep
from api.schemas import FactOut, PassageOut, SearchRequest, SearchResponse

router = APIRouter(tags=["search"])


@router.post("/search", response_model=SearchResponse)
def search(request: SearchRequest, service: ServiceDep) -> SearchResponse:
    """Retrieval only: ranked passages and graph facts, no generation."""
    found = service.search(request.question, request.top_k)
    return SearchResponse(
        query=found.query,
        passages=[PassageOut.of(p) for p in found.passages],
        facts=[FactOut.of(f) for f in found.facts],
        seconds=found.seconds,
    )
