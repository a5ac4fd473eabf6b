"""The seam for documents Lore derives from ingested ones (a meeting's minutes).

Ingest owns this interface and knows nothing of how a derived document is made:
the pipeline asks a ``DerivedDocuments`` (given at construction by the
composition root) for the document derived from each added or updated one,
stores it like any file, lets it add graph facts it carries when the graph is
written, and deletes it with its source document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.types import Chunk, Document
from core.extraction import Extraction


class DerivedDocuments(Protocol):
    def expects(self, document: Document) -> bool:
        """Whether ``derive`` builds a document from this one: the pipeline marks it pending until then."""
        ...

    def derive(self, document: Document, chunks: Sequence[Chunk]) -> Document | None:
        """The document derived from a stored one (full text, original chunk offsets); None when it has none."""
        ...

    def derived_id(self, source: str, kind: str) -> str | None:
        """Id of the document derived from the document at ``source`` of ``kind``, deleted with it; None: none."""
        ...

    def add_facts(self, document: Document, chunks: Sequence[Chunk], extraction: Extraction) -> None:
        """Add the graph facts a derived document carries (in its metadata) to its extraction; others are left as they are."""
        ...
