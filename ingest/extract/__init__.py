"""Entity, relation and meeting extraction.

* :class:`SpacyExtractor` (English) and :class:`LacExtractor` (Chinese) share
  the rules in :mod:`ingest.extract.rules`; :class:`LanguageRouter` sends each
  document to the one for its language.
* :class:`LLMExtractor` asks the configured LLM for triples (off by default).
* :class:`ResolvingExtractor` wraps any of them with entity resolution.

:func:`build_extractor` assembles what the ``extractor`` setting asks for. The
heavy modules are imported only when built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from core.errors import ConfigurationError
from core.language import script_language
from core.types import Chunk, Document, Entity
from core.extraction import Extraction, normalise_name
from core.vocabulary import name_key
from ingest.extract.base import Extractor, prepare
from ingest.extract.evidence import everyday_word
from ingest.extract.known import KnownNames
from ingest.extract.spacy import SPACY_LABELS, SpacyExtractor
from storage.protocols import GraphWriter

if TYPE_CHECKING:
    from core.settings import Settings
    from ingest.extract.llm import TextGenerator

__all__ = [
    "SPACY_LABELS",
    "CombinedExtractor",
    "Extraction",
    "Extractor",
    "LanguageRouter",
    "SpacyExtractor",
    "build_extractor",
    "known_names",
    "normalise_name",
]


def document_language(document: Document, chunks: list[Chunk]) -> str:
    """The document's language: its own field when a loader set something other than the default, else detected."""
    if document.language and document.language != "en":
        return document.language
    sample = document.text[:4000] if document.text else " ".join(c.text for c in chunks[:3])[:4000]
    return script_language(sample)


class LanguageRouter:
    """English documents to spaCy, Chinese ones to LAC (loaded on the first Chinese document)."""

    def __init__(self, english: Extractor, chinese: Extractor | None = None) -> None:
        self.english = english
        self._chinese = chinese

    @property
    def chinese(self) -> Extractor:
        if self._chinese is None:
            from ingest.extract.lac import LacExtractor

            self._chinese = LacExtractor.from_pretrained()
        return self._chinese

    def prepare(self, batch: Sequence[tuple[Document, list[Chunk]]]) -> None:
        prepare(self.english, [(d, c) for d, c in batch if document_language(d, c) != "zh"])

    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction:
        if document_language(document, chunks) == "zh":
            return self.chinese.extract(document, chunks)
        return self.english.extract(document, chunks)


class CombinedExtractor:
    """Runs several extractors on one document and unions what they find."""

    def __init__(self, *extractors: Extractor) -> None:
        self.extractors = extractors

    def prepare(self, batch: Sequence[tuple[Document, list[Chunk]]]) -> None:
        for extractor in self.extractors:
            prepare(extractor, batch)

    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction:
        result = Extraction()
        for extractor in self.extractors:
            result.merge(extractor.extract(document, chunks))
        return result


# Types whose names are distinctive enough to recognise verbatim in other documents, in order of
# precedence when the graph holds one name under several types: teams, projects and products come from
# a document's own layout and naming, people from attendee lists and job titles, while "Organization"
# and "Location" are most often the NER model's guess for a name it does not know.
_KNOWN_TYPES = ("Team", "Project", "Product", "Person", "Organization", "Location")


def known_names(graph: GraphWriter) -> Callable[[], KnownNames]:
    """A provider of the names the graph already holds (name -> type), asked once per document.

    The index it returns is kept and extended with the names the graph gained since the last
    document (the catalogue grows with every document written); it is built anew only when the
    catalogue lost an entity, as a delete or rewrite can make it."""
    rank = {t: i for i, t in enumerate(_KNOWN_TYPES)}
    index = KnownNames()
    seen: set[str] = set()

    def recognisable(entity: Entity) -> bool:
        words = entity.name.split()
        # One-word person names are first names, and one-word everyday words ("Design", the
        # name of a chapter in one document) are words elsewhere: too ambiguous to tag on sight.
        return (len(entity.name) >= 3 and (entity.type != "Person" or len(words) >= 2) and entity.name[:1].isupper()
                and not (len(words) == 1 and everyday_word(entity.name)))

    def read() -> KnownNames:
        nonlocal index, seen
        catalogue = graph.entity_catalogue(_KNOWN_TYPES)
        ids = {e.id for e in catalogue}
        if not seen <= ids:  # an entity went: start again
            index, seen = KnownNames(), set()
        new = sorted((e for e in catalogue if e.id not in seen), key=lambda e: rank[e.type])
        # A name new under a more specific type than the one indexed (rare: it would take a new
        # entity of the same name) would need the index rebuilt to take that type.
        if any(e.name in index and rank[e.type] < rank[index[e.name]] for e in new):
            index, seen = KnownNames(), set()
            new = sorted(catalogue, key=lambda e: rank[e.type])
        index.update((e.name, e.type) for e in new if recognisable(e))
        seen |= {e.id for e in new}
        return index

    return read


def known_types(graph: GraphWriter) -> Callable[[list[str]], dict[str, str]]:
    """A look-up of the types the graph already gives names (name key -> type), most specific first,
    for an extractor that should defer to them (the LLM pass: the rules' evidence wins)."""
    rank = {t: i for i, t in enumerate(_KNOWN_TYPES)}

    def look_up(names: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        entities = [e for e in graph.find_entities(names, limit=4 * len(names)) if e.type in rank]
        for entity in sorted(entities, key=lambda e: rank[e.type]):
            found.setdefault(name_key(entity.name), entity.type)
        return found

    return look_up


def build_extractor(
    settings: Settings, *, graph: GraphWriter | None = None, embedder: Any = None, merges: Any = None,
    generator: TextGenerator | None = None, enrichments: Extractor | None = None,
) -> Extractor:
    """The extractor the settings ask for, wrapped with entity resolution when it is on.

    ``graph`` supplies the entities already known, ``embedder`` the
    embedding similarity, ``merges`` (a MergeStore) the recorded merge decisions,
    ``generator`` the chat model for ``extractor = "llm"`` / ``"spacy+llm"`` (the
    composition root, ``api.bootstrap``, passes the configured generation backend),
    ``enrichments`` what ``lore graph enrich`` stored for a document's chunks.
    """
    parts: list[Extractor] = []
    if settings.extractor in ("spacy", "spacy+llm"):
        known = known_names(graph) if graph is not None else None
        processes = settings.extraction_processes or min(4, os.cpu_count() or 1)
        parts.append(LanguageRouter(SpacyExtractor.from_pretrained(settings.spacy_model, known=known, processes=processes)))
    if settings.extractor in ("llm", "spacy+llm"):
        if generator is None:
            raise ConfigurationError(
                f"extractor = {settings.extractor!r} needs a text generator: pass the LLM backend as generator=..."
            )
        from ingest.extract.llm import LLMExtractor

        parts.append(LLMExtractor(generator, max_new_tokens=settings.llm_extraction_max_tokens))
    if enrichments is not None:  # what `lore graph enrich` stored, resolved with the rest
        parts.append(enrichments)
    extractor: Extractor = parts[0] if len(parts) == 1 else CombinedExtractor(*parts)
    if settings.resolution_enabled and merges is not None:
        from ingest.extract.resolution import Resolver, ResolvingExtractor

        resolver = Resolver(merges, graph=graph, embedder=embedder, threshold=settings.resolution_threshold)
        extractor = ResolvingExtractor(extractor, resolver)
    return extractor
