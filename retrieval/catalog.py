"""An in-memory mirror of the chunk table that search needs on every query.

Holds, per chunk, its document, position, turn range and speakers, its BM25 tokens
and the BM25 matrix; per document, the fields filters look at. ``refresh()`` diffs
the vector ids against SQLite (the source of truth) and tokenises only chunks it
has not seen, so it is cheap to call after every ingest or delete.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import ContextManager

import numpy as np
from readerwriterlock import rwlock

from retrieval.bm25 import BM25Matrix
from retrieval.filters import SearchFilters, document_matches
from storage.protocols import MetadataStore
from retrieval.tokenize import tokenize


_HONORIFICS = re.compile(r"^(?:the\s+)?(?:right\s+)?(?:hon\.?|mr\.?|mrs\.?|ms\.?|dr\.?|prof\.?)\s+")


def speaker_aliases(speaker: str) -> set[str]:
    """Ways a question may name a (case-folded) speaker: the full label, the name without titles,
    constituency or party in brackets and an "AM"/"MP" suffix, and the letter of coded labels like "phd f"."""
    aliases = {speaker}
    name = re.sub(r"\(.*?\)", " ", speaker)
    name = _HONORIFICS.sub("", " ".join(name.split()))
    name = re.sub(r"\s+(?:am|mp|msp)$", "", name).strip()
    if len(name) > 1:
        aliases.add(name)
    tokens = speaker.split()
    if len(tokens) == 2 and len(tokens[1]) == 1 and tokens[1].isalpha():
        aliases.add(f"letter:{tokens[1]}")
    return aliases


@dataclass(frozen=True)
class CatalogChunk:
    vector_id: int
    chunk_id: str
    document_id: str
    index: int
    turn_start: int
    turn_end: int
    speakers: tuple[str, ...]
    terms: frozenset[int]


@dataclass(frozen=True)
class CatalogDocument:
    id: str
    source: str
    kind: str
    language: str
    metadata: dict


class ChunkCatalog:
    def __init__(self, metadata: MetadataStore, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.metadata = metadata
        self.bm25 = BM25Matrix(k1, b)
        # BM25 over whole documents (a meeting, a file): the document-level evidence of hybrid search.
        self.document_bm25 = BM25Matrix(k1, b)
        self.documents: dict[str, CatalogDocument] = {}
        self._chunks: dict[int, CatalogChunk] = {}
        self._encoded: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.RLock()
        # Searches read many of the arrays below for one answer; a refresh rebuilds them all.
        # Searches share the lock, a refresh takes it alone (and goes before searches that
        # arrive after it), so no search sees half of an old index and half of a new one.
        self._readers = rwlock.RWLockWrite()
        # Row arrays, rebuilt with the BM25 matrix: row i is chunk vector_ids[i].
        self.vector_ids = np.zeros(0, dtype=np.int64)
        self.rows: list[CatalogChunk] = []
        self._row_of: dict[int, int] = {}
        self._row_of_chunk: dict[str, int] = {}
        self._document_codes = np.zeros(0, dtype=np.int32)
        self._document_order: list[str] = []
        self._by_document: dict[str, dict[int, int]] = {}
        self._speaker_rows: dict[str, np.ndarray] = {}
        self._speaker_aliases: dict[str, set[str]] = {}
        self.version = 0

    def __len__(self) -> int:
        return len(self.rows)

    def reading(self) -> ContextManager[object]:
        """Held for the length of a search: the catalog does not change under it."""
        return self._readers.gen_rlock()

    def refresh(self) -> bool:
        """Bring the catalog in line with the metadata store; returns whether anything changed."""
        with self._lock, self._readers.gen_wlock():
            known = self.metadata.vector_ids()
            current = set(self._chunks)
            removed, added = current - known, known - current
            documents = {
                r.id: CatalogDocument(r.id, r.source, r.kind, r.language, {**r.metadata, "collection": r.collection})
                for r in self.metadata.documents()
            }
            if not removed and not added and documents == self.documents:
                return False
            for vid in removed:
                del self._chunks[vid]
                del self._encoded[vid]
            for vid, chunk_id, document_id, index, text, meta in self.metadata.search_rows(sorted(added)):
                ids, counts = self.bm25.encode(tokenize(text))
                self._encoded[vid] = (ids, counts)
                self._chunks[vid] = CatalogChunk(
                    vector_id=vid,
                    chunk_id=chunk_id,
                    document_id=document_id,
                    index=index,
                    turn_start=int(meta.get("turn_start", -1)),
                    turn_end=int(meta.get("turn_end", -1)),
                    speakers=tuple(meta.get("speakers") or ()),
                    terms=frozenset(ids.tolist()),
                )
            self.documents = documents
            self._rebuild()
            return True

    def _rebuild(self) -> None:
        order = sorted(self._chunks)
        self.vector_ids = np.array(order, dtype=np.int64)
        self.rows = [self._chunks[v] for v in order]
        self._row_of = {v: i for i, v in enumerate(order)}
        self._row_of_chunk = {c.chunk_id: i for i, c in enumerate(self.rows)}
        self._document_order = sorted(self.documents)
        code = {d: i for i, d in enumerate(self._document_order)}
        self._document_codes = np.array([code.get(c.document_id, -1) for c in self.rows], dtype=np.int32)
        self._by_document = {}
        speaker_rows: dict[str, list[int]] = {}
        for row, chunk in enumerate(self.rows):
            self._by_document.setdefault(chunk.document_id, {})[chunk.index] = row
            for speaker in chunk.speakers:
                speaker_rows.setdefault(speaker.casefold(), []).append(row)
        self._speaker_rows = {k: np.array(v, dtype=np.int64) for k, v in speaker_rows.items()}
        self._speaker_aliases = {}
        for speaker in self._speaker_rows:
            for alias in speaker_aliases(speaker):
                self._speaker_aliases.setdefault(alias, set()).add(speaker)
        self.bm25.build([self._encoded[v] for v in order])
        self._build_document_bm25()
        self.version += 1

    def _build_document_bm25(self) -> None:
        """Row i of the document matrix is document ``_document_order[i]``: its chunks' term counts summed."""
        self.document_bm25.vocabulary = self.bm25.vocabulary
        merged: list[tuple[np.ndarray, np.ndarray]] = []
        for document_id in self._document_order:
            vids = [self.rows[r].vector_id for r in self._by_document.get(document_id, {}).values()]
            if not vids:
                merged.append((np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)))
                continue
            ids = np.concatenate([self._encoded[v][0] for v in vids])
            counts = np.concatenate([self._encoded[v][1] for v in vids])
            unique, inverse = np.unique(ids, return_inverse=True)
            merged.append((unique.astype(np.int32), np.bincount(inverse, weights=counts).astype(np.float32)))
        self.document_bm25.build(merged)

    # ---- queries ----------------------------------------------------------
    def row(self, vector_id: int) -> int | None:
        return self._row_of.get(vector_id)

    def row_of_chunk(self, chunk_id: str) -> int | None:
        return self._row_of_chunk.get(chunk_id)

    def allowed(self, filters: SearchFilters | None) -> np.ndarray | None:
        """Boolean mask over rows of the chunks ``filters`` admit; None when nothing is filtered."""
        if filters is None or filters.empty:
            return None
        codes = [
            i
            for i, doc_id in enumerate(self._document_order)
            if (d := self.documents.get(doc_id)) is not None
            and document_matches(filters, document_id=d.id, source=d.source, kind=d.kind, language=d.language,
                                 metadata=d.metadata)
        ]
        return np.isin(self._document_codes, np.array(codes, dtype=np.int32))

    @property
    def document_codes(self) -> np.ndarray:
        """Per row, the index of its document in the document-level arrays (``document_scores``)."""
        return self._document_codes

    @property
    def document_count(self) -> int:
        return len(self._document_order)

    @property
    def document_ids(self) -> list[str]:
        """Document ids in the order of the document-level arrays."""
        return self._document_order

    def document_scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every whole document for a tokenised query, indexed like ``document_codes``."""
        return self.document_bm25.scores(tokens)

    def neighbours(self, row: int, distance: int = 1) -> list[int]:
        """Rows of the chunks within ``distance`` positions of ``row`` in the same document."""
        chunk = self.rows[row]
        siblings = self._by_document.get(chunk.document_id, {})
        return [
            siblings[chunk.index + step]
            for step in range(-distance, distance + 1)
            if step and chunk.index + step in siblings
        ]

    def speaker_rows(self, speaker: str, mask: np.ndarray | None) -> np.ndarray:
        """Rows of the chunks a (case-folded) speaker talks in, within ``mask``."""
        rows = self._speaker_rows.get(speaker, np.zeros(0, dtype=np.int64))
        return rows if mask is None else rows[mask[rows]]

    def speakers(self) -> list[str]:
        return list(self._speaker_rows)

    def speakers_named(self, spans: list[str]) -> list[str]:
        """Speakers (case-folded keys) a question's spans name, by full name or alias.

        A lone capital letter names the speakers coded by that letter ("What did F say" ->
        "PhD F", "Grad F"); lower-case single letters are ordinary words and never match.
        """
        found: list[str] = []
        for span in spans:
            if len(span) == 1:
                key = f"letter:{span.lower()}" if span.isupper() else None
            else:
                key = span.casefold()
            found.extend(sorted(self._speaker_aliases.get(key, ()))) if key else None
        return list(dict.fromkeys(found))
