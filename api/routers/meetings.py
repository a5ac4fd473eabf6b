from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.deps import ReadKey, ServiceDep
from generation.minutes import Minutes

router = APIRouter(prefix="/v1/meetings", tags=["meetings"])


@router.get("/{meeting_id}/minutes", response_model=Minutes)
def meeting_minutes(meeting_id: str, service: ServiceDep, key: ReadKey) -> Minutes:
    """The meeting's minutes: summary, topics, decisions, action items and open questions, each citing turns."""
    record = service.metadata.document(meeting_id)
    if record is not None and not key.sees(record.collection):
        # Indistinguishable from a missing meeting: a key does not learn what other collections hold.
        raise HTTPException(status_code=404, detail=f"no meeting with id {meeting_id!r}")
    minutes = service.minutes(meeting_id)
    if minutes is None:
        raise HTTPException(status_code=404, detail=f"no meeting with id {meeting_id!r}")
    return minutes
