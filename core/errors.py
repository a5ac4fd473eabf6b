"""Errors that cross layer boundaries. Each names what failed and why."""

from __future__ import annotations

from pathlib import Path


class LoreError(Exception):
    """Base class for errors Lore reports to users."""


class ConfigurationError(LoreError):
    """A setting is missing or points at something unusable."""


class GraphServerError(LoreError):
    """The graph server could not be started, reached or queried."""


class ModelLoadError(LoreError):
    """An embedding model or LLM could not be loaded."""


class IndexMismatchError(LoreError):
    """The vector index on disk was built with another embedding model or dimension."""


class IngestError(LoreError):
    """A single input file could not be ingested; the rest of the batch goes on."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
