from __future__ import annotations

import os
import shutil
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Path, Query, Response, UploadFile, status

from api.deps import IngestKey, JobsDep, ReadKey, RunnerDep, ServiceDep, SettingsDep
from api.jobs import new_job_id
from api.keys import ApiKey
from api.service import LoreService
from api.problems import problem_responses
from api.schemas import (COLLECTION_PATTERN, ChunkOut, DocumentContent, DocumentEntityOut, DocumentList, DocumentOut,
                         RejectedFile, UploadAccepted)
from ingest.loaders import supported_suffixes
from core.types import Document
from storage.metadata import DEFAULT_COLLECTION, DocumentRecord

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=problem_responses(401, 403, 429))

# Not pattern-checked: an id that names no document is a 404 whatever its shape, as a person would expect.
DocumentId = Annotated[str, Path(max_length=200, examples=["doc_0f3e5a7c9b1d2f4e6a8c0b2d4f6e8a0c"])]
MAX_NAME_BYTES = 200


def safe_file_name(raw: str | None) -> str:
    """The client's file name if it is a plain, supported name; never a path. Raises ValueError why not."""
    if not raw:
        raise ValueError("the part has no file name")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise ValueError("file name contains control characters")
    if "/" in raw or "\\" in raw:
        raise ValueError("file name must not contain a path ('/' or '\\')")
    if raw.startswith(".") or raw.strip() != raw:
        raise ValueError("hidden, relative or space-padded file names are not accepted")
    if len(raw.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"file name longer than {MAX_NAME_BYTES} bytes")
    suffix = FsPath(raw).suffix.lower()
    if suffix not in supported_suffixes():
        raise ValueError(f"unsupported file type {suffix or '(none)'!r}; supported: {', '.join(sorted(supported_suffixes()))}")
    return raw


def _write_new(folder: FsPath, name: str, upload: UploadFile) -> int:
    """Copy an upload into ``folder/name``: a new regular file, never through a symlink."""
    target = folder / name
    if target.resolve().parent != folder.resolve():
        raise ValueError("file name resolves outside the upload folder")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as out:
        upload.file.seek(0)
        shutil.copyfileobj(upload.file, out, length=1024 * 1024)
        return out.tell()


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadAccepted,
    responses=problem_responses(413, 422),
)
def upload_documents(
    files: Annotated[list[UploadFile], File(description="One or more files (.md, .txt, ...) to ingest.")],
    settings: SettingsDep,
    service: ServiceDep,
    jobs: JobsDep,
    runner: RunnerDep,
    key: IngestKey,
    response: Response,
    collection: Annotated[str, Form(pattern=COLLECTION_PATTERN, description="Collection the documents join.")] = DEFAULT_COLLECTION,
) -> UploadAccepted:
    """Upload files; they are ingested in the background. Poll the returned job at `status_url`.

    Unacceptable files (a path in the name, an unsupported type, empty) are listed
    under `rejected`; the rest of the upload goes on. An upload with no acceptable
    file is a 422.
    """
    if not key.sees(collection):
        raise HTTPException(status_code=403, detail=f"this API key cannot write to collection {collection!r}")
    if len(files) > settings.max_upload_files:
        raise HTTPException(status_code=422, detail=f"too many files: {len(files)} > {settings.max_upload_files}")
    job_id = new_job_id()
    folder = settings.uploads_dir / job_id
    folder.mkdir(parents=True, exist_ok=False)
    accepted: list[str] = []
    rejected: list[RejectedFile] = []
    for upload in files:
        shown = (upload.filename or "")[:MAX_NAME_BYTES]
        try:
            name = safe_file_name(upload.filename)
            if name in accepted:
                raise ValueError("duplicate file name in this upload")
            # The file name is the document's source: uploading it again replaces that document,
            # which must not move a document out of a collection the caller did not name.
            existing = service.metadata.document(Document.make_id(name))
            if existing is not None and existing.collection != collection:
                raise ValueError(f"a document named {name!r} already exists in another collection")
            if _write_new(folder, name, upload) == 0:
                (folder / name).unlink()
                raise ValueError("empty file")
            accepted.append(name)
        except ValueError as exc:
            rejected.append(RejectedFile(file=shown, reason=str(exc)))
    if not accepted:
        shutil.rmtree(folder, ignore_errors=True)
        reasons = "; ".join(f"{r.file or '(unnamed)'}: {r.reason}" for r in rejected)
        raise HTTPException(status_code=422, detail=f"no file could be accepted: {reasons}")
    jobs.create(job_id, collection, folder, accepted, None if key.id == "anonymous" else key.id)
    runner.submit(job_id)
    status_url = f"/v1/jobs/{job_id}"
    response.headers["Location"] = status_url
    return UploadAccepted(
        job_id=job_id, status="queued", collection=collection, files=accepted, rejected=rejected, status_url=status_url
    )


@router.get("", response_model=DocumentList)
def list_documents(
    service: ServiceDep,
    key: ReadKey,
    collection: Annotated[str | None, Query(pattern=COLLECTION_PATTERN, description="Only this collection.")] = None,
    kind: Annotated[str | None, Query(max_length=40, description="Only this kind: document, meeting or minutes.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Only documents whose source or title contains this (any case).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DocumentList:
    """Documents in the collections the key can see, ordered by source."""
    if collection is not None and not key.sees(collection):
        raise HTTPException(status_code=403, detail=f"this API key cannot read collection {collection!r}")
    visible = [collection] if collection is not None else (list(key.collections) if key.collections is not None else None)
    records = service.documents(visible)
    if kind is not None:
        records = [r for r in records if r.kind == kind]
    if q:
        needle = q.casefold()
        records = [r for r in records if needle in r.source.casefold() or needle in r.title.casefold()]
    return DocumentList(documents=[DocumentOut.of(r) for r in records[offset : offset + limit]], total=len(records))


def _visible_document(service: LoreService, key: ApiKey, document_id: str) -> DocumentRecord:
    found = service.document(document_id)
    record = found[0] if found is not None else None
    # A document in a collection the key cannot see does not exist for that key.
    if record is None or not key.sees(record.collection):
        raise HTTPException(status_code=404, detail=f"no document with id {document_id}")
    return record


@router.get("/{document_id}", response_model=DocumentOut, responses=problem_responses(404))
def get_document(document_id: DocumentId, service: ServiceDep, key: ReadKey) -> DocumentOut:
    """One document's metadata: source, title, collection, chunk count, ingest time."""
    return DocumentOut.of(_visible_document(service, key, document_id))


@router.get("/{document_id}/content", response_model=DocumentContent, responses=problem_responses(404))
def get_document_content(document_id: DocumentId, service: ServiceDep, key: ReadKey) -> DocumentContent:
    """The document's chunks in order (with offsets and heading paths) and the entities they mention."""
    record = _visible_document(service, key, document_id)
    found = service.document(document_id)
    stored = found[1] if found is not None else []
    chunks = [ChunkOut(id=s.chunk.id, start=s.chunk.start, end=s.chunk.end, text=s.chunk.text,
                       heading_path=list(s.chunk.metadata.get("heading_path") or [])) for s in stored]
    entities = [DocumentEntityOut(id=e.id, name=e.name, type=e.type, chunk_ids=ids)
                for e, ids in service.document_entities([c.id for c in chunks])]
    return DocumentContent(document=DocumentOut.of(record), chunks=chunks, entities=entities)


@router.delete("/{document_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404))
def delete_document(document_id: DocumentId, service: ServiceDep, key: IngestKey) -> Response:
    """Delete a document: its chunks, vectors and graph contributions."""
    _visible_document(service, key, document_id)
    if not service.delete_document(document_id):
        raise HTTPException(status_code=404, detail=f"no document with id {document_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
