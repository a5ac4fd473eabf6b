from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServiceDep
from api.schemas import AskRequest, AskResponse

router = APIRouter(tags=["ask"])


# A plain ``def``: FastAPI runs it in a worker thread, so generation never blocks the event loop.
@router.post("/ask", response_model=AskResponse)
def ask(request: AskRequest, service: ServiceDep) -> AskResponse:
    """Answer a question from retrieved passages and graph facts, citing sources as [n]."""
    return AskResponse.of(service.ask(request.question, request.top_k))
