"""Split documents into overlapping chunks that keep their offsets and heading path."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from itertools import accumulate

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from core.language import IDEOGRAPH, count_ideographs
from core.types import Chunk, Document

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
# Chinese (and Japanese) text has no spaces: without these the splitter's last
# resort would cut at an arbitrary character, often inside a word. Zero-width
# look-behinds keep the punctuation at the end of its sentence.
CJK_SEPARATORS = ["(?<=[。！？])", "(?<=[；：])", "(?<=[，、])"]
# Chunk sizes count characters, an ideograph as IDEOGRAPH_WEIGHT of them. English runs
# at four to five characters a token in the embedding and answering models' tokenizers,
# an ideograph at one token or more; counted as one, a 1,000-character Chinese chunk
# is read only up to its 256th character by the embedder (all-MiniLM's window) and
# does not fit an answer prompt's budget beside any other passage.
IDEOGRAPH_WEIGHT = 4
# Document metadata every chunk carries, so a passage can be cited and filtered on its own.
CHUNK_FIELDS = ("date", "attendees", "author", "subject", "format")


def chunk_length(text: str) -> int:
    """``text``'s length as chunk sizes count it (ideographs weigh ``IDEOGRAPH_WEIGHT``)."""
    return len(text) + (IDEOGRAPH_WEIGHT - 1) * count_ideographs(text)


def separators() -> list[str]:
    """LangChain's Markdown separators with Chinese sentence and clause punctuation before spaces."""
    markdown = RecursiveCharacterTextSplitter.get_separators_for_language(Language.MARKDOWN)
    at = markdown.index(" ")
    return markdown[:at] + CJK_SEPARATORS + markdown[at:]


class Chunker:
    """Documents: LangChain's recursive splitter (Markdown-aware separators) plus heading paths.
    Transcripts (documents with ``metadata["turns"]``): windows of whole speaker turns.
    """

    def __init__(self, chunk_size: int, chunk_overlap: int, *, turn_window_tokens: tuple[Callable[[list[str]], list[int]], int, int] | None = None) -> None:
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        # (count the encoder's word pieces of each text, window size, overlap): talk windows then
        # fill the embedding model's input exactly instead of a character budget.
        self.turn_window_tokens = turn_window_tokens
        self._splitter = RecursiveCharacterTextSplitter(
            separators=separators(),
            is_separator_regex=True,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            length_function=chunk_length,
            add_start_index=True,
            strip_whitespace=True,
        )

    def split(self, document: Document) -> list[Chunk]:
        if document.metadata.get("turns"):
            return self._split_turns(document)
        headings = _heading_index(document.text)
        pages = document.metadata.get("pages") or []  # character offsets where each PDF page starts
        chunks: list[Chunk] = []
        for index, piece in enumerate(self._splitter.create_documents([document.text])):
            start = int(piece.metadata["start_index"])
            text = piece.page_content
            metadata = {"heading_path": _heading_path_at(headings, start), "title": document.title,
                        "language": document.language}
            metadata.update({k: v for k, v in document.metadata.items() if k in CHUNK_FIELDS})
            if pages:
                metadata["page"] = bisect.bisect_right(pages, start)
                metadata["page_end"] = bisect.bisect_right(pages, start + len(text) - 1)
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
        """Consecutive turns up to ``chunk_size`` (as ``chunk_length`` counts); the next window
        repeats the last turns that fit in ``chunk_overlap``, so an exchange cut at a window edge
        is seen whole once. A single turn longer than ``chunk_size`` becomes a window of its own.
        """
        turns = document.metadata["turns"]
        if self.turn_window_tokens is not None:
            count, size, overlap = self.turn_window_tokens
            prefix = list(accumulate(count([document.text[t["start"]:t["end"]] for t in turns]), initial=0))

            def length(first: int, last: int) -> int:
                return prefix[last + 1] - prefix[first]
        else:
            size, overlap = self.chunk_size, self.chunk_overlap
            span = _span_length(document.text)

            def length(first: int, last: int) -> int:
                return span(turns[first]["start"], turns[last]["end"])
        windows: list[tuple[int, int]] = []  # inclusive turn ranges
        first = 0
        while first < len(turns):
            last = first
            while last + 1 < len(turns) and length(first, last + 1) <= size:
                last += 1
            windows.append((first, last))
            if last == len(turns) - 1:
                break
            following = last + 1
            while following - 1 > first and length(following - 1, last) <= overlap:
                following -= 1
            first = following
        chunks = []
        for index, (first, last) in enumerate(windows):
            start, end = turns[first]["start"], turns[last]["end"]
            text = document.text[start:end]
            window = turns[first : last + 1]
            metadata = {
                "title": document.title,
                "language": document.language,
                "heading_path": [],
                "turn_start": first,
                "turn_end": last,
                "speakers": list(dict.fromkeys(t["speaker"] for t in window)),
            }
            times = [t["time"] for t in window if t.get("time")]
            if times:
                metadata["time_start"] = times[0]
                metadata["time_end"] = window[-1].get("time_end") or times[-1]
            metadata.update({k: v for k, v in document.metadata.items() if k in ("date", "format")})
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


def _span_length(text: str) -> Callable[[int, int], int]:
    """``chunk_length`` of ``text[start:end]`` in constant time (prefix sums when ``text`` has ideographs)."""
    if IDEOGRAPH.search(text) is None:
        return lambda start, end: end - start
    extra = [0] * (len(text) + 1)  # extra[i + 1]: what the character at i weighs beyond 1
    for match in IDEOGRAPH.finditer(text):
        extra[match.end()] = IDEOGRAPH_WEIGHT - 1
    prefix = list(accumulate(extra))
    return lambda start, end: end - start + prefix[end] - prefix[start]


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
