"""Meetings as a service of their own: minutes at ingest, ``lore minutes``, summary questions.

``MeetingService`` is built by the composition root from what it uses (settings, the
metadata store, the stored-document reader/writer, a search function, the embedder, the
minutes builder and the shared LLM provider) and holds nothing that points back at
``LoreService``, which calls it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from core.protocols import Embedder
from core.settings import Settings
from core.types import Answer, Chunk, Citation, Document, Passage
from generation.backends.base import LLMBackend
from generation.minutes import MeetingTurn, Minutes, MinutesBuilder, meeting_turns
from generation.minutes.derived import MEETING_KINDS, MINUTES_KIND, minutes_document, minutes_document_id
from generation.minutes.extractive import embed_turns
from generation.minutes.focused import FocusedSummarizer, is_summary_question
from storage.protocols import MetadataStore

# (question, k) -> passages best first; the service's own search, so summaries rank like answers do.
SearchFunction = Callable[[str, int], Sequence[Passage]]


class MeetingDocuments(Protocol):
    """Reads a stored meeting back whole and stores the document derived from it (the ingest pipeline)."""

    def stored_document(self, document_id: str) -> tuple[Document, list[Chunk]] | None: ...

    def write_derived(self, document: Document) -> int: ...


class MeetingService:
    def __init__(self, *, settings: Settings, metadata: MetadataStore, documents: Callable[[], MeetingDocuments],
                 search: SearchFunction, embedder: Embedder, builder: MinutesBuilder, llm: LLMBackend) -> None:
        self.settings = settings
        self.metadata = metadata
        # A provider: the pipeline opens the vector index, which listing a meeting's stored minutes does not need.
        self._documents = documents
        self.search = search
        self.embedder = embedder
        self.builder = builder
        self.llm = llm

    # ---- stored meetings ------------------------------------------------------
    def document(self, document_id: str) -> tuple[Document, list] | None:
        """A stored document rebuilt from its chunks (offsets, and so turn spans, are the original ones)."""
        return self._documents().stored_document(document_id)

    def resolve(self, meeting: str) -> str | None:
        """A meeting's document id from its id or its source path."""
        store = self.metadata
        if store.document(meeting) is not None:
            return meeting
        for candidate in (meeting, str(Path(meeting).expanduser().resolve())):
            found = store.document(Document.make_id(candidate))
            if found is not None:
                return found.id
        return None

    def build(self, document_id: str) -> Minutes | None:
        loaded = self.document(document_id)
        if loaded is None or loaded[0].kind not in MEETING_KINDS:
            return None
        return self.builder.build(*loaded)

    def write(self, document_id: str) -> Minutes | None:
        """Build the meeting's minutes and store them as its derived document (text, vectors, graph facts)."""
        loaded = self.document(document_id)
        if loaded is None or loaded[0].kind not in MEETING_KINDS:
            return None
        minutes = self.builder.build(*loaded)
        self._documents().write_derived(minutes_document(loaded[0], minutes))
        return minutes

    def minutes(self, meeting: str, *, collections: list[str] | None = None) -> Minutes | None:
        """The stored minutes of a meeting (by document id or source path), built now if none are stored.

        None when there is no such meeting, or it is outside ``collections`` (None: every collection):
        the two are indistinguishable, so a caller does not learn what other collections hold.
        """
        document_id = self.resolve(meeting)
        record = self.metadata.document(document_id) if document_id is not None else None
        if record is None or (collections is not None and record.collection not in collections):
            return None
        if record.kind == MINUTES_KIND:
            return Minutes.model_validate(record.metadata["minutes"])
        stored = self.metadata.document(minutes_document_id(record.source))
        if stored is not None and stored.metadata.get("minutes"):
            return Minutes.model_validate(stored.metadata["minutes"])
        return self.build(document_id)

    def turns(self, meeting: str, *, collections: list[str] | None = None) -> list[MeetingTurn] | None:
        """The meeting's turns (speaker, text, offsets), which minutes cite by index; None as for ``minutes``."""
        document_id = self.resolve(meeting)
        record = self.metadata.document(document_id) if document_id is not None else None
        if record is None or record.kind not in MEETING_KINDS or (collections is not None and record.collection not in collections):
            return None
        loaded = self.document(document_id)
        return meeting_turns(loaded[0]) if loaded is not None else None

    # ---- query-focused summaries ------------------------------------------------
    def answer_summary_question(self, question: str, top_k: int | None = None) -> Answer | None:
        """A summary question about meetings answered from ALL its relevant turns; None for other questions."""
        if not is_summary_question(question):
            return None
        started = time.perf_counter()
        passages_found = self.search(question, max(10, (top_k or self.settings.top_k) * 2))
        meeting_ids: list[str] = []
        best = None
        for passage in passages_found:
            record = self.metadata.document(passage.document_id)
            meeting_id = (record.metadata.get("meeting_id") if record and record.kind == MINUTES_KIND else
                          passage.document_id if record and record.kind in MEETING_KINDS else None)
            if meeting_id is None or meeting_id in meeting_ids:
                continue
            best = passage.score if best is None else best
            if passage.score >= 0.9 * best:  # the best meeting, and any that match about as well
                meeting_ids.append(meeting_id)
        if not meeting_ids:
            return None
        retrieved = time.perf_counter() - started
        settings = self.settings
        summarizer = FocusedSummarizer(self.embedder, max_words=settings.minutes_summary_words)
        parts, citations, passages = [], [], []
        for meeting_id in meeting_ids[:3]:
            loaded = self.document(meeting_id)
            if loaded is None:
                continue
            document, chunks = loaded
            turns = meeting_turns(document)
            if not turns:
                continue
            language = document.language if document.language in ("en", "zh") else "en"
            vectors = embed_turns(self.embedder, turns)
            summary = summarizer.summarize(question, turns, vectors=vectors, language=language)
            pieces = []
            for i in summary.turns:
                turn = turns[i]
                chunk = next((c for c in chunks if c.start <= turn.start and turn.end <= c.end), None)
                if chunk is None:
                    continue
                number = len(citations) + 1
                citations.append(Citation(number=number, chunk_id=chunk.id, document_id=document.id, source=document.source,
                                          start=turn.start - chunk.start, end=turn.end - chunk.start,
                                          snippet=f"{turn.speaker}: {turn.text}"[:300]))
                passages.append(Passage(chunk_id=chunk.id, document_id=document.id, source=document.source,
                                        title=document.title, text=chunk.text, score=1.0, start=chunk.start, end=chunk.end,
                                        metadata={"turn": i, "relevant_turns": list(summary.relevant)}))
                pieces.append((i, number))
            if settings.minutes_engine == "abstractive":
                from generation.minutes.abstractive import AbstractiveEngine

                engine = AbstractiveEngine(self.builder.extractive, self.llm)
                text = engine.focused(question, turns, summary.turns, language)
                text += " " + "".join(f"[{n}]" for _, n in pieces)
            else:
                from generation.minutes.extractive import clip_words

                text = " ".join(f"{turns[i].speaker}: {clip_words(turns[i].text, 40, language)} [{n}]" for i, n in pieces)
            parts.append(f"{document.title}: {text}" if len(meeting_ids) > 1 else text)
        if not parts:
            return None
        return Answer(question=question, text="\n\n".join(parts), citations=tuple(citations), passages=tuple(passages),
                      timings={"retrieve": retrieved, "summarize": time.perf_counter() - started - retrieved})
