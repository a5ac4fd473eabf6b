"""Entity resolution: many surface forms, one entity; every merge recorded and reversible.

Normalisation (case, whitespace, honorifics, possessives, a leading "the") is
not a merge: it decides the entity id itself (:func:`core.extraction.normalise_name`
and ``Entity.make_id``). Everything beyond that is a *merge* of an alias into a
canonical entity, by one of these rules, tried in order:

``first_name``  "Alice" after "Alice Chen": a one-word person name that is the first
                name of exactly one person in the document (else of exactly one known person).
``acronym``     "ACME" / "Acme Corp.", "QP" / "Quarry Payments": the letters are the
                initials or the first word of the other name.
``short_form``  "Brenner" / "Brenner Logistics GmbH", "Millrace" / "Project Millrace":
                the name without its corporate suffix or kind word ("Team", "Project").
``similar``     string similarity (rapidfuzz) and embedding similarity (the ingest
                embedder) averaged, at least ``resolution_threshold``, same type.

Merge decisions live in a SQLite table (:class:`MergeStore`) beside the metadata
store rather than in the graph: they are the user's curation, which must outlive
a graph rebuild (``reconcile`` rewrites the graph from SQLite) or a move to
another graph server, and listing or undoing one must not need the server. A
merge applies to the alias name wherever it appears later (re-ingest reuses the
decision instead of re-scoring); an undone merge is never made again.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.types import Chunk, Document, Entity, Mention
from core.vocabulary import name_key
from core.extraction import Extraction
from ingest.extract.base import Extractor, prepare
from ingest.extract.evidence import personal_word
from ingest.extract.rules import has_org_word
from storage.protocols import GraphWriter
from storage.sqlite import SqliteStore

_SUFFIXES = frozenset({"inc", "inc.", "corp", "corp.", "corporation", "co", "co.", "ltd", "ltd.", "llc", "gmbh", "ag",
                       "plc", "sa", "group", "company", "team", "office"})
# Suffixes that name a kind of unit rather than the company's legal form.
_KIND_SUFFIXES = frozenset({"team", "office", "group"})
_KIND_PREFIXES = ("project ",)
_NEVER = frozenset({"Date", "Event"})  # dates are values; meetings are one per document
_NAME_CACHE_MAX = 100_000  # name vectors kept by a resolver (384 floats each: about 150 MB at most)



@dataclass(frozen=True)
class Merge:
    id: int
    alias_name: str
    alias_type: str
    canonical_id: str
    canonical_name: str
    canonical_type: str
    rule: str
    score: float
    status: str  # "active" | "undone"
    document_ids: tuple[str, ...]
    mentions: tuple[str, ...]
    created_at: str


class MergeStore(SqliteStore):
    """Merge decisions in SQLite. The constructor does no I/O; ``open()`` creates the table if needed."""

    schema = """
    CREATE TABLE IF NOT EXISTS entity_merges (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alias_key TEXT NOT NULL,
        alias_name TEXT NOT NULL,
        alias_type TEXT NOT NULL,
        canonical_id TEXT NOT NULL,
        canonical_name TEXT NOT NULL,
        canonical_type TEXT NOT NULL,
        rule TEXT NOT NULL,
        score REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'active',
        document_ids TEXT NOT NULL DEFAULT '[]',
        mentions TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        UNIQUE (alias_key, canonical_id)
    )
    """

    # A merge is keyed by the alias *name*: its type is whatever the NER model guessed that time.
    def active(self, alias_name: str) -> Merge | None:
        row = self.conn.execute(
            "SELECT * FROM entity_merges WHERE alias_key = ? AND status = 'active' ORDER BY id LIMIT 1",
            (name_key(alias_name),),
        ).fetchone()
        return _merge(row) if row else None

    def undone(self, alias_name: str, canonical_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM entity_merges WHERE alias_key = ? AND canonical_id = ? AND status = 'undone'",
            (name_key(alias_name), canonical_id),
        ).fetchone()
        return row is not None

    def undone_targets(self, alias_name: str) -> set[str]:
        """Ids of every entity a merge of this alias into was undone (one query for all candidates)."""
        rows = self.conn.execute(
            "SELECT canonical_id FROM entity_merges WHERE alias_key = ? AND status = 'undone'", (name_key(alias_name),)
        ).fetchall()
        return {row[0] for row in rows}

    def record(self, alias: Entity, canonical: Entity, rule: str, score: float, document_id: str,
               mentions: Iterable[str]) -> Merge:
        """Record (or extend with this document and these mentions) an active merge."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT * FROM entity_merges WHERE alias_key = ? AND canonical_id = ?",
                    (name_key(alias.name), canonical.id),
                ).fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO entity_merges (alias_key, alias_name, alias_type, canonical_id, canonical_name,"
                        " canonical_type, rule, score, document_ids, mentions, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (name_key(alias.name), alias.name, alias.type, canonical.id, canonical.name, canonical.type,
                         rule, float(score), json.dumps([document_id]), json.dumps(sorted(set(mentions))), now),
                    )
                else:
                    documents = sorted(set(json.loads(row["document_ids"])) | {document_id})
                    surfaces = sorted(set(json.loads(row["mentions"])) | set(mentions))
                    conn.execute("UPDATE entity_merges SET document_ids = ?, mentions = ? WHERE id = ?",
                                 (json.dumps(documents), json.dumps(surfaces), row["id"]))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        row = self.conn.execute("SELECT * FROM entity_merges WHERE alias_key = ? AND canonical_id = ?",
                                (name_key(alias.name), canonical.id)).fetchone()
        return _merge(row)

    def merges(self, status: str | None = None) -> list[Merge]:
        if status is None:
            rows = self.conn.execute("SELECT * FROM entity_merges ORDER BY id").fetchall()
        else:
            rows = self.conn.execute("SELECT * FROM entity_merges WHERE status = ? ORDER BY id", (status,)).fetchall()
        return [_merge(r) for r in rows]

    def get(self, merge_id: int) -> Merge | None:
        row = self.conn.execute("SELECT * FROM entity_merges WHERE id = ?", (merge_id,)).fetchone()
        return _merge(row) if row else None

    def undo(self, merge_id: int) -> Merge | None:
        """Mark the merge undone (kept, so it is never made again); None if there is no such merge."""
        with self._lock:
            self.conn.execute("UPDATE entity_merges SET status = 'undone' WHERE id = ?", (merge_id,))
        return self.get(merge_id)


def _merge(row: sqlite3.Row) -> Merge:
    return Merge(
        id=int(row["id"]), alias_name=row["alias_name"], alias_type=row["alias_type"],
        canonical_id=row["canonical_id"], canonical_name=row["canonical_name"], canonical_type=row["canonical_type"],
        rule=row["rule"], score=float(row["score"]), status=row["status"],
        document_ids=tuple(json.loads(row["document_ids"])), mentions=tuple(json.loads(row["mentions"])),
        created_at=row["created_at"],
    )


# ---- the rules ----------------------------------------------------------------------
def _core_words(name: str) -> list[str]:
    """The name without a kind prefix ("Project") or corporate/kind suffixes ("Corp.", "Team")."""
    return list(_core_word_tuple(name))


@functools.lru_cache(maxsize=_NAME_CACHE_MAX)
def _core_word_tuple(name: str) -> tuple[str, ...]:
    # Every rule asks for the core words of both names of every pair: computed once per name.
    lowered = name.casefold()
    for prefix in _KIND_PREFIXES:
        if lowered.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix):]
    words = [w for w in re.split(r"[\s,]+", name) if w]
    while len(words) > 1 and words[-1].casefold() in _SUFFIXES:
        words.pop()
    return tuple(words)


def first_name_match(alias: Entity, candidate: Entity) -> bool:
    # The alias's own type is not trusted: the NER model often calls a lone first name a place.
    parts = candidate.name.split()
    # Both must look like personal names: "Hamburg time", "Kestrel K1" do not, nor an acronym
    # ("GSA" is not the first name of "GSA SecOps", whatever the NER model typed that).
    return (candidate.type == "Person" and alias.type != "Date" and len(alias.name.split()) == 1 and len(parts) >= 2
            and all(map(personal_word, parts)) and personal_word(alias.name)
            and parts[0].casefold() == alias.name.casefold())


def acronym_match(alias: Entity, candidate: Entity) -> bool:
    letters = alias.name.replace(".", "")
    if not (2 <= len(letters) <= 6 and letters.isalpha() and letters.isupper()):
        return False
    words = _core_words(candidate.name)
    if len(words) >= 2 and "".join(w[0] for w in words).upper() == letters:
        return True
    # "ACME" / "Acme Corp.": the whole name is one word plus corporate suffixes. Where that word is
    # the alias itself ("IBM Corp."), only a corporate suffix makes it the same thing: "TTS Office"
    # and "GSA Team" are a place and a team of the organisation the acronym names.
    if len(words) != 1 or words[0].upper() != letters or candidate.name.upper() == letters:
        return False
    return words[0] != alias.name or not ({w.casefold() for w in candidate.name.split()[1:]} & _KIND_SUFFIXES)


def short_form_match(alias: Entity, candidate: Entity) -> bool:
    if name_key(alias.name) == name_key(candidate.name):
        return False
    alias_words = [w.casefold() for w in _core_words(alias.name)]
    candidate_words = [w.casefold() for w in _core_words(candidate.name)]
    if not alias_words or len(alias_words) > len(candidate_words):
        return False
    extra = candidate_words[len(alias_words):]
    # One more capitalised word at most ("Brenner Logistics"), or a company's descriptive tail
    # ("Hengtai Cold Chain"); longer or lower-case tails are other things ("Quarry Payments API",
    # "Hamburg time"), as are versions ("Kestrel K1").
    company_tail = candidate.type == "Organization" and has_org_word(candidate.name) and len(extra) <= 3
    if (len(extra) > 1 and not company_tail) or any(any(ch.isdigit() for ch in w) for w in extra):
        return False
    tail = _core_words(candidate.name)[len(alias_words):]
    if tail and (not tail[0][:1].isupper() or (len(tail[0]) > 1 and tail[0].isupper())):
        return False  # "Hamburg time", "Quarry Payments API"
    if alias.name.isupper() and len(alias.name) <= 4:
        return False  # "EU" / "EU Central": short capitals are the acronym rule's to judge
    # The alias is the candidate's core name, or its leading words: "Brenner" of "Brenner Logistics".
    return candidate_words[: len(alias_words)] == alias_words and (
        len(candidate.name) > len(alias.name)
    )


def _adds_words(alias: Entity, candidate: Entity) -> bool:
    """The candidate's core name is longer than the alias's ("Brenner Logistics" vs "Brenner"),
    not just the same name with a kind word or corporate suffix ("Acme Corp.", "Project Millrace")."""
    return len(_core_words(candidate.name)) > len(_core_words(alias.name))


_MERGEABLE_ACROSS_TYPES = frozenset({"Organization", "Team", "Project", "Product", "Location", "Other"})


def _types_compatible(rule: str, alias: Entity, candidate: Entity) -> bool:
    if alias.type == candidate.type or rule == "first_name":
        return True
    # The small NER model mistypes short names ("Millrace" as a person); the kind word of the full name decides.
    if rule not in ("short_form", "acronym") or candidate.type not in _MERGEABLE_ACROSS_TYPES or alias.type == "Date":
        return False
    # A longer name of another type names something more specific: the "Engineering" team is not
    # the "Engineering Guide". Only a type the NER model guesses gives way ("Brenner" the person
    # is "Brenner Logistics GmbH"); a type the layout or the evidence rules gave stands.
    return rule == "acronym" or not _adds_words(alias, candidate) or alias.type in ("Person", "Location", "Other")


def _digits(name: str) -> str:
    return "".join(ch for ch in name if ch.isdigit())


class KnownEntities:
    """The knowledge base's entities, indexed by what the rules compare, so that a document's aliases are
    tested against the few entities that could match rather than the whole catalogue (which grows with
    every document ingested).

    Each look-up returns a superset of the entities a rule can accept: ``first_name`` needs the
    candidate's first word, ``short_form`` its first core word, ``acronym`` its initials (or its one
    core word); ``similar`` asks rapidfuzz for the names of one type within the string-score floor.
    """

    def __init__(self, entities: Sequence[Entity] = ()) -> None:
        self.entities: list[Entity] = []
        self.ids: set[str] = set()
        self._by_word: dict[str, list[Entity]] = defaultdict(list)
        self._by_initials: dict[str, list[Entity]] = defaultdict(list)
        self._keys_by_type: dict[str, list[str]] = defaultdict(list)
        self._by_type: dict[str, list[Entity]] = defaultdict(list)
        self.extend(entities)

    def extend(self, entities: Iterable[Entity]) -> None:
        """Index more entities (ones already indexed are passed over)."""
        for entity in entities:
            if entity.id in self.ids:
                continue
            self.ids.add(entity.id)
            self.entities.append(entity)
            words, core = entity.name.split(), _core_words(entity.name)
            for word in {words[0].casefold(), core[0].casefold()} if words and core else ():
                self._by_word[word].append(entity)
            if core:
                self._by_initials[_initials(core)].append(entity)
            self._keys_by_type[entity.type].append(name_key(entity.name))
            self._by_type[entity.type].append(entity)

    def rule_candidates(self, alias: Entity) -> list[Entity]:
        words, core = alias.name.split(), _core_words(alias.name)
        found = [*self._by_word.get(words[0].casefold(), ()), *self._by_word.get(core[0].casefold(), ()),
                 *self._by_initials.get(alias.name.replace(".", ""), ())] if words and core else []
        return list({e.id: e for e in found}.values())

    def similar_candidates(self, alias: Entity, floor: float) -> list[tuple[Entity, float]]:
        """(entity, string score) for each entity of the alias's type scoring at least ``floor``, in catalogue order."""
        from rapidfuzz import fuzz, process

        keys = self._keys_by_type.get(alias.type, [])
        hits = process.extract(name_key(alias.name), keys, scorer=fuzz.token_sort_ratio,
                               score_cutoff=max(0.0, 100.0 * floor - 1e-6), limit=None)
        entities = self._by_type[alias.type]
        return [(entities[i], score / 100.0) for _, score, i in sorted(hits, key=lambda hit: hit[2])]


def _initials(core: list[str]) -> str:
    """What an acronym of the name spells: its core words' initials, or its one core word ("ACME" of "Acme Corp.")."""
    return "".join(w[0] for w in core).upper() if len(core) >= 2 else core[0].upper()


class Resolver:
    """Decides, for each entity of a document's extraction, which entity it really is."""

    def __init__(self, merges: MergeStore, *, graph: GraphWriter | None = None, embedder: Any = None, threshold: float = 0.9) -> None:
        self.merges = merges
        self.graph = graph
        self.embedder = embedder
        self.threshold = threshold
        # Entity names recur across decisions and documents: each is embedded once, not once per
        # comparison (one encode call per comparison costed as much as the NER over a meeting).
        self._name_vectors: dict[str, np.ndarray] = {}
        self._catalogues: dict[tuple[str, ...], KnownEntities] = {}

    def _embed_names(self, names: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(n for n in names if n not in self._name_vectors))
        if missing:
            if len(self._name_vectors) + len(missing) > _NAME_CACHE_MAX:
                self._name_vectors.clear()
            for name, vector in zip(missing, np.asarray(self.embedder.embed(missing))):
                self._name_vectors[name] = vector
        return np.stack([self._name_vectors[n] for n in names])

    def resolve(self, document: Document, extraction: Extraction) -> Extraction:
        entities = [e for e in extraction.entities.values() if e.type not in _NEVER]
        meeting_ids = {m.entity_id for m in extraction.meetings}
        entities = [e for e in entities if e.id not in meeting_ids]
        known = self._known(entities)
        local_counts: dict[str, int] = {}
        for m in extraction.mentions:
            local_counts[m.entity_id] = local_counts.get(m.entity_id, 0) + 1
        mapping: dict[str, tuple[Entity, str, float]] = {}
        # The document's own entities, indexed like the catalogue: a rule is tried only on the few
        # that could match (entity-dense text names hundreds per document).
        local = KnownEntities(entities)
        for alias in sorted(entities, key=lambda e: (len(e.name), e.name)):
            decision = self._decide(alias, local, known, local_counts)
            if decision is not None:
                mapping[alias.id] = decision
        # Chains ("A" -> "B" -> "C") end at the last one.
        resolved: dict[str, Entity] = {}
        for alias_id in mapping:
            target, seen = mapping[alias_id][0], {alias_id}
            while target.id in mapping and target.id not in seen:
                seen.add(target.id)
                target = mapping[target.id][0]
            resolved[alias_id] = target
        surfaces: dict[str, set[str]] = {}
        for m in extraction.mentions:
            if m.entity_id in resolved:
                surfaces.setdefault(m.entity_id, set()).add(m.text)
        for alias_id, target in resolved.items():
            alias = extraction.entities[alias_id]
            _, rule, score = mapping[alias_id]
            self.merges.record(alias, target, rule, score, document.id, surfaces.get(alias_id, {alias.name}))
        return _rewrite(extraction, resolved)

    def _known(self, entities: Sequence[Entity]) -> KnownEntities:
        """The graph's catalogue of the types this document's entities could merge with, indexed.

        The index is kept between documents and extended by the entities the catalogue gained: built
        anew for every document it cost each document time in proportion to the whole knowledge base.
        It is built anew only when the catalogue lost an entity (a document deleted or rewritten)."""
        if self.graph is None:
            return KnownEntities()
        types = tuple(sorted({e.type for e in entities} | _MERGEABLE_ACROSS_TYPES | {"Person"}))
        catalogue = self.graph.entity_catalogue(types)
        index = self._catalogues.get(types)
        if index is None or not index.ids <= {e.id for e in catalogue}:
            index = self._catalogues[types] = KnownEntities(catalogue)
        else:
            index.extend(catalogue)
        return index

    def _decide(self, alias: Entity, local: KnownEntities, known: KnownEntities,
                counts: dict[str, int]) -> tuple[Entity, str, float] | None:
        recorded = self.merges.active(alias.name)
        if recorded is not None:
            return Entity(id=recorded.canonical_id, name=recorded.canonical_name, type=recorded.canonical_type), recorded.rule, recorded.score
        # One look-up per alias: the known pool is the whole graph's catalogue, so a query per
        # candidate made each document cost more than the last.
        undone = self.merges.undone_targets(alias.name)
        for pool in (local.rule_candidates(alias), known.rule_candidates(alias)):
            candidates = [c for c in pool if c.id != alias.id and c.id not in undone]
            for rule, test in (("first_name", first_name_match), ("acronym", acronym_match), ("short_form", short_form_match)):
                hits = {c.id: c for c in candidates if test(alias, c) and _types_compatible(rule, alias, c)}
                if len(hits) > 1 and len({name_key(" ".join(_core_words(c.name))) for c in hits.values()}) == 1:
                    # One name with and without its suffix ("Brenner Logistics", "Brenner Logistics GmbH"): the shorter.
                    shortest = min(hits.values(), key=lambda c: (len(c.name), c.name))
                    hits = {shortest.id: shortest}
                if len(hits) == 1:
                    candidate = next(iter(hits.values()))
                    # "Brenner" is Brenner Logistics however often it is used; but "Loomline" is the product,
                    # "Loomline Standard" one of its plans.
                    company = candidate.type == "Organization" and has_org_word(candidate.name)
                    if (rule == "short_form" and _adds_words(alias, candidate) and not company
                            and not self._established(alias, candidate, counts)):
                        return None
                    return candidate, rule, 1.0
                if len(hits) > 1:
                    return None  # ambiguous: "Alex" with two Alexes stays itself
        return self._similar(alias, local.entities, known, counts, undone)

    def _similar(self, alias: Entity, local: list[Entity], known: KnownEntities,
                 counts: dict[str, int], undone: set[str] | None = None) -> tuple[Entity, str, float] | None:
        from rapidfuzz import fuzz

        # Below this string score the average cannot reach the threshold: no embedding needed.
        floor = 2 * self.threshold - 1.0
        undone = self.merges.undone_targets(alias.name) if undone is None else undone
        pool = {c.id: (c, s) for c, s in known.similar_candidates(alias, floor)}
        for c in local:
            if c.type == alias.type:
                pool[c.id] = (c, fuzz.token_sort_ratio(name_key(alias.name), name_key(c.name)) / 100.0)
        scored = [
            (c, string_score) for c, string_score in pool.values()
            # "Loomline 3.1" is not "Loomline 3.0", however alike they read.
            if c.id != alias.id and c.id not in undone and string_score >= floor
            and _digits(alias.name) == _digits(c.name)
        ]
        if not scored:
            return None
        if self.embedder is not None:
            vectors = self._embed_names([alias.name, *(c.name for c, _ in scored)])
            similarities = vectors[1:] @ vectors[0]
        else:
            similarities = np.array([s for _, s in scored])
        best = None
        for (candidate, string_score), embed_score in zip(scored, similarities):
            score = (string_score + float(embed_score)) / 2.0
            if score >= self.threshold and (best is None or score > best[1]):
                best = (candidate, score)
        if best is None:
            return None
        candidate, score = best
        # Merge the newer or rarer spelling into the established one; the other way round is
        # decided when the candidate's turn comes.
        if not self._established(alias, candidate, counts):
            return None
        return candidate, "similar", round(score, 4)

    def _established(self, alias: Entity, candidate: Entity, counts: dict[str, int]) -> bool:
        """Whether the candidate is mentioned at least as often as the alias (this document plus the graph)."""
        stored = self.graph.mention_counts([alias.id, candidate.id]) if self.graph is not None else {}
        return counts.get(alias.id, 0) + stored.get(alias.id, 0) <= counts.get(candidate.id, 0) + stored.get(candidate.id, 0)


def _rewrite(extraction: Extraction, resolved: dict[str, Entity]) -> Extraction:
    if not resolved:
        return extraction

    def to(entity_id: str | None) -> str | None:
        return resolved[entity_id].id if entity_id in resolved else entity_id

    out = Extraction()
    for entity_id, entity in extraction.entities.items():
        if entity_id in resolved:
            target = resolved[entity_id]
            out.entities.setdefault(target.id, target)
        else:
            out.entities.setdefault(entity_id, entity)
    out.mentions = [Mention(entity_id=to(m.entity_id), chunk_id=m.chunk_id, text=m.text, start=m.start, end=m.end)
                    for m in extraction.mentions]
    out.relations = [r.model_copy(update={"source_id": to(r.source_id), "target_id": to(r.target_id)})
                     for r in extraction.relations if to(r.source_id) != to(r.target_id)]
    out.meetings = [
        m.model_copy(update={
            "decisions": tuple(d.model_copy(update={"decided_by": to(d.decided_by)}) for d in m.decisions),
            "action_items": tuple(a.model_copy(update={"owner_id": to(a.owner_id),
                                                        "owner": resolved[a.owner_id].name if a.owner_id in resolved else a.owner})
                                  for a in m.action_items),
        })
        for m in extraction.meetings
    ]
    return out


class ResolvingExtractor:
    """Any extractor, followed by entity resolution of what it found."""

    def __init__(self, inner: Extractor, resolver: Resolver) -> None:
        self.inner = inner
        self.resolver = resolver

    def prepare(self, batch: Sequence[tuple[Document, list[Chunk]]]) -> None:
        prepare(self.inner, batch)

    def extract(self, document: Document, chunks: list[Chunk]) -> Extraction:
        return self.resolver.resolve(document, self.inner.extract(document, chunks))

