"""The interface every extractor implements; what it returns is `core.extraction.Extraction`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.extraction import Extraction
from core.types import Chunk, Document


class Extractor(Protocol):
    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction: ...


def prepare(extractor: Extractor, batch: Sequence[tuple[Document, list[Chunk]]]) -> None:
    """Tells ``extractor`` which documents it is about to be asked for, so that one that reads many
    documents faster together (spaCy over several processes) can read them ahead; an extractor with
    no ``prepare`` method is left alone, and ``extract`` works without it."""
    method = getattr(extractor, "prepare", None)
    if method is not None:
        method(batch)
