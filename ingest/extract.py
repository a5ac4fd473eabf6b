"""Entity and relation extraction with spaCy.

Entities come from the NER model; relations from two sources that need no
training data: meeting structure (attendees ATTENDED the meeting) and sentence
co-occurrence (two entities named in one sentence are MENTIONED_WITH each other,
with the sentence kept as evidence).
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Protocol

from core.errors import ModelLoadError
from core.types import Chunk, Document, Entity, Mention, Relation

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
_POSSESSIVE = re.compile(r"['’]s$")


@dataclass
class Extraction:
    entities: dict[str, Entity] = field(default_factory=dict)
    mentions: list[Mention] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)


class Extractor(Protocol):
    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction: ...


def normalise_name(text: str) -> str:
    """Surface form -> canonical name: trimmed, single-spaced, no leading article or possessive."""
    name = " ".join(text.replace("*", " ").replace("`", " ").split())
    if name.count("(") != name.count(")"):  # "Sofia Lindqvist (Firmware" -> "Sofia Lindqvist"
        name = name.split("(")[0]
    name = name.strip(" .,:;\"'()[]_-")
    name = _POSSESSIVE.sub("", name)
    if name.lower().startswith("the "):
        name = name[4:]
    return name


class SpacyExtractor:
    def __init__(self, nlp, batch_size: int = 32) -> None:
        self._nlp = nlp
        self.batch_size = batch_size
        self._lock = threading.Lock()  # a spaCy Language object is not safe to share across threads

    @classmethod
    def from_pretrained(cls, model: str) -> "SpacyExtractor":
        import spacy

        try:
            # Only the pieces NER and sentence boundaries need: faster, same entities.
            nlp = spacy.load(model, exclude=["lemmatizer"])
        except OSError as exc:
            raise ModelLoadError(f"cannot load spaCy model {model!r}: {exc}") from exc
        return cls(nlp)

    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction:
        result = Extraction()
        with self._lock:
            docs = list(self._nlp.pipe((c.text for c in chunks), batch_size=self.batch_size))
        for chunk, doc in zip(chunks, docs):
            for sentence in doc.sents:
                in_sentence: dict[str, Entity] = {}
                for ent in sentence.ents:
                    entity = self._entity(ent.text, ent.label_)
                    if entity is None:
                        continue
                    result.entities.setdefault(entity.id, entity)
                    result.mentions.append(
                        Mention(entity_id=entity.id, chunk_id=chunk.id, text=ent.text, start=ent.start_char, end=ent.end_char)
                    )
                    if entity.type != "Date":
                        in_sentence.setdefault(entity.id, entity)
                pairs = itertools.combinations(sorted(in_sentence), 2)
                for source_id, target_id in itertools.islice(pairs, MAX_PAIRS_PER_SENTENCE):
                    result.relations.append(
                        Relation(
                            source_id=source_id,
                            target_id=target_id,
                            type="MENTIONED_WITH",
                            chunk_id=chunk.id,
                            evidence=sentence.text.strip()[:500],
                        )
                    )
        self._meeting_structure(document, chunks, result)
        return result

    @staticmethod
    def _entity(text: str, label: str) -> Entity | None:
        entity_type = SPACY_LABELS.get(label)
        name = normalise_name(text)
        if entity_type is None or len(name) < 2 or not any(ch.isalpha() for ch in name):
            return None
        return Entity(id=Entity.make_id(name, entity_type), name=name, type=entity_type)

    @staticmethod
    def _meeting_structure(document: Document, chunks: list[Chunk], result: Extraction) -> None:
        """Attendees listed in a meeting header ATTENDED the meeting (an Event named by its title)."""
        attendees = document.metadata.get("attendees") or []
        if document.kind != "meeting" or not attendees or not chunks:
            return
        header = chunks[0]
        meeting = Entity(id=Entity.make_id(document.title, "Event"), name=document.title, type="Event")
        result.entities.setdefault(meeting.id, meeting)
        title_at = header.text.find(document.title)
        if title_at >= 0:
            result.mentions.append(
                Mention(entity_id=meeting.id, chunk_id=header.id, text=document.title, start=title_at, end=title_at + len(document.title))
            )
        for raw in attendees:
            name = normalise_name(raw)
            if not name:
                continue
            person = Entity(id=Entity.make_id(name, "Person"), name=name, type="Person")
            result.entities.setdefault(person.id, person)
            at = header.text.find(raw)
            if at >= 0:
                result.mentions.append(Mention(entity_id=person.id, chunk_id=header.id, text=raw, start=at, end=at + len(raw)))
            result.relations.append(
                Relation(source_id=person.id, target_id=meeting.id, type="ATTENDED", chunk_id=header.id, evidence=f"Attendees: {', '.join(attendees)}"[:500])
            )
