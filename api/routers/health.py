from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import ServiceDep
from api.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness)
def readyz(service: ServiceDep, response: Response) -> Readiness:
    """The graph server answers, the index is loaded; whether the LLM is loaded yet (it loads on the first question)."""
    # A trivial read, not the graph statistics: a probe must stay cheap on a large graph.
    graph_ok = service.graph_reachable()
    if not graph_ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(
        status="ready" if graph_ok else "unavailable",
        graph=graph_ok,
        index_vectors=len(service.vectors),
        documents=service.metadata.document_count(),
        model_loaded=service.model_loaded,
    )
