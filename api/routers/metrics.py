from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import AdminKey
from api.problems import problem_responses

router = APIRouter(tags=["health"], responses=problem_responses(401, 403, 429))


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request, key: AdminKey) -> Response:
    """Prometheus metrics: requests and latency by route, ingest counters, index size. Needs the admin scope."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
