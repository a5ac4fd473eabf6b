"""English extraction with spaCy: NER, dependency patterns, lexical cues, layout and meetings.

Entities: the NER model's people, organisations, places, products, events and
dates, plus the document's own vocabulary found by :mod:`ingest.extract.rules`
(teams, projects, services), and every further occurrence of any name found.

Relations, each with its chunk, sentence and offsets:

* dependency patterns: a relation verb ("leads", "owns", "depends on", "joined")
  whose syntactic subject and object are both entities;
* lexical cues between two entities of a sentence (:data:`rules.CUES`);
* layout: list items under a team heading, ``Owner:`` / ``Location:`` lines;
* sentence co-occurrence: MENTIONED_WITH for entities named in one sentence;
* meetings: attendees, decisions and action items (:mod:`ingest.extract.meetings`).
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from core.errors import ModelLoadError
from core.types import Chunk, Document, Entity
from ingest.extract import rules
from ingest.extract.base import Extraction, document_text, normalise_name, usable_name
from ingest.extract.meetings import extract_meeting

# spaCy label -> Lore entity type. Labels not listed (CARDINAL, MONEY, NORP, ...) are not entities of interest.
SPACY_LABELS = {
    "PERSON": "Person",
    "ORG": "Organization",
    "GPE": "Location",
    "LOC": "Location",
    "FAC": "Location",
    "PRODUCT": "Product",
    "EVENT": "Event",
    "DATE": "Date",
}
MAX_PAIRS_PER_SENTENCE = 15
_SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass"})
_OBJECT_DEPS = frozenset({"dobj", "attr", "pobj", "oprd"})


KnownNames = Callable[[], dict[str, str]]


class SpacyExtractor:
    """``known`` supplies names the knowledge base already has (name -> type), so a service
    defined in one document is recognised in the next even where the NER model misses it."""

    def __init__(self, nlp: Any, batch_size: int = 32, known: KnownNames | None = None) -> None:
        self._nlp = nlp
        self.batch_size = batch_size
        self.known = known
        self._lock = threading.Lock()  # a spaCy Language object is not safe to share across threads

    @classmethod
    def from_pretrained(cls, model: str, known: KnownNames | None = None) -> SpacyExtractor:
        import spacy

        try:
            nlp = spacy.load(model, exclude=["lemmatizer"])
        except OSError as exc:
            raise ModelLoadError(f"cannot load spaCy model {model!r}: {exc}") from exc
        if "senter" in nlp.disabled:  # shipped disabled: the parser sets sentences by default
            nlp.enable_pipe("senter")
        return cls(nlp, known=known)

    def _passes(self) -> tuple[list[str], list[str]]:
        """Components to switch off in the two passes over the text.

        Every chunk needs entities and sentences; only a sentence naming two entities can
        hold a dependency pattern. So the first pass runs NER and, where the model has it,
        the statistical sentence segmenter ``senter`` (its own small network, a fraction of
        the parser's cost); the second runs tagger and parser on those sentences alone.
        A model without ``senter`` parses everything in the first pass, as before.
        """
        names = set(self._nlp.pipe_names)
        if "senter" not in names:
            return ["senter"], []
        syntax = names - {"ner", "senter"}
        return sorted(syntax), sorted(names - syntax)

    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction:
        first_off, second_off = self._passes()
        with self._lock:
            docs = list(self._nlp.pipe((c.text for c in chunks), batch_size=self.batch_size, disable=first_off))
        ner = {
            chunk.id: [
                (ent.start_char, ent.end_char, ent.text, SPACY_LABELS[ent.label_])
                for ent in doc.ents
                if ent.label_ in SPACY_LABELS
            ]
            for chunk, doc in zip(chunks, docs)
        }
        sentence_spans = {chunk.id: _sentences(doc) for chunk, doc in zip(chunks, docs)}
        result = extract_with(document, chunks, ner, sentence_spans, self.known() if self.known else None)
        if not second_off:  # parsed in the first pass already
            for chunk, doc in zip(chunks, docs):
                _dependency_relations(result.extraction, chunk, doc, result.spans[chunk.id])
            return result.extraction
        candidates = [
            (chunk, start, end)
            for chunk in chunks
            for start, end in sentence_spans[chunk.id]
            if len({s.entity.id for s in result.spans[chunk.id] if start <= s.start and s.end <= end}) >= 2
        ]
        with self._lock:
            parsed = self._nlp.pipe(
                (chunk.text[start:end] for chunk, start, end in candidates), batch_size=self.batch_size, disable=second_off
            )
            for (chunk, start, _), doc in zip(candidates, parsed):
                _dependency_relations(result.extraction, chunk, doc, result.spans[chunk.id], offset=start)
        return result.extraction


class _Result:
    def __init__(self, extraction: Extraction, spans: dict[str, list[rules.Span]]) -> None:
        self.extraction = extraction
        self.spans = spans


def extract_with(
    document: Document,
    chunks: list[Chunk],
    ner: dict[str, list[tuple[int, int, str, str]]],
    sentence_spans: dict[str, list[tuple[int, int]]],
    known: dict[str, str] | None = None,
) -> _Result:
    """The language-independent part: given NER spans and sentences per chunk, everything else.

    Shared by the English (spaCy) and Chinese (LAC) extractors.
    """
    extraction = Extraction()
    text = document_text(chunks)
    typed = rules.gazetteer(text)
    aliases = rules.short_forms(typed)
    for name, entity_type in (known or {}).items():
        # Names the knowledge base knows, where this document uses them verbatim.
        if name not in aliases and name in text:
            typed.setdefault(name, entity_type)
    # Every name the NER model found anywhere in the document, with the type it gave most often.
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for spans in ner.values():
        for _, _, surface, entity_type in spans:
            name = normalise_name(surface)
            if entity_type != "Date" and usable_name(name) and len(name) >= 3:
                votes[name][entity_type] += 1
    for name, counter in votes.items():
        if name not in aliases:  # "Tern" is Project Tern here, whatever the NER model thought
            typed.setdefault(name, _vote(name, counter))
    for attendee in document.metadata.get("attendees") or []:
        name = normalise_name(attendee)
        if usable_name(name) and name not in typed:
            typed[name] = "Person"
        elif typed.get(name) in ("Organization", "Location", "Other"):
            typed[name] = "Person"

    spans_by_chunk = {
        chunk.id: rules.resolve_spans(extraction, chunk, ner.get(chunk.id, []), typed, aliases) for chunk in chunks
    }
    subject, home = _document_subject(document, chunks, spans_by_chunk)
    item_subjects = rules.structural_relations(extraction, text, chunks, spans_by_chunk, subject, home)
    for chunk in chunks:
        sents = sentence_spans.get(chunk.id) or rules.sentences(chunk.text)
        rules.cue_relations(extraction, chunk, spans_by_chunk[chunk.id], sents, item_subjects.get(chunk.id, []))
        _co_occurrence(extraction, chunk, spans_by_chunk[chunk.id], sents)
    extract_meeting(document, chunks, extraction)
    return _Result(extraction, spans_by_chunk)


_ORG_WORDS = frozenset({"inc", "ltd", "gmbh", "llc", "corp", "co", "group", "office", "team", "logistics", "payments",
                        "robotics", "cells", "chain", "ventures", "bank", "university", "hq", "labs", "systems"})


def _vote(name: str, counter: Counter[str]) -> str:
    """The type of a name across the document. The small NER model often calls a person an
    organisation; a two- or three-word capitalised name that it called a person at least once,
    with no organisation word in it, is a person."""
    words = name.split()
    if (
        counter["Person"]
        and 2 <= len(words) <= 3
        and all(w[:1].isupper() for w in words)
        and not any(w.casefold().strip(".,") in _ORG_WORDS for w in words)
    ):
        return "Person"
    return counter.most_common(1)[0][0]


def _sentences(doc: Any) -> list[tuple[int, int]]:
    """spaCy's sentences, also cut at line ends (list items and headings are sentences of their own)."""
    found = []
    for sent in doc.sents:
        start = sent.start_char
        for piece in sent.text.split("\n"):
            if piece.strip():
                lead = len(piece) - len(piece.lstrip())
                found.append((start + lead, start + len(piece.rstrip())))
            start += len(piece) + 1
    return found


def _document_subject(
    document: Document, chunks: list[Chunk], spans_by_chunk: dict[str, list[rules.Span]]
) -> tuple[Entity | None, Entity | None]:
    """What the document is about (the first entity of its first line) and its home organisation
    (the organisation it names most often)."""
    subject = None
    if chunks:
        first_line_end = chunks[0].text.find("\n")
        first_line_end = len(chunks[0].text) if first_line_end < 0 else first_line_end
        in_title = [s.entity for s in spans_by_chunk[chunks[0].id] if s.end <= first_line_end]
        subject = next((e for e in in_title if e.type in ("Project", "Product", "Organization", "Team")), None)
    orgs = Counter(s.entity.id for spans in spans_by_chunk.values() for s in spans if s.entity.type == "Organization")
    entities = {s.entity.id: s.entity for spans in spans_by_chunk.values() for s in spans}
    home = entities[orgs.most_common(1)[0][0]] if orgs else None
    return subject, home


def _co_occurrence(extraction: Extraction, chunk: Chunk, spans: list[rules.Span], sents: list[tuple[int, int]]) -> None:
    for start, end in sents:
        in_sentence = {s.entity.id: s.entity for s in spans if start <= s.start and s.end <= end and s.entity.type != "Date"}
        pairs = itertools.combinations(sorted(in_sentence), 2)
        for source_id, target_id in itertools.islice(pairs, MAX_PAIRS_PER_SENTENCE):
            extraction.add_relation(in_sentence[source_id], "MENTIONED_WITH", in_sentence[target_id], chunk, (start, end))


def _dependency_relations(
    extraction: Extraction, chunk: Chunk, doc: Any, spans: list[rules.Span], offset: int = 0
) -> None:
    """Relation verbs whose subject and object are entities: "Wren depends on Roster", "Alice joined the Platform Team".

    ``doc`` is the parse of the chunk text from ``offset`` on (a single sentence, or the whole chunk at 0).
    """

    def entity_at(token: Any) -> Entity | None:
        at = offset + token.idx
        for span in spans:
            if span.start <= at < span.end:
                return span.entity
        return None

    for token in doc:
        if token.pos_ not in ("VERB", "AUX"):
            continue
        subjects = [entity_at(t) for t in token.children if t.dep_ in _SUBJECT_DEPS]
        subject = next((e for e in subjects if e is not None), None)
        if subject is None:
            continue
        for child in token.children:
            if child.dep_ in _OBJECT_DEPS:
                objects = [(child, token.text)]
            elif child.dep_ in ("prep", "agent"):
                objects = [(g, f"{token.text} {child.text}") for g in child.children if g.dep_ == "pobj"]
            else:
                continue
            for obj_token, phrase in objects:
                obj = entity_at(obj_token)
                if obj is None or obj.id == subject.id:
                    continue
                cue = rules.best_cue(phrase, subject, obj)
                if cue is None:
                    continue
                source, target = (obj, subject) if cue.reverse else (subject, obj)
                sent = obj_token.sent
                extraction.add_relation(source, cue.type, target, chunk, (offset + sent.start_char, offset + sent.end_char))
