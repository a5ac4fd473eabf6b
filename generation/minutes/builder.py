"""``MinutesBuilder.build(document, chunks) -> Minutes``: the one entry point for minutes, whichever engine."""

from __future__ import annotations

from collections.abc import Sequence

from core.types import Chunk, Document
from generation.minutes.extractive import ExtractiveEngine, Progress
from generation.minutes.turns import meeting_turns
from generation.minutes.types import Minutes
from core.protocols import Embedder


class MinutesBuilder:
    """Picks the engine named in settings (``minutes_engine``); the abstractive one needs an LLM backend."""

    def __init__(self, embedder: Embedder, *, engine: str = "extractive", backend=None, max_new_tokens: int = 96,
                 progress: Progress | None = None) -> None:
        self.extractive = ExtractiveEngine(embedder)
        self.engine_name = engine
        self.backend = backend
        self.max_new_tokens = max_new_tokens
        self.progress = progress

    def build(self, document: Document, chunks: Sequence[Chunk] = ()) -> Minutes:
        turns = meeting_turns(document)
        if self.engine_name == "abstractive":
            from generation.minutes.abstractive import AbstractiveEngine

            if self.backend is None:
                raise ValueError("minutes_engine=abstractive needs an LLM backend")
            engine = AbstractiveEngine(self.extractive, self.backend, max_new_tokens=self.max_new_tokens)
            return engine.build(document, turns, chunks, progress=self.progress)
        return self.extractive.build(document, turns, chunks, progress=self.progress)
