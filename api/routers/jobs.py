from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import JobsDep, ReadKey
from api.problems import problem_responses
from api.schemas import JobList, JobOut

router = APIRouter(prefix="/v1/jobs", tags=["documents"], responses=problem_responses(401, 403, 404, 429))

JobId = Annotated[str, Path(pattern=r"^job_[0-9a-f]{16}$", examples=["job_3f9a1c0d5e7b2a64"])]


@router.get("", response_model=JobList)
def list_jobs(jobs: JobsDep, key: ReadKey, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JobList:
    """The most recent upload jobs in the collections the key can see, newest first."""
    return JobList(jobs=[JobOut.of(j) for j in jobs.recent(limit, key.collections)])


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: JobId, jobs: JobsDep, key: ReadKey) -> JobOut:
    """The state of an upload job: queued, running, succeeded or failed, with its ingest report."""
    job = jobs.get(job_id)
    # A job in a collection the key cannot see does not exist for that key.
    if job is None or not key.sees(job.collection):
        raise HTTPException(status_code=404, detail=f"no job with id {job_id}")
    return JobOut.of(job)
