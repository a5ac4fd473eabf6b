"""The interface every extractor implements; what it returns is `core.extraction.Extraction`."""

from __future__ import annotations

from typing import Protocol

from core.extraction import Extraction
from core.types import Chunk, Document


class Extractor(Protocol):
    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction: ...
