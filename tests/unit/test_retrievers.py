"""The retrievers over small in-memory stores: fast, and no server or model to start.

The stores implement the protocols of ``storage.protocols`` (the same ones ``FaissVectorStore``,
``SqliteMetadataStore`` and ``GraphStore`` implement, tested on the real parts in
``tests/integration/test_retrieval.py``); the embedder is a hashed bag of words, so which
chunk is nearest a question is known from the words they share.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

import numpy as np
import pytest

from core.settings import Settings
from core.types import Chunk, Document, Entity, Fact
from retrieval.catalog import ChunkCatalog
from retrieval.engine import SearchEngine
from retrieval.filters import SearchFilters
from retrieval.query import Query
from retrieval.retrievers import DenseRetriever, FusionSettings, GraphRetriever, HybridRetriever, Retrieved, SparseRetriever
from storage.metadata import DocumentRecord, StoredChunk
from storage.protocols import GraphReader, MetadataStore, VectorStore

DIMENSION = 64
_WORD = re.compile(r"\w+")


class HashedWords:
    """An embedder: each word hashed to one of 64 dimensions, L2-normalised."""

    model_name = "hashed-words"
    dimension = DIMENSION

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[i, int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMENSION] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


class MemoryVectors:
    """Exact inner-product search over a dict of vectors."""

    embedding_model = HashedWords.model_name
    dimension = DIMENSION

    def __init__(self) -> None:
        self._vectors: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._vectors)

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._vectors.update({int(i): v for i, v in zip(ids, vectors)})

    def delete(self, ids: np.ndarray) -> None:
        for i in ids:
            self._vectors.pop(int(i), None)

    def search(self, query: np.ndarray, k: int, allowed_ids: Iterable[int] | None = None) -> list[tuple[int, float]]:
        allowed = None if allowed_ids is None else set(allowed_ids)
        scored = [(i, float(v @ query)) for i, v in self._vectors.items() if allowed is None or i in allowed]
        return sorted(scored, key=lambda x: -x[1])[:k]

    def ids(self) -> np.ndarray:
        return np.array(sorted(self._vectors), dtype=np.int64)

    def save(self) -> None:
        pass


class MemoryMetadata:
    """Documents and chunks in dicts; vector ids count up like SQLite row ids."""

    def __init__(self) -> None:
        self._documents: dict[str, tuple[Document, str]] = {}
        self._chunks: dict[int, Chunk] = {}

    def add(self, document: Document, chunks: list[Chunk], collection: str = "default") -> list[int]:
        self._documents[document.id] = (document, collection)
        start = max(self._chunks, default=0) + 1
        ids = list(range(start, start + len(chunks)))
        self._chunks.update(zip(ids, chunks))
        return ids

    def _record(self, document: Document, collection: str) -> DocumentRecord:
        count = sum(c.document_id == document.id for c in self._chunks.values())
        return DocumentRecord(id=document.id, source=document.source, title=document.title, kind=document.kind,
                              language=document.language, content_hash=document.content_hash,
                              metadata=document.metadata, graph_synced=True, ingested_at="", chunk_count=count,
                              collection=collection)

    def _stored(self, vid: int) -> StoredChunk:
        chunk = self._chunks[vid]
        document = self._documents[chunk.document_id][0]
        return StoredChunk(vector_id=vid, chunk=chunk, source=document.source, title=document.title)

    def documents(self, collections: Iterable[str] | None = None) -> list[DocumentRecord]:
        wanted = None if collections is None else set(collections)
        return [self._record(d, c) for d, c in self._documents.values() if wanted is None or c in wanted]

    def document(self, document_id: str) -> DocumentRecord | None:
        found = self._documents.get(document_id)
        return self._record(*found) if found else None

    def vector_ids(self) -> set[int]:
        return set(self._chunks)

    def chunks_by_vector_ids(self, vector_ids: Iterable[int]) -> dict[int, StoredChunk]:
        return {v: self._stored(v) for v in vector_ids if v in self._chunks}

    def chunks_by_ids(self, chunk_ids: Iterable[str]) -> dict[str, StoredChunk]:
        wanted = set(chunk_ids)
        return {c.id: self._stored(v) for v, c in self._chunks.items() if c.id in wanted}

    def search_rows(self, vector_ids: Iterable[int]) -> list[tuple[int, str, str, int, str, dict]]:
        return [(v, self._chunks[v].id, self._chunks[v].document_id, self._chunks[v].index, self._chunks[v].text,
                 self._chunks[v].metadata) for v in vector_ids]


class MemoryGraph:
    """Entities, their mentions in chunks and typed relations, each stated in a chunk."""

    def __init__(self) -> None:
        self.writes = 0
        self.entities: dict[str, Entity] = {}
        self.mentions: list[tuple[str, str]] = []  # (chunk id, entity id)
        self.relations: list[tuple[str, str, str, str]] = []  # (source id, type, target id, chunk id)

    def entity(self, name: str, type_: str) -> Entity:
        entity = Entity(id=Entity.make_id(name, type_), name=name, type=type_)
        self.entities[entity.id] = entity
        self.writes += 1
        return entity

    def relate(self, source: Entity, type_: str, target: Entity, chunk: Chunk) -> None:
        self.relations.append((source.id, type_, target.id, chunk.id))
        self.mentions += [(chunk.id, source.id), (chunk.id, target.id)]
        self.writes += 1

    def entity_names(self) -> list[Entity]:
        return list(self.entities.values())

    def entity_aliases(self) -> list[tuple[str, str]]:
        return []

    def entity_neighbours(self, entity_ids: list[str], limit: int = 500) -> list[tuple[str, str, str]]:
        ids = set(entity_ids)
        out = [(s, t, o) for s, t, o, _ in self.relations if s in ids]
        out += [(o, t, s) for s, t, o, _ in self.relations if o in ids]
        return out[:limit]

    def facts_about(self, entity_ids: list[str], limit: int, *, second_hop: bool = False) -> list[Fact]:
        ids = set(entity_ids)
        touching = [r for r in self.relations if r[0] in ids or r[2] in ids]
        if second_hop:
            beyond = {e for s, _, o, _ in touching for e in (s, o)} - ids
            touching += [r for r in self.relations if (r[0] in beyond or r[2] in beyond) and r not in touching]
        return [Fact(subject=self.entities[s].name, predicate=t, object=self.entities[o].name, chunk_ids=(c,))
                for s, t, o, c in touching][:limit]

    def entities_in_chunks(self, chunk_ids: list[str]) -> list[tuple[str, str]]:
        wanted = set(chunk_ids)
        return [(c, e) for c, e in dict.fromkeys(self.mentions) if c in wanted]


def _document(name: str, texts: list[str]) -> tuple[Document, list[Chunk]]:
    text = "\n\n".join(texts)
    document = Document(id=Document.make_id(name), source=f"/kb/{name}", title=name, text=text,
                        content_hash=hashlib.sha256(text.encode()).hexdigest())
    chunks, at = [], 0
    for i, piece in enumerate(texts):
        chunks.append(Chunk(id=Chunk.make_id(document.id, i, piece), document_id=document.id, index=i, text=piece,
                            start=at, end=at + len(piece)))
        at += len(piece) + 2
    return document, chunks


@pytest.fixture
def kb():
    """Two collections: an org chart (default) and a budget memo (finance), with a graph over both."""
    metadata, vectors, graph, embedder = MemoryMetadata(), MemoryVectors(), MemoryGraph(), HashedWords()
    org, org_chunks = _document("org-chart.md", [
        "Rahul Menon leads the Platform Team and reports to Helena Marsh.",
        "The Platform Team runs the billing service called Tally.",
        "Lunch is served in the canteen every weekday at noon.",
    ])
    memo, memo_chunks = _document("budget-memo.md", [
        "The Nightjar budget was approved by Zora Whitfield for the finance review.",
    ])
    for document, chunks, collection in ((org, org_chunks, "default"), (memo, memo_chunks, "finance")):
        ids = metadata.add(document, chunks, collection)
        vectors.upsert(np.array(ids), embedder.embed([c.text for c in chunks]))
    rahul, platform = graph.entity("Rahul Menon", "Person"), graph.entity("Platform Team", "Team")
    tally, zora = graph.entity("Tally", "Product"), graph.entity("Zora Whitfield", "Person")
    nightjar = graph.entity("Nightjar", "Project")
    graph.relate(rahul, "LEADS", platform, org_chunks[0])
    graph.relate(platform, "OWNS", tally, org_chunks[1])
    graph.relate(zora, "APPROVED", nightjar, memo_chunks[0])
    # The stores satisfy the protocols the retrievers are typed against.
    stores: tuple[MetadataStore, VectorStore, GraphReader] = (metadata, vectors, graph)
    catalog = ChunkCatalog(stores[0])
    catalog.refresh()
    return {"metadata": metadata, "vectors": vectors, "graph": graph, "embedder": embedder, "catalog": catalog,
            "org": (org, org_chunks), "memo": (memo, memo_chunks)}


def test_dense_ranks_the_chunk_sharing_the_question_words_and_honours_filters(kb):
    dense = DenseRetriever(kb["embedder"], kb["vectors"], kb["catalog"], kb["metadata"])
    found = dense.search("canteen lunch weekday", 2)
    assert isinstance(found, Retrieved) and found.facts == [] and found.graph is None
    assert found.passages[0].text.startswith("Lunch is served")
    assert set(found.passages[0].scores) == {"dense", "fused"}
    memo = kb["memo"][0]
    only_memo = dense.search("canteen lunch weekday", 3, SearchFilters(document_ids=[memo.id]))
    assert [p.document_id for p in only_memo.passages] == [memo.id]


def test_sparse_finds_keywords_and_nothing_for_words_nobody_wrote(kb):
    sparse = SparseRetriever(kb["catalog"], kb["metadata"])
    assert sparse.search("Tally billing", 3).passages[0].text == kb["org"][1][1].text
    assert sparse.search("zqxvw wombatish", 3).passages == []
    assert sparse.search("   ", 3) == Retrieved([]) and sparse.search("Tally", 0) == Retrieved([])


def test_graph_links_the_named_entity_and_returns_its_facts_within_the_filters(kb):
    graph = GraphRetriever(kb["graph"], kb["catalog"], kb["metadata"])
    found = graph.search("What does Rahul Menon lead?", 3, max_facts=5)
    assert found.graph is not None and found.graph.linked == [Entity.make_id("Rahul Menon", "Person")]
    assert found.passages[0].chunk_id == kb["org"][1][0].id and set(found.passages[0].scores) == {"graph", "fused"}
    assert Fact(subject="Rahul Menon", predicate="LEADS", object="Platform Team",
                chunk_ids=(kb["org"][1][0].id,)) in found.facts
    assert graph.search("What does Rahul Menon lead?", 3).facts == []  # facts only when asked for
    # A fact whose only support lies outside the filters never comes back.
    default_only = SearchFilters(collections=["default"])
    assert graph.search("What did Zora Whitfield approve?", 3, default_only, max_facts=5).facts == []
    assert graph.search("What did Zora Whitfield approve?", 3, max_facts=5).facts[0].predicate == "APPROVED"


def test_hybrid_fuses_the_three_and_carries_the_graph_evidence_and_facts(kb):
    dense = DenseRetriever(kb["embedder"], kb["vectors"], kb["catalog"], kb["metadata"])
    sparse = SparseRetriever(kb["catalog"], kb["metadata"])
    graph = GraphRetriever(kb["graph"], kb["catalog"], kb["metadata"])
    # Facts come with or without the graph ranking; its component only when it is weighted in.
    unweighted = HybridRetriever(dense, sparse, graph).search("Who leads the Platform Team?", 2, max_facts=3)
    assert "graph" not in unweighted.passages[0].scores and unweighted.facts
    hybrid = HybridRetriever(dense, sparse, graph, FusionSettings(weights={"dense": 1.0, "sparse": 1.25, "graph": 0.5}))
    found = hybrid.search("Who leads the Platform Team?", 2, max_facts=3)
    assert len(found.passages) == 2 and found.passages[0].chunk_id == kb["org"][1][0].id
    assert {"dense", "sparse", "graph", "fused"} <= set(found.passages[0].scores)
    assert found.graph is not None and Entity.make_id("Platform Team", "Team") in found.graph.linked
    assert {f.predicate for f in found.facts} == {"LEADS", "OWNS"}


def test_the_engine_searches_a_query_in_its_mode_within_its_collections(kb):
    engine = SearchEngine(embedder=kb["embedder"], vectors=kb["vectors"], metadata=kb["metadata"], graph=kb["graph"],
                          settings=Settings(top_k=2))
    engine.refresh()
    question = "Who approved the Nightjar budget?"
    everywhere = engine.search(Query(text=question), max_facts=3)
    assert everywhere.passages[0].document_id == kb["memo"][0].id and len(everywhere.passages) == 2
    confined = engine.search(Query(text=question, mode="dense", collections=["default"]))
    assert confined.passages and {p.document_id for p in confined.passages} == {kb["org"][0].id}
    with pytest.raises(ValueError, match="unknown search mode 'fuzzy'"):
        engine.search(Query(text=question, mode="fuzzy"))
