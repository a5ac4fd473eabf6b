"""``Query``: a question to the knowledge base and how to search for it.

Built once, from an HTTP request (``AskRequest.query``) or the CLI's flags, and passed
whole to ``search``, ``ask`` and ``ask_stream``, so the five search parameters are
not repeated on every signature between the edge and the engine.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from retrieval.filters import SearchFilters


class Query(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    k: int | None = Field(default=None, ge=1, description="Passages to retrieve; None: the top_k setting.")
    mode: str | None = Field(default=None, description="dense, sparse, graph or hybrid; None: the retrieval_mode setting.")
    filters: SearchFilters | None = None
    # None: every collection. A key limited to some collections always sets this.
    collections: list[str] | None = None

    @property
    def plain(self) -> bool:
        """Nothing but the question: no mode, filters or collections chosen."""
        return self.mode is None and self.filters is None and self.collections is None

    def search_filters(self) -> SearchFilters | None:
        """The filters, with ``collections`` folded in (every retriever enforces them before ranking)."""
        if self.collections is None:
            return self.filters
        return (self.filters or SearchFilters()).model_copy(update={"collections": list(self.collections)})
