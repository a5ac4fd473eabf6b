"""The abstractive engine with the real default model: map-reduce keeps every prompt small on a long transcript."""

from __future__ import annotations

import pytest

from core.settings import Settings
from core.types import Document
from generation.backends import load_backend
from generation.minutes import MinutesBuilder
from ingest.loaders import Turn, render_transcript
from retrieval.embedder import SentenceTransformerEmbedder

pytestmark = pytest.mark.slow

SUBJECTS = ["the warehouse robots", "the quarterly budget", "the hiring plan", "the customer pilot"]


class CountingBackend:
    """The real model, with the size of every prompt it is given recorded."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.name = backend.name
        self.prompt_tokens: list[int] = []

    def generate(self, messages, **kwargs):
        self.prompt_tokens.append(sum(self.backend.count_tokens(m["content"]) for m in messages))
        return self.backend.generate(messages, **kwargs)

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)


def test_map_reduce_summarises_a_long_transcript_with_small_prompts():
    settings = Settings()
    turns = []
    for block, subject in enumerate(SUBJECTS):  # 4 topics x 60 turns: far beyond one small-model prompt
        for i in range(60):
            speaker = ["Ana Silva", "Ben Okoro", "Chen Li"][i % 3]
            turns.append(Turn(speaker, f"About {subject}, point {i}: we looked at {subject} again and the numbers for {subject} changed this week."))
    text, spans = render_transcript(turns)
    document = Document(id="doc_long", source="/tmp/long.json", title="Long meeting", text=text, content_hash="x",
                        kind="meeting", metadata={"turns": spans})
    backend = CountingBackend(load_backend(settings))
    progress: list[tuple[str, int, int]] = []
    builder = MinutesBuilder(SentenceTransformerEmbedder.from_pretrained(settings.embedding_model), engine="abstractive",
                             backend=backend, max_new_tokens=24, progress=lambda *event: progress.append(event))
    minutes = builder.build(document)
    assert minutes.engine == "abstractive" and minutes.summary
    assert len(minutes.topics) >= 2 and all(t.summary for t in minutes.topics)
    maps = [p for p in progress if p[0] == "map"]
    assert maps[-1][1] == maps[-1][2] == len(minutes.topics)
    assert len(backend.prompt_tokens) > len(minutes.topics)  # map calls, then at least one reduce
    assert max(backend.prompt_tokens) < 700, backend.prompt_tokens  # the whole transcript is several thousand tokens
    assert backend.count_tokens(text) > 5 * max(backend.prompt_tokens)
