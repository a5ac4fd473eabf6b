"""Query latency per search mode at 10k and 100k synthetic chunks (retrieval only, no LLM).

    python -m bench.retrieval_latency --sizes 10000 100000 --queries 200

Synthetic corpus: documents of 50 chunks, each chunk ~80 words drawn from a Zipf
vocabulary plus a few entity names; random unit vectors in FAISS (the configured
index type: exact up to ``--exact-max`` vectors, IVF-Flat past it); real SQLite
metadata store, real BM25 catalog and the real graph server. Modes take turns
query by query after a warm-up, so load from other processes hits them alike;
the load average is recorded before and after.
The graph holds the chunks, entities and mentions of the first ``--graph-chunks``
chunks (writing 100k chunks to the local server takes too long for a benchmark);
graph queries touch only the ~100 candidate chunks of a query, so their cost does
not grow with the corpus. Query embeddings are computed once up front, so the
figures are the retrieval cost; the embedding model's own time is reported
separately. Ratios (hybrid / dense) come from the same process and corpus.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from core.settings import Settings
from core.types import Chunk, Document, Entity, Mention
from graph import GraphStore, LocalGraphServer
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.engine import SearchEngine
from retrieval.query import Query
from storage.metadata import SqliteMetadataStore
from storage.vectors import FaissVectorStore

CHUNKS_PER_DOC = 50
PEOPLE = [f"Person{i} Surname{i}" for i in range(300)]


def _words(rng: np.random.Generator, vocab: list[str], n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.3, size=n), len(vocab)) - 1
    return [vocab[r] for r in ranks]


def build(size: int, root: Path, graph: GraphStore, graph_chunks: int, dim: int,
          exact_max: int = Settings().faiss_exact_max) -> tuple[SqliteMetadataStore, FaissVectorStore]:
    rng = np.random.default_rng(size)
    vocab = [f"term{i}" for i in range(30_000)]
    metadata = SqliteMetadataStore(root / "lore.sqlite3").open()
    vectors = FaissVectorStore(root / "index", embedding_model="synthetic", dimension=dim, exact_max=exact_max)
    graph.clear()
    for d in range(size // CHUNKS_PER_DOC):
        source = str(root / f"doc{d}.md")
        document = Document(id=Document.make_id(source), source=source, title=f"doc {d}", text="", content_hash=str(d),
                            kind="meeting" if d % 2 else "document",
                            metadata={"date": f"2024-{1 + d % 12:02d}-01", "attendees": PEOPLE[d % 300 : d % 300 + 3]})
        chunks, entities, mentions = [], {}, []
        for i in range(CHUNKS_PER_DOC):
            people = [PEOPLE[int(p)] for p in rng.integers(0, len(PEOPLE), 2)]
            text = " ".join(_words(rng, vocab, 80) + people)
            chunk = Chunk(id=Chunk.make_id(document.id, i, text), document_id=document.id, index=i, text=text,
                          start=0, end=len(text))
            chunks.append(chunk)
            for name in people:
                entity = Entity(id=Entity.make_id(name, "Person"), name=name, type="Person")
                entities[entity.id] = entity
                at = text.index(name)
                mentions.append(Mention(entity_id=entity.id, chunk_id=chunk.id, text=name, start=at, end=at + len(name)))
        _, ids = metadata.replace_document(document, chunks)
        unit = rng.normal(size=(len(ids), dim)).astype(np.float32)
        vectors.upsert(np.array(ids), unit / np.linalg.norm(unit, axis=1, keepdims=True))
        if (d + 1) * CHUNKS_PER_DOC <= graph_chunks:
            graph.upsert_document(document, chunks, list(entities.values()), mentions, [])
    return metadata, vectors


@contextlib.contextmanager
def _server(root: Path):
    server = LocalGraphServer(root)
    try:
        yield server.start()
    finally:
        server.stop()


def searchable(root: Path, metadata: SqliteMetadataStore, vectors: FaissVectorStore, graph: GraphStore,
               embedder: SentenceTransformerEmbedder, query_vectors: dict[str, np.ndarray]) -> tuple[SearchEngine, float]:
    """A search engine over the built collection, its catalog refreshed (and the seconds that took).

    The queries' vectors are cached up front, so latency figures are retrieval cost only;
    embedding a question is timed separately.
    """
    engine = SearchEngine(embedder=embedder, vectors=vectors, metadata=metadata, graph=graph,
                          settings=Settings(data_dir=root))
    started = time.perf_counter()
    engine.refresh()
    refresh_s = time.perf_counter() - started
    for text, vector in query_vectors.items():
        engine.dense._query_vectors[text] = vector
    return engine, refresh_s


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--graph-chunks", type=int, default=5_000)
    parser.add_argument("--out", type=Path, default=None, help="Write the figures as JSON here.")
    parser.add_argument("--exact-max", type=int, default=Settings().faiss_exact_max,
                        help="LORE_FAISS_EXACT_MAX for the synthetic index: past it FAISS is IVF-Flat (approximate).")
    args = parser.parse_args()

    embedder = SentenceTransformerEmbedder.from_pretrained(Settings().embedding_model)
    rng = np.random.default_rng(7)
    vocab = [f"term{i}" for i in range(30_000)]
    texts = [" ".join(_words(rng, vocab, 6) + [PEOPLE[int(rng.integers(0, 50))]]) for _ in range(args.queries)]
    started = time.perf_counter()
    query_vectors = embedder.embed(texts)
    embed_ms = (time.perf_counter() - started) / len(texts) * 1000
    results: dict = {"embedding_ms_per_query": round(embed_ms, 2), "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp, _server(Path(tmp) / "graph") as info:
        graph = GraphStore(info.uri, info.auth, info.database)
        graph.open()
        graph.ensure_schema()
        for size in args.sizes:
            root = Path(tmp) / f"n{size}"
            t0 = time.perf_counter()
            metadata, vectors = build(size, root, graph, args.graph_chunks, embedder.dimension, args.exact_max)
            t1 = time.perf_counter()
            engine, refresh_s = searchable(root, metadata, vectors, graph, embedder, dict(zip(texts, query_vectors)))
            figures = {"build_s": round(t1 - t0, 1), "catalog_refresh_s": round(refresh_s, 2),
                       "faiss_index": vectors.index_type, "load_average_before": round(os.getloadavg()[0], 1)}
            modes = ("dense", "sparse", "graph", "hybrid")
            for text in texts[:10]:  # warm-up: thread pool, caches, first-call allocations
                for mode in modes:
                    engine.search(Query(text=text, k=10, mode=mode))
            timings: dict[str, list[float]] = {mode: [] for mode in modes}
            cpu: dict[str, list[float]] = {mode: [] for mode in modes}
            # Modes take turns query by query, so a change in machine load hits all of them alike.
            # CPU time of this process (all its threads) per query does not depend on other
            # processes' load: on idle cores it is what the wall time tends to (less the overlap of
            # threads, plus the graph server's own work, which runs in another process).
            for text in texts:
                for mode in modes:
                    t, c = time.perf_counter(), time.process_time()
                    engine.search(Query(text=text, k=10, mode=mode))
                    timings[mode].append((time.perf_counter() - t) * 1000)
                    cpu[mode].append((time.process_time() - c) * 1000)
            for mode in modes:
                figures[mode] = {"p50_ms": round(percentile(timings[mode], 50), 2),
                                 "p95_ms": round(percentile(timings[mode], 95), 2),
                                 "mean_ms": round(statistics.fmean(timings[mode]), 2),
                                 "cpu_p50_ms": round(percentile(cpu[mode], 50), 2),
                                 "cpu_p95_ms": round(percentile(cpu[mode], 95), 2)}
            figures["load_average_after"] = round(os.getloadavg()[0], 1)
            figures["hybrid_over_dense_p95"] = round(figures["hybrid"]["p95_ms"] / figures["dense"]["p95_ms"], 2)
            results["sizes"][size] = figures
            print(json.dumps({size: figures}), flush=True)
            metadata.close()
        graph.close()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
