"""A LangChain ``BaseRetriever`` over Lore, so Lore plugs into existing LangChain chains and agents."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from retrieval.filters import SearchFilters
from retrieval.query import Query


class LoreRetriever(BaseRetriever):
    """Wraps ``LoreService.search``: each passage becomes a LangChain Document whose metadata holds
    its source, ids, offsets and score components."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    service: Any
    k: int = 5
    mode: str | None = None
    filters: SearchFilters | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        found = self.service.search(Query(text=query, k=self.k, mode=self.mode, filters=self.filters))
        return [
            LCDocument(
                page_content=p.text,
                metadata={
                    "source": p.source,
                    "title": p.title,
                    "chunk_id": p.chunk_id,
                    "document_id": p.document_id,
                    "start": p.start,
                    "end": p.end,
                    "score": p.score,
                    "scores": dict(p.scores),
                },
                id=p.chunk_id,
            )
            for p in found.passages
        ]
