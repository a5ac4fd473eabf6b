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
    """Ready when the models are loaded, the index is open and the graph server answers.

    While the server is still loading them (it starts answering first), the status is
    "starting" with 503; after a failed load it is "unavailable" with the reason. Whether
    the LLM is loaded yet is reported too: it loads on the first question.
    """
    if not service.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        failed = service.open_error
        return Readiness(status="unavailable" if failed else "starting", graph=False, index_vectors=0,
                         documents=service.metadata.document_count(), model_loaded=service.model_loaded,
                         detail=str(failed) if failed else None)
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
