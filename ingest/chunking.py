"""Split documents into overlapping chunks that keep their offsets and heading path."""

from __future__ import annotations

import bisect
import re

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from core.types import Chunk, Document

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)


class Chunker:
    """LangChain's recursive splitter (Markdown-aware separators) plus Lore's chunk metadata."""

    def __init__(self, chunk_size: int, chunk_overlap: int) -> None:
        self._splitter = RecursiveCharacterTextSplitter.from_language(
            Language.MARKDOWN,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            add_start_index=True,
            strip_whitespace=True,
        )

    def split(self, document: Document) -> list[Chunk]:
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
