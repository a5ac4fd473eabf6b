"""LangChain over Lore: a ``BaseRetriever`` and a document loader, in-process or against a running server.

In-process, ``LoreRetriever(service=...)`` calls ``LoreService.search``. Against a server,
``LoreRetriever(url="http://lore:8000", api_key="lore_...")`` posts to ``/v1/search`` with
the key's collections and limits, so an application needs no Lore installation beyond this
module and httpx. ``LoreDocumentLoader`` reads the documents the key can see, one LangChain
document per stored chunk, through ``/v1/documents``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, model_validator

from retrieval.filters import SearchFilters
from retrieval.query import Query

PASSAGE_FIELDS = ("source", "title", "chunk_id", "document_id", "start", "end", "score", "scores")


def _passage_document(passage: dict[str, Any]) -> LCDocument:
    """A passage (``Passage.model_dump()`` or the API's ``PassageOut``) as a LangChain document."""
    metadata = {name: passage[name] for name in PASSAGE_FIELDS if name in passage}
    return LCDocument(page_content=passage["text"], metadata=metadata, id=passage["chunk_id"])


class _LoreHttp:
    """The few API calls these classes make, with the key and a clear error for a failed call."""

    def __init__(self, url: str, api_key: str | None, timeout: float) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kwargs) -> Any:
        response = self.client.request(method, path, **kwargs)
        if response.is_error:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise RuntimeError(f"Lore {method} {path} answered {response.status_code}: {detail}")
        return response.json()


class LoreRetriever(BaseRetriever):
    """Each passage becomes a LangChain Document whose metadata holds its source, ids, offsets and
    score components. Give ``service`` (in-process) or ``url`` and ``api_key`` (a running server)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    service: Any = None
    url: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    k: int = 5
    mode: str | None = None
    filters: SearchFilters | None = None

    @model_validator(mode="after")
    def _one_target(self) -> "LoreRetriever":
        if (self.service is None) == (self.url is None):
            raise ValueError("give LoreRetriever either service= (in-process) or url= (a running Lore server)")
        return self

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        if self.service is not None:
            found = self.service.search(Query(text=query, k=self.k, mode=self.mode, filters=self.filters))
            return [_passage_document(p.model_dump()) for p in found.passages]
        body: dict[str, Any] = {"question": query, "top_k": self.k}
        if self.mode:
            body["mode"] = self.mode
        if self.filters is not None and not self.filters.empty:
            if self.filters.document_ids:
                raise ValueError("a document_ids filter works in-process only; the HTTP API filters by collection, kind, ...")
            body["filters"] = self.filters.model_dump(mode="json", exclude_none=True, exclude={"document_ids"})
        found = _LoreHttp(self.url, self.api_key, self.timeout).call("POST", "/v1/search", json=body)
        return [_passage_document(p) for p in found["passages"]]


class LoreDocumentLoader(BaseLoader):
    """The documents a key can see on a Lore server, one LangChain document per stored chunk
    (``collection``/``kind`` narrow them), lazily, document by document."""

    def __init__(self, url: str, api_key: str | None = None, *, collection: str | None = None,
                 kind: str | None = None, timeout: float = 60.0) -> None:
        self.http = _LoreHttp(url, api_key, timeout)
        self.params = {k: v for k, v in {"collection": collection, "kind": kind}.items() if v is not None}

    def lazy_load(self) -> Iterator[LCDocument]:
        offset, page = 0, 200
        while True:
            listed = self.http.call("GET", "/v1/documents", params={**self.params, "limit": page, "offset": offset})
            for document in listed["documents"]:
                content = self.http.call("GET", f"/v1/documents/{document['id']}/content")
                for chunk in content["chunks"]:
                    yield LCDocument(
                        page_content=chunk["text"], id=chunk["id"],
                        metadata={"source": document["source"], "title": document["title"], "document_id": document["id"],
                                  "chunk_id": chunk["id"], "start": chunk["start"], "end": chunk["end"],
                                  "heading_path": chunk["heading_path"], "kind": document["kind"],
                                  "collection": document["collection"], "language": document["language"]},
                    )
            offset += page
            if offset >= listed["total"]:
                return
