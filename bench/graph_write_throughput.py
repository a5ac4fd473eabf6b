"""Graph write throughput on QMSum meetings, and the graph's share of total ingest time.

Runs the ingest stages the pipeline runs, one meeting at a time, in one process,
timing each: load + chunk, embed (the default sentence-transformers model),
extract (spaCy + rules + entity resolution), and the graph write
(``GraphStore.upsert_document`` on a real local graph server). Throughput is
(entities + relations written) / graph-write seconds; shares are fractions of the
summed stage times. A second write of the same meetings (a re-ingest: every old
contribution removed, then rewritten) is timed too.

Usage: python -m bench.graph_write_throughput [--meetings 4] [--json out.json]
Data: ``$LORE_SHARED_DATA/qmsum`` or ``../shared/data/qmsum`` next to the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def qmsum_dir() -> Path:
    if "LORE_SHARED_DATA" in os.environ:
        return Path(os.environ["LORE_SHARED_DATA"]) / "qmsum"
    # The repository root, or a worktree one level further down, sits next to shared/.
    for base in (ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data"):
        if (base / "qmsum").is_dir():
            return base / "qmsum"
    return ROOT.parent / "shared" / "data" / "qmsum"


def run(meetings: int) -> dict:
    from api.bootstrap import build, local_graph_server
    from core.settings import Settings
    from ingest.loaders import load_document

    files = sorted(qmsum_dir().glob("*.json"), key=lambda p: p.stat().st_size)[:meetings]
    if not files:
        raise SystemExit(f"no QMSum files under {qmsum_dir()}")
    timings = {"load_and_chunk": 0.0, "embed": 0.0, "extract": 0.0, "graph_write": 0.0}
    rewrite_seconds = 0.0
    written = {"entities": 0, "relations": 0, "mentions": 0, "chunks": 0, "decisions_and_actions": 0}
    with tempfile.TemporaryDirectory() as tmp:
        # The product's parts, on a local graph server of the run's own under the temporary data directory.
        settings = Settings(data_dir=Path(tmp) / "data")
        parts = build(settings)
        try:
            store, extractor, chunker, embedder = parts.graph, parts.extractor, parts.chunker, parts.embedder
            embedder.embed(["warm up"])
            prepared = []
            for path in files:
                t0 = time.perf_counter()
                document = load_document(path)
                chunks = chunker.split(document)
                t1 = time.perf_counter()
                embedder.embed([c.text for c in chunks])
                t2 = time.perf_counter()
                x = extractor.extract(document, chunks)
                t3 = time.perf_counter()
                store.upsert_document(document, chunks, list(x.entities.values()), x.mentions, x.relations,
                                      meetings=x.meetings)
                t4 = time.perf_counter()
                for stage, seconds in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    timings[stage] += seconds
                written["entities"] += len(x.entities)
                written["relations"] += len(x.relations)
                written["mentions"] += len(x.mentions)
                written["chunks"] += len(chunks)
                written["decisions_and_actions"] += sum(len(m.decisions) + len(m.action_items) for m in x.meetings)
                prepared.append((document, chunks, x))
            t0 = time.perf_counter()
            for document, chunks, x in prepared:
                store.upsert_document(document, chunks, list(x.entities.values()), x.mentions, x.relations,
                                      meetings=x.meetings)
            rewrite_seconds = time.perf_counter() - t0
            stats = store.stats()
        finally:
            parts.close()
            local_graph_server(settings).stop()
    total = sum(timings.values())
    facts = written["entities"] + written["relations"]
    return {
        "meetings": [p.name for p in files],
        "written": written,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "share_of_ingest": {k: round(v / total, 3) for k, v in timings.items()},
        "graph_write_entities_plus_relations_per_s": round(facts / timings["graph_write"], 1),
        "graph_rewrite_entities_plus_relations_per_s": round(facts / rewrite_seconds, 1),
        # Every row the write sends: chunks, entities, mentions, relations, decisions and action items.
        "graph_write_rows_per_s": round(sum(written.values()) / timings["graph_write"], 1),
        "extract_chunks_per_s": round(written["chunks"] / timings["extract"], 2),
        "graph_nodes": stats.nodes,
        "graph_relationships": stats.relationships,
        "server": stats.server_agent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meetings", type=int, default=4, help="how many QMSum meetings (smallest first)")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args()
    report = run(args.meetings)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
