from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.deps import ServiceDep
from generation.minutes import Minutes

router = APIRouter(prefix="/meetings", tags=["meetings"])


@router.get("/{meeting_id}/minutes", response_model=Minutes)
def meeting_minutes(meeting_id: str, service: ServiceDep) -> Minutes:
    """The meeting's minutes: summary, topics, decisions, action items and open questions, each citing turns."""
    minutes = service.minutes(meeting_id)
    if minutes is None:
        raise HTTPException(status_code=404, detail=f"no meeting with id {meeting_id!r}")
    return minutes
