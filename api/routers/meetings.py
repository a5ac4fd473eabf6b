from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from api.deps import ReadKey, ServiceDep
from api.problems import problem_responses
from generation.minutes import Minutes


class TurnOut(BaseModel):
    index: int
    speaker: str
    text: str
    start: int
    end: int

router = APIRouter(prefix="/v1/meetings", tags=["meetings"], responses=problem_responses(401, 403, 404, 429))


@router.get("/{meeting_id}/minutes", response_model=Minutes)
def meeting_minutes(meeting_id: str, service: ServiceDep, key: ReadKey) -> Minutes:
    """The meeting's minutes: summary, topics, decisions, action items and open questions, each citing turns."""
    minutes = service.minutes(meeting_id, collections=key.collections)
    if minutes is None:
        # Indistinguishable from a missing meeting: a key does not learn what other collections hold.
        raise HTTPException(status_code=404, detail=f"no meeting with id {meeting_id!r}")
    return minutes


@router.get("/{meeting_id}/turns", response_model=list[TurnOut])
def meeting_turns(meeting_id: str, service: ServiceDep, key: ReadKey) -> list[TurnOut]:
    """The meeting's turns in order: minutes cite them by `index`."""
    turns = service.meeting_turns(meeting_id, collections=key.collections)
    if turns is None:
        raise HTTPException(status_code=404, detail=f"no meeting with id {meeting_id!r}")
    return [TurnOut(index=t.index, speaker=t.speaker, text=t.text, start=t.start, end=t.end) for t in turns]
