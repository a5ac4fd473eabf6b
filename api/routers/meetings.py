from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.deps import ReadKey, ServiceDep
from api.problems import problem_responses
from generation.minutes import Minutes

router = APIRouter(prefix="/v1/meetings", tags=["meetings"], responses=problem_responses(401, 403, 404, 429))


@router.get("/{meeting_id}/minutes", response_model=Minutes)
def meeting_minutes(meeting_id: str, service: ServiceDep, key: ReadKey) -> Minutes:
    """The meeting's minutes: summary, topics, decisions, action items and open questions, each citing turns."""
    minutes = service.minutes(meeting_id, collections=key.collections)
    if minutes is None:
        # Indistinguishable from a missing meeting: a key does not learn what other collections hold.
        raise HTTPException(status_code=404, detail=f"no meeting with id {meeting_id!r}")
    return minutes
