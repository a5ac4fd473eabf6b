"""Split documents into overlapping chunks that keep their offsets and heading path."""

from __future__ import annotations

import bisect
import re

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from core.types import Chunk, Document

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)


class Chunker:
    """Documents: LangChain's recursive splitter (Markdown-aware separators) plus heading paths.
    Transcripts (documents with ``metadata["turns"]``): windows of whole speaker turns.
    """

    def __init__(self, chunk_size: int, chunk_overlap: int) -> None:
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._splitter = RecursiveCharacterTextSplitter.from_language(
            Language.MARKDOWN,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            add_start_index=True,
            strip_whitespace=True,
        )

    def split(self, document: Document) -> list[Chunk]:
        if document.metadata.get("turns"):
            return self._split_turns(document)
        headings = _heading_index(document.text)
        chunks: list[Chunk] = []
        for index, piece in enumerate(self._splitter.create_documents([document.text])):
            start = int(piece.metadata["start_index"])
            text = piece.page_content
            metadata = {"heading_path": _heading_path_at(headings, start), "title": document.title}
            metadata.update({k: v for k, v in document.metadata.items() if k in ("date", "attendees", "author")})
            chunks.append(
                Chunk(
                    id=Chunk.make_id(document.id, index, text),
                    document_id=document.id,
                    index=index,
                    text=text,
                    start=start,
                    end=start + len(text),
                    metadata=metadata,
                )
            )
        return chunks


    def _split_turns(self, document: Document) -> list[Chunk]:
        """Consecutive turns up to ``chunk_size`` characters; the next window repeats the last
        turns that fit in ``chunk_overlap``, so an exchange cut at a window edge is seen whole once.
        A single turn longer than ``chunk_size`` becomes a window of its own.
        """
        turns = document.metadata["turns"]
        windows: list[tuple[int, int]] = []  # inclusive turn ranges
        first = 0
        while first < len(turns):
            last = first
            while last + 1 < len(turns) and turns[last + 1]["end"] - turns[first]["start"] <= self.chunk_size:
                last += 1
            windows.append((first, last))
            if last == len(turns) - 1:
                break
            following = last + 1
            while following - 1 > first and turns[last]["end"] - turns[following - 1]["start"] <= self.chunk_overlap:
                following -= 1
            first = following
        chunks = []
        for index, (first, last) in enumerate(windows):
            start, end = turns[first]["start"], turns[last]["end"]
            text = document.text[start:end]
            window = turns[first : last + 1]
            metadata = {
                "title": document.title,
                "heading_path": [],
                "turn_start": first,
                "turn_end": last,
                "speakers": list(dict.fromkeys(t["speaker"] for t in window)),
            }
            times = [t["time"] for t in window if t.get("time")]
            if times:
                metadata["time_start"], metadata["time_end"] = times[0], times[-1]
            if "date" in document.metadata:
                metadata["date"] = document.metadata["date"]
            chunks.append(
                Chunk(
                    id=Chunk.make_id(document.id, index, text),
                    document_id=document.id,
                    index=index,
                    text=text,
                    start=start,
                    end=end,
                    metadata=metadata,
                )
            )
        return chunks


def _heading_index(text: str) -> tuple[list[int], list[tuple[int, str]]]:
    positions, headings = [], []
    for match in _HEADING.finditer(text):
        positions.append(match.start())
        headings.append((len(match.group(1)), match.group(2).strip()))
    return positions, headings


def _heading_path_at(index: tuple[list[int], list[tuple[int, str]]], offset: int) -> list[str]:
    """The chain of headings in force at ``offset`` (a chunk that starts on a heading is under it)."""
    positions, headings = index
    path: list[tuple[int, str]] = []
    for level, title in headings[: bisect.bisect_right(positions, offset)]:
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, title))
    return [title for _, title in path]
