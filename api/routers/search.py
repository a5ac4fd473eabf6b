from __future__ import annotations

from fastapi import APIRouter, HTTPException

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


@router.get("/chunks/{chunk_id}", response_model=PassageOut, responses=problem_responses(404))
def get_chunk(chunk_id: str, service: ServiceDep, key: ReadKey) -> PassageOut:
    """One stored chunk with its document's id, source and title: what a citation or a fact's `chunk_ids` point at."""
    stored = service.passages_by_id([chunk_id]).get(chunk_id)
    record = service.metadata.document(stored.document_id) if stored is not None else None
    # A chunk in a collection the key cannot see does not exist for that key.
    if stored is None or record is None or not key.sees(record.collection):
        raise HTTPException(status_code=404, detail=f"no chunk with id {chunk_id}")
    return PassageOut.of(stored)
