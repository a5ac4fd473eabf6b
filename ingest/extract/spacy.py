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
* meetings: attendees, decisions and action items (:mod:`core.meeting_notes`).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.types import Chunk, Document, Entity
from ingest.extract import evidence, layout, rules
from core.extraction import Extraction, Span, document_text, normalise_name, usable_name
from core.markdown import blank_markup
from core.meeting_notes import extract_meeting
from ingest.extract.known import KnownNames
from ingest.extract.spacy_processes import BATCH_SIZE, SpacyRunner, load_pipeline

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
# The labels whose cleaning reads part-of-speech tags (all but dates).
_TAGGED_LABELS = frozenset(label for label in SPACY_LABELS if label != "DATE")
MAX_PAIRS_PER_SENTENCE = 15
_SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass"})
_OBJECT_DEPS = frozenset({"dobj", "attr", "pobj", "oprd"})


NamesProvider = Callable[[], KnownNames]  # the names the knowledge base holds, asked once per document


class SpacyExtractor:
    """``known`` supplies names the knowledge base already has (name -> type), so a service
    defined in one document is recognised in the next even where the NER model misses it.
    ``runner`` runs the pipeline (over several processes when it was built with them)."""

    def __init__(self, nlp: Any, batch_size: int = BATCH_SIZE, known: NamesProvider | None = None,
                 runner: SpacyRunner | None = None) -> None:
        self._nlp = nlp
        self.known = known
        self._runner = runner or SpacyRunner(nlp, batch_size=batch_size)
        self._lock = threading.Lock()  # a spaCy Language object is not safe to share across threads
        self._prepared: dict[tuple[str, ...], _Reading] = {}  # what prepare() read, until extract() asks
        self._prepared_lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, model: str, known: NamesProvider | None = None, processes: int = 1) -> SpacyExtractor:
        """``processes``: how many processes (this one included) share each pass over a long document."""
        nlp = load_pipeline(model)
        return cls(nlp, known=known, runner=SpacyRunner(nlp, model=model, processes=processes))

    def _passes(self) -> tuple[list[str], list[str], list[str]] | None:
        """Components to switch off in each of three passes over the text, or None for one pass.

        Every chunk needs sentences: the first pass runs the statistical sentence segmenter
        ``senter`` alone, which is cheap. The NER model costs the most, and most of meeting
        talk names nothing ("so I think the uh other one"): the second pass runs it only on
        the sentences that could hold a name (:func:`rules.may_name`). Tags (``clean_entity``
        reads them) and the parse (dependency patterns) are needed only in sentences where
        NER found something, or that hold two entities: the third pass runs ``tok2vec``,
        tagger and parser on those alone. A model without ``senter``, a parser or NER runs
        everything in one pass.
        """
        names = set(self._nlp.pipe_names)
        if not {"senter", "parser", "ner"} <= names:
            return None
        return sorted(names - {"senter"}), sorted(names - {"ner"}), sorted(names & {"ner", "senter"})

    def _pipe(self, pieces: list[tuple[Chunk, int, int]], disable: list[str],
              read: Callable[[Any], Any] | None = None) -> list[tuple[Chunk, int, Any]]:
        """(chunk, start, doc) for each (chunk, start, end): ``chunk.text[start:end]`` through the pipeline
        less the ``disable``d components; ``read(doc)`` in place of the doc when given."""
        with self._lock:
            docs = self._runner.pipe([blank_markup(chunk.text[a:b]) for chunk, a, b in pieces], disable, read)
        return [(chunk, a, doc) for (chunk, a, _), doc in zip(pieces, docs)]

    def prepare(self, batch: Sequence[tuple[Document, list[Chunk]]]) -> None:
        """Reads the documents about to be extracted with the models, all at once.

        Each pass then runs once over the whole batch: many short documents (entity-dense pages of a
        paragraph or two) fill spaCy's batches and are split between the worker processes, where one
        such document alone is too short to be worth shipping to another process. What the models
        found is kept for :meth:`extract`, which does the rest document by document (the names the
        knowledge base knows change as each one is written). A new batch replaces the last.
        """
        readings = self._read(batch)
        with self._prepared_lock:
            self._prepared = {_reading_key(d, c): r for (d, c), r in zip(batch, readings)}

    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction:
        with self._prepared_lock:
            reading = self._prepared.pop(_reading_key(document, chunks), None)
        if reading is None:
            reading = self._read([(document, chunks)])[0]
        text = document_text(chunks)
        known = self.known() if self.known else None
        if reading.docs is not None:  # one pass tagged and parsed everything
            ner = {chunk.id: [span for ent in doc.ents if (span := clean_entity(ent, text, known)) is not None]
                   for chunk, doc in zip(chunks, reading.docs)}
            result = extract_with(document, chunks, ner, reading.sentences, known)
            for chunk, doc in zip(chunks, reading.docs):
                _dependency_relations(result.extraction, chunk, doc, result.spans[chunk.id])
            return result.extraction

        found, parsed, sentence_spans = reading.found, reading.parsed, reading.sentences
        ner = {chunk.id: _clean_in_segments(found.get(chunk.id, []), parsed.get(chunk.id, []), text, known)
               for chunk in chunks}
        result = extract_with(document, chunks, ner, sentence_spans, known)

        # Dependency patterns need two entities in a sentence (names found by the rules count too):
        # parsed segments are reused, other such sentences are parsed now.
        rest = []
        for chunk in chunks:
            spans = result.spans[chunk.id]
            segments = parsed.get(chunk.id, [])
            for a, b, doc in segments:
                if _entity_count(spans, a, b) >= 2:
                    _dependency_relations(result.extraction, chunk, doc, spans, offset=a)
            rest += [(chunk, a, b) for a, b in sentence_spans[chunk.id]
                     if _entity_count(spans, a, b) >= 2
                     and not any(s <= a and b <= e for s, e, _ in segments)]
        for chunk, a, doc in self._pipe(rest, self._passes()[2]):
            _dependency_relations(result.extraction, chunk, doc, result.spans[chunk.id], offset=a)
        return result.extraction

    def _read(self, batch: Sequence[tuple[Document, list[Chunk]]]) -> list[_Reading]:
        """The models' reading of each document's chunks: sentences, the NER model's entities, and the
        tagged and parsed sentences around them, each pass run once over every document of ``batch``."""
        passes = self._passes()
        whole = [(chunk, 0, len(chunk.text)) for _, chunks in batch for chunk in chunks]
        if passes is None:
            docs = {chunk.id: doc for chunk, _, doc in self._pipe(whole, [])}
            return [_Reading(sentences={c.id: _sentences(docs[c.id]) for c in chunks}, docs=[docs[c.id] for c in chunks])
                    for _, chunks in batch]

        sentences_only, ner_only, tags_and_parse = passes
        sentence_spans = {chunk.id: spans for chunk, _, spans in self._pipe(whole, sentences_only, _sentences)}
        candidates = []
        for _, chunks in batch:
            lower_words = rules.lowercase_words(document_text(chunks))
            candidates += [piece for chunk in chunks for piece in _ner_pieces(chunk, sentence_spans[chunk.id], lower_words)]
        found: dict[str, list[_Found]] = defaultdict(list)
        for chunk, a, ents in self._pipe(candidates, ner_only, _entities):
            found[chunk.id] += [_Found(a + start, a + end, label, surface) for start, end, label, surface in ents]

        # Tags and parse for the sentences around the NER model's entities (dates need no tags).
        named = [
            (chunk, a, b)
            for _, chunks in batch
            for chunk in chunks
            for a, b in _segments([(e.start_char, e.end_char) for e in found[chunk.id] if e.label_ in _TAGGED_LABELS],
                                  sentence_spans[chunk.id])
        ]
        parsed: dict[str, list[tuple[int, int, Any]]] = defaultdict(list)  # (start, end, doc) in the chunk
        for chunk, a, doc in self._pipe(named, tags_and_parse):
            parsed[chunk.id].append((a, a + len(doc.text), doc))
        return [
            _Reading(sentences={c.id: sentence_spans[c.id] for c in chunks},
                     found={c.id: found[c.id] for c in chunks if c.id in found},
                     parsed={c.id: parsed[c.id] for c in chunks if c.id in parsed})
            for _, chunks in batch
        ]


@dataclass
class _Reading:
    """What the models made of one document's chunks, by chunk id, before the names the knowledge base
    knows are consulted: sentence spans, the NER pass's entities, the tagged and parsed segments
    (start, end, Doc) around them; or, for a model read in one pass, each chunk's whole Doc."""

    sentences: dict[str, list[tuple[int, int]]]
    found: dict[str, list[_Found]] = field(default_factory=dict)
    parsed: dict[str, list[tuple[int, int, Any]]] = field(default_factory=dict)
    docs: list[Any] | None = None


def _reading_key(document: Document, chunks: Sequence[Chunk]) -> tuple[str, ...]:
    # Chunk ids hash the document id, the index and the text: a changed document is read again.
    return (document.id, *(chunk.id for chunk in chunks))


@dataclass(frozen=True)
class _Found:
    """An entity of the NER pass, its offsets in the chunk (that pass reads sentences, not whole chunks)."""

    start_char: int
    end_char: int
    label_: str
    text: str


_WHOLE_CHUNK_SHARE = 0.65


def _ner_pieces(chunk: Chunk, sentences: list[tuple[int, int]],
                lowercase: frozenset[str]) -> list[tuple[Chunk, int, int]]:
    """The parts of a chunk the NER model reads: the whole chunk where most of it could name something
    (prose, where context helps the model most), else the runs of consecutive sentences that could."""
    units = [(a, b) for a, b in sentences if rules.may_name(chunk.text[a:b], lowercase)]
    if sum(b - a for a, b in units) >= _WHOLE_CHUNK_SHARE * len(chunk.text):
        return [(chunk, 0, len(chunk.text))]
    runs: list[tuple[int, int]] = []
    for a, b in units:
        if runs and not chunk.text[runs[-1][1] : a].strip():
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    return [(chunk, a, b) for a, b in runs]


def _segments(entities: list[tuple[int, int]], units: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The sentences (``units``) that hold an entity; sentences one entity straddles become one segment."""
    ranges = []
    for start, end in entities:
        inside = [i for i, (a, b) in enumerate(units) if a < end and start < b]
        if inside:
            ranges.append((units[inside[0]][0], max(units[inside[-1]][1], end)))
        else:  # not within a sentence span (e.g. in trimmed whitespace): the entity alone
            ranges.append((start, end))
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _clean_in_segments(ents: list[_Found], segments: list[tuple[int, int, Any]], text: str,
                       known: KnownNames | None) -> list[tuple[int, int, str, str]]:
    """``clean_entity`` of each NER-pass entity, read in its tagged segment; offsets in the chunk."""
    found = []
    for ent in ents:
        if ent.label_ not in _TAGGED_LABELS:
            if ent.label_ in SPACY_LABELS and (date := clean_entity(ent, text, known)) is not None:
                found.append(date)  # a date is read from its characters alone
            continue
        at = next(((a, doc) for a, b, doc in segments if a <= ent.start_char and ent.end_char <= b), None)
        if at is None:
            continue
        a, doc = at
        span = doc.char_span(ent.start_char - a, ent.end_char - a, label=ent.label_, alignment_mode="expand")
        if span is not None and (cleaned := clean_entity(span, text, known)) is not None:
            start, end, surface, entity_type = cleaned
            found.append((a + start, a + end, surface, entity_type))
    return found


def _entity_count(spans: list[Span], start: int, end: int) -> int:
    return len({s.entity.id for s in spans if start <= s.start and s.end <= end})


# Words that may stand inside a name in lower case: "Bank of England", "People & Finance", "Vincent van Gogh".
_CONNECTORS = frozenset({"of", "and", "&", "for", "de", "la", "le", "du", "van", "von", "der", "den", "da", "di", "y", "-"})
_NAME_POS = frozenset({"PROPN", "NUM"})
_CLOCK = re.compile(r"^\d{1,2}[:.]\d{2}\b")
_ACRONYM = re.compile(r"^[A-Z]{2,5}s?$")
# Digits and capitals in one token, not a period or time of day: "18F", "K9", "3M" (not "5PM", "Q3", "FY24", "H2").
_CODE = re.compile(r"^(?!\d+(?:AM|PM)$|Q[1-4]$|H[12]$|FY\d{2,4}$|\d{2,4}Q[1-4]$)(?=[A-Z]*\d)(?=\d*[A-Z])[A-Z\d]{2,6}$")


def _name_token(token: Any) -> bool:
    """A proper noun, a number, or a model code ("K2", "SC-48") whatever the tagger made of it."""
    text = token.text
    return token.pos_ in _NAME_POS or (any(ch.isdigit() for ch in text) and any(ch.isupper() for ch in text))


def clean_entity(ent: Any, text: str, known: KnownNames | None = None) -> tuple[int, int, str, str] | None:
    """A spaCy entity as (start, end, surface, type), trimmed to its name, or None when it is not a name.

    The small English model tags many capitalised words and phrases that are not
    names of things: words capitalised because they open a heading or list item
    ("Battery", "Objectives"), verbs and adjectives ("Accrues", "Maintained"),
    sentence fragments ("Send Owen", "Fleet Apps Team owns Dispatch"), shouted
    headings of plain-text files ("NEW HIRE"), technical acronyms ("API", "CSV",
    "UTC", kept when a name they abbreviate is in the document or among the ``known``
names: "ACME" for "Acme Corp") and clock times ("10:00 Pacific"). ``text`` is the whole document.
    """
    entity_type = SPACY_LABELS.get(ent.label_)
    if entity_type is None:
        return None
    known = known if known is not None else KnownNames()
    if entity_type == "Date":
        if _CODE.match(ent.text):
            # A code is not a date ("18F", "K9"): a name of unknown type, which its context may settle.
            return (ent.start_char, ent.end_char, ent.text, "Other")
        # Concrete dates only ("2026-02-10", "March 2023"); "Tuesday mornings" or "two weeks" are not facts to link.
        return (ent.start_char, ent.end_char, ent.text, entity_type) if any(ch.isdigit() for ch in ent.text) else None
    tokens = list(ent)
    # A speaker label is not part of the name after it: "Grad F: Channel" is "Channel".
    colons = [i for i, t in enumerate(tokens) if t.text == ":"]
    tokens = tokens[colons[-1] + 1 :] if colons else tokens
    # Leading words that are not part of a name: "Send Owen", "Head of People & Finance", "the Platform".
    while tokens and (not _name_token(tokens[0]) or tokens[0].text.lower() in _CONNECTORS
                      or rules.is_role_word(tokens[0].text)):
        tokens.pop(0)
    # Trailing lower-case words: "Hamburg time", "BOTH keys".
    while tokens and (tokens[-1].is_punct or (tokens[-1].is_lower and tokens[-1].is_alpha)):
        tokens.pop()
    if not tokens or rules.is_role_word(tokens[-1].text):
        return None  # nothing left, or a job title ("Chief Technology Officer")
    if any(t.is_lower and t.is_alpha and t.text not in _CONNECTORS for t in tokens):
        return None  # a clause, not a name: "Fleet Apps Team owns Dispatch"
    start, end = tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)
    doc_text = ent.doc.text  # built from the tokens at each access
    surface = doc_text[start:end]
    if re.search(r"\n[ \t]*\n|\n[ \t]*#", surface):
        return None  # across a blank line or into a heading: two pieces of layout, not one name
    if " (" in surface:  # "Technology Operations (Tech Ops) Division": the name before the aside
        surface = surface[: surface.index(" (")]
        end = start + len(surface)
    if "_" in surface or ("/" in surface and entity_type in ("Person", "Organization")):
        return None  # "I_D_" (a transcript's spelled letters), "IaaS/PaaS/SaaS", "Review/Audit": not one name
    if not any(ch.isalpha() for ch in surface) or _CLOCK.match(surface):
        return None
    line_start = doc_text.rfind("\n", 0, start) + 1
    line_end = doc_text.find("\n", end)
    line = doc_text[line_start : line_end if line_end >= 0 else len(doc_text)]
    letters = [ch for ch in line if ch.isalpha()]
    if len(letters) > 6 and all(ch.isupper() for ch in letters):
        return None  # a shouted heading ("IT HELPDESK - FREQUENTLY ASKED"): the layout rules read those
    if (_ACRONYM.match(surface) and entity_type != "Location"
            and not (rules.abbreviates(surface, text) or known.abbreviates(surface))
            and not evidence.context_votes(surface, text)["Organization"]):
        return None  # "API", "CSV", "CTO": technical terms, not names ("GSA staff", "at TTS" are names)
    if entity_type == "Location" and not all(ch.isalpha() or ch in " .'-" for ch in surface):
        return None  # place names have no digits: "Sev2"
    if entity_type in ("Person", "Organization") and any(_name_token(t) and not t.is_digit for t in tokens if any(
            ch.isdigit() for ch in t.text)):
        entity_type = "Product"  # people and companies have no model codes: "K1", "Kestrel K2"
    if len(tokens) == 1 and not surface.isupper():
        if tokens[0].pos_ != "PROPN":
            return None
        if rules.occurs_as_word(text, surface.lower()):
            return None  # the word also occurs in lower case: a common noun opening a heading or sentence
        # The NER model's type of a lone first name is unreliable ("Alice" as a place); the known person decides.
        if not known.is_first_name_of_person(surface) and not rules.capitalised_mid_sentence(text, surface):
            return None  # capitalised only where every word is ("Payload", "Objectives"): no evidence of a name
    return (start, end, surface, entity_type)


class _Result:
    def __init__(self, extraction: Extraction, spans: dict[str, list[Span]]) -> None:
        self.extraction = extraction
        self.spans = spans


def extract_with(
    document: Document,
    chunks: list[Chunk],
    ner: dict[str, list[tuple[int, int, str, str]]],
    sentence_spans: dict[str, list[tuple[int, int]]],
    known: KnownNames | None = None,
) -> _Result:
    """The language-independent part: given NER spans and sentences per chunk, everything else.

    Shared by the English (spaCy) and Chinese (LAC) extractors.
    """
    extraction = Extraction()
    text = document_text(chunks)
    by_id = {chunk.id: chunk for chunk in chunks}
    # A column header of a table row ("Approx. headcount: 79") is a label, not a name.
    ner = {cid: [s for s in spans if not (cid in by_id and layout.field_label(by_id[cid].text, s[0], s[1]))]
           for cid, spans in ner.items()}
    typed = rules.gazetteer(text)
    aliases = rules.short_forms(typed)
    # Names the knowledge base knows, where this document uses them verbatim (or shouts them in a heading).
    for name, entity_type in (known.written_in(text) if known is not None else {}).items():
        if name not in aliases:
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
            typed.setdefault(name, evidence.checked_type(name, _vote(name, counter), text))
    for attendee in document.metadata.get("attendees") or []:
        name = normalise_name(attendee)
        if usable_name(name) and name not in typed:
            typed[name] = "Person"
        elif typed.get(name) in ("Organization", "Location", "Other"):
            typed[name] = "Person"
    for surface, name in rules.shouted_forms(text, typed).items():
        aliases.setdefault(surface, name)

    spans_by_chunk = {
        chunk.id: rules.resolve_spans(extraction, chunk, ner.get(chunk.id, []), typed, aliases) for chunk in chunks
    }
    subject, home = _document_subject(document, chunks, spans_by_chunk)
    item_subjects = rules.structural_relations(extraction, text, chunks, spans_by_chunk, subject, home)
    layout.enumeration_relations(extraction, chunks, spans_by_chunk, layout.enumerations(blank_markup(text)))
    for chunk in chunks:
        sents = sentence_spans.get(chunk.id) or rules.sentences(chunk.text)
        rules.cue_relations(extraction, chunk, spans_by_chunk[chunk.id], sents, item_subjects.get(chunk.id, []))
        rules.possessive_relations(extraction, chunk, spans_by_chunk[chunk.id], sents)
        layout.record_relations(extraction, chunk, spans_by_chunk[chunk.id])
        _co_occurrence(extraction, chunk, spans_by_chunk[chunk.id], sents)
    extract_meeting(document, chunks, extraction)
    return _Result(extraction, spans_by_chunk)


_ORG_WORDS = frozenset({"inc", "ltd", "gmbh", "llc", "corp", "co", "group", "office", "team", "logistics", "payments",
                        "robotics", "cells", "chain", "ventures", "bank", "university", "hq", "labs", "systems"})


def _vote(name: str, counter: Counter[str]) -> str:
    """The type of a name across the document. A name ending in a company or industry word
    ("Quarry Payments", "Hengtai Cold Chain") is an organisation. The small NER model often calls
    a person an organisation; a two- or three-word capitalised name that it called a person at
    least once, with no organisation word in it, is a person."""
    if rules.has_org_word(name):
        return "Organization"
    words = name.split()
    if any(ch.isdigit() for ch in name) and counter.most_common(1)[0][0] in ("Person", "Organization", "Event"):
        # People and companies have no model numbers: "Kestrel K2", "Loomline 3.0", "PostgreSQL 16".
        return "Event" if any(w.casefold() in rules.EVENT_WORDS for w in words) else "Product"
    if (
        counter["Person"]
        and 2 <= len(words) <= 3
        and all(w[:1].isupper() for w in words)
        and not any(w.casefold().strip(".,") in _ORG_WORDS for w in words)
    ):
        return "Person"
    return counter.most_common(1)[0][0]


def _entities(doc: Any) -> list[tuple[int, int, str, str]]:
    """The NER model's entities as (start, end, label, text): what the NER pass keeps of a Doc."""
    return [(e.start_char, e.end_char, e.label_, e.text) for e in doc.ents]


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
    document: Document, chunks: list[Chunk], spans_by_chunk: dict[str, list[Span]]
) -> tuple[Entity | None, Entity | None]:
    """What the document is about (the first entity of its first line) and its home organisation
    (the organisation it names most often)."""
    subject = None
    in_title: list[Entity] = []
    if chunks:
        first_line_end = chunks[0].text.find("\n")
        first_line_end = len(chunks[0].text) if first_line_end < 0 else first_line_end
        in_title = [s.entity for s in spans_by_chunk[chunks[0].id] if s.end <= first_line_end]
        subject = next((e for e in in_title if e.type in ("Project", "Product", "Organization", "Team")), None)
    orgs = Counter(s.entity.id for spans in spans_by_chunk.values() for s in spans if s.entity.type == "Organization")
    entities = {s.entity.id: s.entity for spans in spans_by_chunk.values() for s in spans}
    # The organisation the title names ("Fernhill Robotics - Key Partners"), else the one named most often.
    home = next((e for e in in_title if e.type == "Organization"), None)
    if home is None and orgs:
        home = entities[orgs.most_common(1)[0][0]]
    return subject, home


def _co_occurrence(extraction: Extraction, chunk: Chunk, spans: list[Span], sents: list[tuple[int, int]]) -> None:
    for start, end in sents:
        in_sentence = {s.entity.id: s.entity for s in spans if start <= s.start and s.end <= end and s.entity.type != "Date"}
        pairs = itertools.combinations(sorted(in_sentence), 2)
        for source_id, target_id in itertools.islice(pairs, MAX_PAIRS_PER_SENTENCE):
            extraction.add_relation(in_sentence[source_id], "MENTIONED_WITH", in_sentence[target_id], chunk, (start, end))


def _dependency_relations(
    extraction: Extraction, chunk: Chunk, doc: Any, spans: list[Span], offset: int = 0
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
