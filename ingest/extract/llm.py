"""Prompted triple extraction with an LLM (the configured local model or any OpenAI-compatible server).

Off by default (``extractor = "spacy"``); ``"llm"`` or ``"spacy+llm"`` turn it
on for higher recall. The model answers in JSON; the answer is parsed
defensively (code fences, prose around the JSON, a bare list of triples, wrong
case in types) and then checked against the chunk: a name that does not occur in
the chunk text is dropped, so every kept fact points at real text with offsets.

The model comes in as a :class:`TextGenerator`: anything with a chat ``generate``
(the generation layer's backends are; ``api.bootstrap`` wires the configured one
in), so ingest does not depend on how or where the model runs.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from core.errors import LoreError
from core.types import Chunk, Document, Entity, Mention
from core.markdown import blank_markup
from core.vocabulary import ENTITY_TYPES, RELATION_DOMAINS, RELATION_TYPES, entity_label
from core.extraction import Extraction, make_entity, normalise_name, usable_name
from ingest.extract.rules import sentences

log = logging.getLogger(__name__)

SYSTEM = (
    "You extract a knowledge graph from company documents. Answer with JSON only, no prose: "
    '{"entities": [{"name": "...", "type": "..."}], '
    '"relations": [{"source": "...", "type": "...", "target": "..."}]}. '
    f"Entity types: {', '.join(sorted(ENTITY_TYPES))}. "
    f"Relation types: {', '.join(sorted(RELATION_TYPES - {'MENTIONED_WITH'}))}. "
    "Use names exactly as written in the text. Only relations one sentence states between two named "
    "things; leave out anything the text does not say outright."
)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_NAME_SHAPE = re.compile(r"^(?=.*[A-Z0-9\u4e00-\u9fff])[^{}<>\[\]#@]{2,60}$")  # a capital, a digit or CJK: a name
# The closed schema as JSON Schema: an engine that constrains its output by grammar (llama.cpp)
# can then only write entity and relation types the graph has.
_EXTRACTED_TYPES = sorted(ENTITY_TYPES - {"Date", "Topic", "Other"})
_EXTRACTED_RELATIONS = sorted(RELATION_DOMAINS)
TRIPLES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "entities": {"type": "array", "maxItems": 12, "items": {
            "type": "object", "properties": {"name": {"type": "string", "maxLength": 60},
                                             "type": {"enum": _EXTRACTED_TYPES}},
            "required": ["name", "type"]}},
        "relations": {"type": "array", "maxItems": 8, "items": {
            "type": "object", "properties": {"source": {"type": "string", "maxLength": 60},
                                             "type": {"enum": _EXTRACTED_RELATIONS},
                                             "target": {"type": "string", "maxLength": 60}},
            "required": ["source", "type", "target"]}},
    },
    "required": ["entities", "relations"],
}


def parse_triples(answer: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(entities, relations) from a model answer; anything unreadable yields empty lists, never an exception."""
    payload = _load_json(answer)
    if isinstance(payload, list):  # a bare list of triples
        payload = {"relations": payload}
    if not isinstance(payload, dict):
        return [], []
    entities = [e for e in payload.get("entities") or [] if isinstance(e, dict) and isinstance(e.get("name"), str)]
    relations = []
    for item in payload.get("relations") or payload.get("triples") or []:
        if isinstance(item, list | tuple) and len(item) == 3:
            item = {"source": item[0], "type": item[1], "target": item[2]}
        if isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ("source", "type", "target")):
            relations.append(item)
    return entities, relations


def _load_json(answer: str) -> Any:
    fenced = _FENCE.search(answer)
    candidates = [fenced.group(1)] if fenced else []
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = answer.find(opener), answer.rfind(closer)
        if 0 <= start < end:
            candidates.append(answer[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            # Trailing commas are the most common slip of small models.
            try:
                return json.loads(re.sub(r",\s*([}\]])", r"\1", candidate))
            except json.JSONDecodeError:
                continue
    return None


def _relation_type(name: str) -> str | None:
    canonical = "_".join(name.replace("-", " ").split()).upper()
    return canonical if canonical in RELATION_TYPES else None


@runtime_checkable
class TextGenerator(Protocol):
    """A chat model: messages (``role``/``content`` dicts) in, the reply text out. Raises a
    :class:`~core.errors.LoreError` when it cannot answer."""

    def generate(self, messages: list[dict[str, str]], *, max_new_tokens: int, timeout: float | None = None) -> str: ...


class LLMExtractor:
    """Typed triples per chunk from a chat model, kept only where the chunk bears them out.

    An engine with ``generate_json`` (llama.cpp) is held to :data:`TRIPLES_SCHEMA` by grammar;
    any other model's answer is parsed defensively. Either way a triple is kept only when both
    names occur in the chunk and its types are in the closed schema.
    """

    origin = "llm"

    def __init__(self, backend: TextGenerator, max_new_tokens: int = 512, timeout: float | None = None,
                 known_types: Callable[[list[str]], dict[str, str]] | None = None) -> None:
        self.backend = backend
        self.max_new_tokens = max_new_tokens
        self.timeout = timeout
        # name key -> the type the knowledge base already gives a name (the rules' evidence wins).
        self.known_types = known_types

    @property
    def model(self) -> str:
        return str(getattr(self.backend, "name", type(self.backend).__name__))

    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction:
        extraction = Extraction()
        for chunk in chunks:
            try:
                extraction.merge(self.extract_chunk(chunk))
            except LoreError as exc:
                # One chunk the model cannot do must not fail the document.
                log.warning("LLM extraction skipped chunk %s of %s: %s", chunk.index, document.source, exc)
        return extraction

    def extract_chunk(self, chunk: Chunk) -> Extraction:
        """One chunk's triples; raises a :class:`LoreError` when the model cannot answer."""
        # Link targets and template tags are not text: the model would read names into them.
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": blank_markup(chunk.text)}]
        constrained = getattr(self.backend, "generate_json", None)
        if callable(constrained) and getattr(self.backend, "constrains_output", True):
            payload = constrained(messages, TRIPLES_SCHEMA, max_new_tokens=self.max_new_tokens, timeout=self.timeout)
            entities, relations = parse_triples(json.dumps(payload))
        else:
            answer = self.backend.generate(messages, max_new_tokens=self.max_new_tokens, timeout=self.timeout)
            entities, relations = parse_triples(answer)
        extraction = Extraction()
        self._add(extraction, chunk, entities, relations)
        return extraction

    def _add(self, extraction: Extraction, chunk: Chunk, entities: list[dict], relations: list[dict]) -> None:
        types = {normalise_name(e["name"]).casefold(): entity_label(str(e.get("type") or "Other")) for e in entities}
        if self.known_types is not None:
            names = {normalise_name(str(r.get(k) or "")) for r in relations for k in ("source", "target")}
            types.update(self.known_types(sorted(n for n in names if n)))
        found: dict[str, tuple[Entity, int, int]] = {}

        def locate(raw: str) -> tuple[Entity, int, int] | None:
            name = normalise_name(raw)
            key = name.casefold()
            if key in found:
                return found[key]
            if not _NAME_SHAPE.match(name):
                return None  # "publicly available websites", "director": not a name
            at = chunk.text.casefold().find(key) if usable_name(name) else -1
            if at < 0:
                return None  # not in the text: the model made it up or rewrote it
            found[key] = (make_entity(name, types.get(key, "Other")), at, at + len(name))
            return found[key]

        def keep(entity: Entity, at: int, end: int) -> None:
            if entity.id not in extraction.entities:
                extraction.entities[entity.id] = entity
                extraction.mentions.append(Mention(entity_id=entity.id, chunk_id=chunk.id, text=chunk.text[at:end],
                                                   start=at, end=end))

        # Entities enter through the triples kept: a name the model typed but related to nothing
        # adds a node with the model's guess of a type and no fact (the rules found the rest).
        sentence_spans = sentences(chunk.text)
        for r in relations:
            rel_type = _relation_type(r["type"])
            if rel_type not in RELATION_DOMAINS:
                continue  # not a relation the schema lets an extractor state
            source, target = locate(r["source"]), locate(r["target"])
            if source is None or target is None:
                continue  # a name the chunk does not hold
            subjects, objects = RELATION_DOMAINS[rel_type]
            if source[0].type not in subjects or target[0].type not in objects:
                continue  # types the schema does not join this way ("a website LOCATED_IN GitHub")
            # The evidence is the first sentence that names both; a "fact" across sentences is dropped.
            names = (source[0].name.casefold(), target[0].name.casefold())
            sentence = next(((a, b) for a, b in sentence_spans if all(n in chunk.text[a:b].casefold() for n in names)),
                            None)
            if sentence is None:
                continue
            keep(*source)
            keep(*target)
            extraction.add_relation(source[0], rel_type, target[0], chunk, sentence, origin=self.origin)
