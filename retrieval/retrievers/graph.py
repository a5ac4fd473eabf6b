"""Graph retrieval: link the question's entities, expand typed hops, rank chunks by personalised PageRank."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.types import Fact
from core.vocabulary import CO_OCCURRENCE, asks_through_a_relation, name_key
from retrieval.catalog import ChunkCatalog
from retrieval.filters import SearchFilters
from retrieval.mentions import MentionIndex
from retrieval.retrievers.base import CatalogRetriever, Hits, Retrieved
from retrieval.tokenize import ENGLISH_STOPWORDS, tokenize
from storage.protocols import GraphReader, MetadataStore

_WORD = re.compile(r"[\w][\w.&'-]*", re.UNICODE)
MAX_SPAN_WORDS = 4
NEIGHBOURHOOD_CACHE_SIZE = 4096


def candidate_names(question: str) -> list[str]:
    """Every span of 1-4 words in the question, longest first: the graph decides which are entities.

    Exact (case-insensitive) look-up of all spans is cheap and finds lower-case
    and single-word names that a statistical NER model misses in short questions.
    Spans of function words only ("the", "what is") are left out: a stray entity
    of that name would otherwise link every question.
    """
    words = [w.strip(".'-?,!") for w in _WORD.findall(question)]
    words = [w for w in words if w]
    spans: list[str] = []
    for size in range(min(MAX_SPAN_WORDS, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            span = words[start : start + size]
            if not all(w.lower() in ENGLISH_STOPWORDS for w in span):
                spans.append(" ".join(span))
    return list(dict.fromkeys(spans))


# Facts are fetched this many times over: with filters, so facts supported only by
# filtered-out documents do not crowd out the admitted ones; always, so the facts that
# answer the question can be ranked ahead of the merely well-supported ones.
FACT_OVERFETCH = 4


def rank_facts(query: str, facts: Sequence[Fact]) -> list[Fact]:
    """Stated relations before co-occurrence, each sharing more of the question's search terms
    first, otherwise in the given order.

    A small model answers from the first plausible fact it reads: for "Who leads the Platform
    team?" the fact ``Rahul Menon leads Platform Team`` must come before ``Camille Dufresne
    member of Platform Team``, which names the same team and is better supported. The terms
    are the BM25 ones (stemmed, stop words dropped), so "leads" meets the predicate LEADS.
    Co-occurrence stays last whatever it shares ("...mentioned by Marketing?" would otherwise
    put ``Project Manager mentioned with Marketing`` first, and models copy it as the answer).
    """
    asked = set(tokenize(query))
    overlap = [len(asked.intersection(tokenize(fact.render()))) if asked else 0 for fact in facts]
    restated = [_names_both_ends(asked, fact) for fact in facts]
    order = sorted(range(len(facts)), key=lambda i: (facts[i].predicate == CO_OCCURRENCE, restated[i], -overlap[i]))
    return [facts[i] for i in order]


def _names_both_ends(asked: set[str], fact: Fact) -> bool:
    # "Which part of GSA does TTS belong to?": ``TTS part of GSA`` restates the question, the
    # answer is the fact whose other end the question does not name (``TTS part of FAS``).
    ends = [set(tokenize(fact.subject)), set(tokenize(fact.object))]
    return all(end and end <= asked for end in ends)


@dataclass
class GraphSettings:
    hops: int = 1
    damping: float = 0.5
    per_entity_chunks: int = 50
    neighbour_limit: int = 200
    adjacent_weight: float = 0.5
    speaker_weight: float = 0.3
    fuzzy_threshold: float = 90.0
    relation_weights: dict[str, float] = field(default_factory=lambda: {"MENTIONED_WITH": 0.5})


@dataclass
class GraphQuery:
    linked: list[str]  # entity ids
    speakers: list[str]  # case-folded speaker keys
    edges: list[tuple[str, str, str]]  # (source id, relation type, target id) around the linked entities
    mentioning: dict[str, list[str]]  # linked entity id -> ids of chunks mentioning it


@dataclass
class GraphRanking:
    hits: Hits
    entities: list[str]  # entity ids, best first
    linked: list[str]


class GraphRetriever(CatalogRetriever):
    """HippoRAG-style: link question entities, expand typed hops, rank by personalised PageRank.

    The subgraph holds the linked entities and their 1-2 hop neighbours, the chunks
    that mention them, the speakers of meeting chunks, and NEXT edges between
    adjacent chunks of a document (a meeting topic spans several windows). PageRank
    restarts at the linked entities and, in hybrid search, also at the fused top
    chunks, so mass flows to chunks that share entities, speakers or position with them.
    """

    name = "graph"

    def __init__(self, graph: GraphReader, catalog: ChunkCatalog, metadata: MetadataStore,
                 settings: GraphSettings | None = None) -> None:
        super().__init__(catalog, metadata)
        self.graph = graph
        self.settings = settings or GraphSettings()
        self.mentions = MentionIndex(graph, catalog)
        self._neighbourhoods: OrderedDict[tuple, list[tuple[str, str, str]]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._names_version: tuple[int, int] | None = None
        self._names: dict[str, list[str]] = {}
        self._name_of: dict[str, str] = {}  # entity id -> name
        self._acronym_of: dict[str, str] = {}  # entity name -> the initialism its documents also use
        self._name_list: list[str] = []

    def warm(self) -> None:
        """Load what linking and ranking keep in memory (entity names, mentions) now, not at the next question."""
        self._entity_names()
        self.mentions.refresh()

    # ---- linking ------------------------------------------------------------
    def _entity_names(self) -> dict[str, list[str]]:
        version = (self.catalog.version, self.graph.writes)
        if self._names_version != version:
            names: dict[str, list[str]] = {}
            self._name_of = {}
            for entity in self.graph.entity_names():
                names.setdefault(name_key(entity.name), []).append(entity.id)
                self._name_of[entity.id] = entity.name
            # A question may use the spelling a document used ("TTS") for an entity resolution
            # named otherwise ("Technology Transformation Services"); names come first.
            self._acronym_of = {}
            for entity_id, surface in self.graph.entity_aliases():
                linked = names.setdefault(name_key(surface), [])
                if entity_id not in linked:
                    linked.append(entity_id)
                name = self._name_of.get(entity_id)
                if name and _initialism(surface, name):
                    self._acronym_of.setdefault(name, surface)
            self._names, self._name_list = names, list(names)
            self._names_version = version
        return self._names

    def link(self, query: str) -> tuple[list[str], list[str]]:
        """(entity ids, speaker keys) the question names: exact or alias (case-folded) first, then fuzzy."""
        spans = candidate_names(query)
        names = self._entity_names()
        # Exact and alias links: the case-folded name key, as GraphStore.find_entities matches it,
        # against the entity names held in memory (no round trip per query).
        exact = [i for span in spans for i in names.get(name_key(span), ())][:20]
        fuzzy: list[str] = []
        if self.settings.fuzzy_threshold < 100:
            from rapidfuzz import fuzz, process

            for span in (s for s in spans if len(s) >= 4 and " " in s):
                match = process.extractOne(name_key(span), self._name_list, scorer=fuzz.ratio,
                                           score_cutoff=self.settings.fuzzy_threshold)
                if match:
                    fuzzy.extend(names[match[0]])
        speakers = self.catalog.speakers_named(spans)
        return list(dict.fromkeys(exact + fuzzy)), speakers

    def spellings(self, query: str) -> dict[str, str]:
        """Entity name -> the other spelling a fact should show it with: the one the question used
        ("Technology Transformation Services" -> "TTS"), else the initialism its documents use, so
        that a model answering "TTS" answers from what it was shown."""
        names = self._entity_names()
        found: dict[str, str] = dict(self._acronym_of)
        for span in candidate_names(query):
            for entity_id in names.get(name_key(span), ()):
                name = self._name_of.get(entity_id)
                if name and name_key(name) != name_key(span) and name_key(span) not in name_key(name):
                    found[name] = span
        return found

    # ---- ranking ------------------------------------------------------------
    def rank(self, query: str, k: int, mask: np.ndarray | None) -> Hits:
        return self.rank_graph(query, k, mask).hits

    def _search(self, query: str, k: int, filters: SearchFilters | None, max_facts: int) -> Retrieved:
        ranking = self.rank_graph(query, k, self.catalog.allowed(filters))
        # Facts about the entities the question names (the ranking's are for hybrid search's seeds).
        facts = self.facts(query, max_facts, filters=filters) if max_facts else []
        return Retrieved(self.passages(ranking.hits[:k]), facts, ranking)

    def prepare(self, query: str, mask: np.ndarray | None = None) -> GraphQuery:
        """The question-side graph work: entity and speaker links, typed edges around the linked
        entities and the chunks that mention them. Hybrid search runs it while the text retrievers rank."""
        cfg = self.settings
        linked, speakers = self.link(query)
        if not linked:
            return GraphQuery(linked, speakers, [], {})
        mentioning = self.mentions.chunks_mentioning(linked, cfg.per_entity_chunks, mask)
        return GraphQuery(linked, speakers, self.neighbourhood(tuple(linked)), mentioning)

    def neighbourhood(self, linked: tuple[str, ...]) -> list[tuple[str, str, str]]:
        """Typed edges up to ``hops`` around the linked entities.

        Kept for recent entity sets until the catalog or the graph changes: questions about the
        same people and products repeat, and each hop is a graph server round trip.
        """
        cfg = self.settings
        key = (self.catalog.version, self.graph.writes, linked)
        with self._cache_lock:
            cached = self._neighbourhoods.get(key)
            if cached is not None:
                self._neighbourhoods.move_to_end(key)
                return cached
        edges: list[tuple[str, str, str]] = []
        seen, frontier = set(linked), list(linked)
        for _ in range(cfg.hops):
            if not frontier:
                break
            found = self.graph.entity_neighbours(frontier, limit=cfg.neighbour_limit)
            edges.extend(found)
            frontier = list(dict.fromkeys(t for _, _, t in found if t not in seen))
            seen.update(frontier)
        with self._cache_lock:
            self._neighbourhoods[key] = edges
            while len(self._neighbourhoods) > NEIGHBOURHOOD_CACHE_SIZE:
                self._neighbourhoods.popitem(last=False)
        return edges

    def rank_graph(self, query: str, k: int, mask: np.ndarray | None,
                   seeds: dict[int, float] | None = None, prepared: GraphQuery | None = None) -> GraphRanking:
        cfg = self.settings
        prepared = prepared or self.prepare(query, mask)
        linked, speakers = prepared.linked, prepared.speakers
        seeds = seeds or {}
        if not linked and not speakers:
            # Nothing in the question is in the graph: PageRank from the seeds alone would only
            # re-order the text retrievers' own ranking, which fusion already has.
            return GraphRanking([], [], [])
        catalog = self.catalog
        entity_edges, mentioning = prepared.edges, prepared.mentioning
        seed_chunk_ids = [catalog.rows[r].chunk_id for r in seeds]
        for row in seeds:
            seed_chunk_ids.extend(catalog.rows[o].chunk_id for o in catalog.neighbours(row))
        pairs = self.mentions.entities_in([*seed_chunk_ids, *(c for ids in mentioning.values() for c in ids)])
        entities = list(dict.fromkeys([*linked, *(t for _, _, t in entity_edges)]))
        # Chunks: the seeds, those mentioning linked entities, speaker turns, and their neighbours.
        rows: dict[int, None] = dict.fromkeys(seeds)
        mention_edges: list[tuple[int, str]] = []
        for entity_id, chunk_ids in mentioning.items():
            for chunk_id in chunk_ids:
                row = catalog.row_of_chunk(chunk_id)
                if row is not None and (mask is None or mask[row]):
                    rows[row] = None
        if not seeds:
            # Alone, the graph starts from every turn window the named speakers talk in.
            for speaker in speakers:
                rows.update(dict.fromkeys(catalog.speaker_rows(speaker, mask)[: cfg.per_entity_chunks].tolist()))
        for row in list(rows):
            for other in catalog.neighbours(row):
                if mask is None or mask[other]:
                    rows[other] = None
        chunk_rows = list(rows)
        # With seeds, a named speaker ties together the candidate windows they talk in.
        named = set(speakers)
        speaker_edges = [
            (row, s.casefold()) for row in chunk_rows for s in catalog.rows[row].speakers if s.casefold() in named
        ]
        known_entities = set(entities)
        in_subgraph = set(chunk_rows)
        for chunk_id, entity_id in pairs:
            row = catalog.row_of_chunk(chunk_id)
            if row is not None and row in in_subgraph:
                mention_edges.append((row, entity_id))
                known_entities.add(entity_id)
        # Node numbering: chunks, then entities, then speakers.
        index: dict[object, int] = {("c", r): i for i, r in enumerate(chunk_rows)}
        for e in known_entities:
            index[("e", e)] = len(index)
        for s in speakers:
            index[("s", s)] = len(index)
        src, dst, weight = [], [], []

        def connect(a: object, b: object, w: float) -> None:
            if a in index and b in index and w > 0:
                src.extend((index[a], index[b]))
                dst.extend((index[b], index[a]))
                weight.extend((w, w))

        for row, entity_id in dict.fromkeys(mention_edges):
            connect(("c", row), ("e", entity_id), 1.0)
        for row, speaker in speaker_edges:
            connect(("c", row), ("s", speaker), cfg.speaker_weight)
        for a, rel, b in entity_edges:
            connect(("e", a), ("e", b), cfg.relation_weights.get(rel, 1.0))
        for row in chunk_rows:
            for other in catalog.neighbours(row):
                if ("c", other) in index and other > row:
                    connect(("c", row), ("c", other), cfg.adjacent_weight)
        restart = np.zeros(len(index))
        for e in linked:
            restart[index[("e", e)]] += 1.0
        for s in speakers:
            restart[index[("s", s)]] += 0.5
        if seeds:
            total = sum(seeds.values()) or 1.0
            entity_mass = restart.sum()
            # Seeds share the restart mass with the linked entities, half each when both exist.
            scale = entity_mass if entity_mass else 1.0
            for row, w in seeds.items():
                restart[index[("c", row)]] += scale * w / total
        scores = personalised_pagerank(len(index), src, dst, weight, restart, cfg.damping)
        chunk_scores = scores[: len(chunk_rows)]
        order = np.argsort(-chunk_scores, kind="stable")[:k]
        hits = [(chunk_rows[i], float(chunk_scores[i])) for i in order if chunk_scores[i] > 0]
        entity_ids = [key[1] for key in index if key[0] == "e"]
        entity_scores = np.array([scores[index[("e", e)]] for e in entity_ids])
        ranked_entities = [entity_ids[i] for i in np.argsort(-entity_scores, kind="stable")] if entity_ids else []
        return GraphRanking(hits, ranked_entities, linked)

    def facts(
        self, query: str, limit: int, ranking: GraphRanking | None = None, filters: SearchFilters | None = None
    ) -> list[Fact]:
        """Facts about the linked (else the top-ranked) entities, each with its supporting chunk ids,
        in ``rank_facts`` order.

        With ``filters`` (collections included), a fact keeps only supporting chunks the filters
        admit and is dropped when none is left, so no fact reaches a caller from a document it
        may not read.
        """
        if limit <= 0:
            return []
        ids = ranking.linked or ranking.entities[:10] if ranking else self.link(query)[0]
        if not ids:
            return []
        mask = self.catalog.allowed(filters)
        kept: list[Fact] = []
        for fact in self.graph.facts_about(ids, limit=limit * FACT_OVERFETCH, second_hop=asks_through_a_relation(query)):
            if mask is None:
                kept.append(fact)
                continue
            rows = ((c, self.catalog.row_of_chunk(c)) for c in fact.chunk_ids)
            chunk_ids = tuple(c for c, row in rows if row is not None and mask[row])
            if chunk_ids:
                kept.append(fact.model_copy(update={"chunk_ids": chunk_ids}))
        return rank_facts(query, _as_asked(kept, self.spellings(query)))[:limit]


_MINOR_WORDS = frozenset({"of", "and", "the", "for", "&", "on", "in"})


def _initialism(surface: str, name: str) -> bool:
    """Whether ``surface`` is the initials of ``name``'s words ("TTS", "Technology Transformation Services")."""
    letters = surface.replace(".", "")
    initials = "".join(w[0] for w in name.split() if w.casefold() not in _MINOR_WORDS and w[:1].isalpha())
    return 2 <= len(letters) <= 6 and letters.isupper() and letters == initials.upper()


def _as_asked(facts: Sequence[Fact], spellings: dict[str, str]) -> list[Fact]:
    """The facts with each entity the question named by an alias shown with it ("Technology
    Transformation Services (TTS) part of ..."), so that ranking, the prompt and the model meet
    the question's word; facts that read the same after that are one, with their chunks pooled."""
    def shown(name: str) -> str:
        return f"{name} ({spellings[name]})" if name in spellings else name

    merged: dict[tuple[str, str, str], Fact] = {}
    for fact in facts:
        key = (shown(fact.subject), fact.predicate, shown(fact.object))
        if key in merged:
            pooled = tuple(dict.fromkeys(merged[key].chunk_ids + fact.chunk_ids))
            merged[key] = merged[key].model_copy(update={"chunk_ids": pooled})
        else:
            merged[key] = fact.model_copy(update={"subject": key[0], "object": key[2]})
    return list(merged.values())


def personalised_pagerank(n: int, src: list[int], dst: list[int], weight: list[float], restart: np.ndarray,
                          damping: float, iterations: int = 30) -> np.ndarray:
    """Power iteration of ``r = (1 - d) p + d P^T r`` on a row-normalised weighted graph.

    ``P^T r`` is one ``bincount`` over the edge list per step: for the few thousand edges of a
    question's subgraph that is cheaper than building scipy matrices for every query.
    """
    if n == 0 or restart.sum() <= 0:
        return np.zeros(n)
    p = restart / restart.sum()
    sources = np.asarray(src, dtype=np.int64)
    targets = np.asarray(dst, dtype=np.int64)
    weights = np.asarray(weight, dtype=np.float64)
    out_weight = np.bincount(sources, weights=weights, minlength=n)
    share = weights / out_weight[sources] if len(sources) else weights
    dangling = out_weight == 0
    r = p.copy()
    for _ in range(iterations):
        nxt = (1 - damping) * p + damping * np.bincount(targets, weights=share * r[sources], minlength=n)
        # Mass at nodes without edges returns to the restart distribution.
        nxt += damping * r[dangling].sum() * p
        if np.abs(nxt - r).sum() < 1e-8:
            return nxt
        r = nxt
    return r
