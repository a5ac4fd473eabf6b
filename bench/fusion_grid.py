"""Hybrid fusion settings against plain RRF and BM25 on every retrieval set, in one process.

    python -m bench.fusion_grid [--work-dir DIR] [--sets qmsum,cmrc,18f,18f-multihop] [--json out.json]

Sets (all from ``shared/data`` or ``bench/sets``, never from ``examples/``):
- ``qmsum``: the 35 QMSum val meetings searched at once, their 237 specific queries (gold: turn spans);
- ``cmrc``: the CMRC 2018 trial paragraphs, one document each, 1,002 questions (gold: the paragraph);
- ``18f``: 246 pages of the 18F handbook, ``bench/sets/handbook18f_questions.jsonl`` (gold: the page);
- ``18f-multihop``: the same pages, ``bench/sets/handbook18f_multihop.jsonl``, questions whose answer
  needs two pages (gold: both; recall@k is the share of the two found by k).

Every candidate is a ``FusionSettings`` change over today's defaults, scored with the same
scorer as ``lore eval`` over one ingest per corpus (kept in ``--work-dir`` between runs). A
candidate's margin at k is its recall@k minus the better of plain RRF and BM25; the table is
sorted by the worst margin over all sets and k = 1, 5, 10, 20, so the first row is the setting
that loses least anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evaluation.datasets import EvalDataset

REPO = Path(__file__).resolve().parents[1]
KS = (1, 5, 10, 20)
SETS = ("qmsum", "cmrc", "18f", "18f-multihop")


def floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def candidates(args: argparse.Namespace) -> dict[str, dict]:
    """Every combination of the fusion method, RRF constant, sparse and graph weights, document
    evidence and MMR given on the command line (the RRF constant only varies for RRF)."""
    grid: dict[str, dict] = {}
    for method in args.methods.split(","):
        for rrf_k in (floats(args.rrf_k) if method == "rrf" else (60,)):
            for sparse in floats(args.sparse):
                for prior in floats(args.document_prior):
                    for graph in floats(args.graph):
                        for lambda_ in floats(args.mmr):
                            name = (f"{method}{f' k={rrf_k:g}' if method == 'rrf' else ''} s={sparse:g} doc={prior:g} "
                                    f"graph={graph:g} mmr={lambda_:g}")
                            grid[name] = {"method": method, "rrf_k": int(rrf_k), "document_prior": prior,
                                          "mmr_lambda": lambda_, "weights": {"dense": 1.0, "sparse": sparse, "graph": graph}}
    return grid


def corpora(shared: Path, work: Path) -> dict[str, list[tuple[str, Callable[[], EvalDataset]]]]:
    """corpus key -> [(question set name, a loader of its dataset)], one ingest per corpus."""
    from evaluation.datasets import load_dataset, load_qmsum, load_squad

    pages = shared / "handbook-18f" / "pages"
    val = sorted((shared / "qmsum").glob("val*.json"))
    return {
        "qmsum": [("qmsum", lambda: load_qmsum(shared / "qmsum", files=val))],
        "cmrc": [("cmrc", lambda: load_squad(shared / "cmrc2018" / "trial.json", work / "cmrc-paragraphs"))],
        "18f": [
            ("18f", lambda: load_dataset(REPO / "bench/sets/handbook18f_questions.jsonl", work_dir=work, documents=[pages])),
            ("18f-multihop", lambda: load_dataset(REPO / "bench/sets/handbook18f_multihop.jsonl", work_dir=work, documents=[pages])),
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/lore-fusion-grid"))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--methods", default="rrf,dbsf", help="Fusion methods (rrf, dbsf).")
    parser.add_argument("--rrf-k", default="60,20", help="RRF constants.")
    parser.add_argument("--sparse", default="1,1.5,2", help="BM25 weights (dense weighs 1).")
    parser.add_argument("--graph", default="0,1", help="Graph weights.")
    parser.add_argument("--document-prior", default="0,0.1", help="Strengths of document-level evidence.")
    parser.add_argument("--mmr", default="1", help="MMR lambdas (1: off).")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from core.settings import Settings
    from evaluation import retrieval as ev
    from evaluation.runner import evaluation_service, prepare, score_retrieval
    from retrieval.retrievers.hybrid import HybridRetriever

    wanted = set(args.sets.split(","))
    shared = ev.shared_data_dir()
    grid = candidates(args)
    results: dict[str, dict[str, dict[int, float]]] = {}
    for corpus, question_sets in corpora(shared, args.work_dir).items():
        question_sets = [(name, load) for name, load in question_sets if name in wanted]
        if not question_sets:
            continue
        datasets = [(name, load()) for name, load in question_sets]
        settings = Settings().model_copy(update={"data_dir": args.work_dir / corpus, "minutes_at_ingest": False})
        with evaluation_service(settings) as service:
            prepare(service, datasets[0][1], lambda line: print(f"[{corpus}] {line}", flush=True))
            engine = service.engine
            defaults = engine.hybrid.settings

            def fused(changes: dict) -> HybridRetriever:
                return HybridRetriever(engine.dense, engine.sparse, engine.graph, replace(defaults, **changes),
                                       reranker=engine.hybrid.reranker)

            systems = {"bm25": engine.sparse, "rrf (plain)": ev.plain_rrf(engine), "hybrid (today)": engine.hybrid}
            systems |= {name: fused(changes) for name, changes in grid.items()}
            for set_name, dataset in datasets:
                gold = [item for item in dataset.items if item.gold_count]
                engine.dense.warm([item.question for item in gold])
                started = time.perf_counter()
                results[set_name] = {}
                for name, system in systems.items():
                    scores = score_retrieval(service, name, "grid", system, gold, "all")
                    results[set_name][name] = {k: scores.recall[k] for k in KS}
                print(f"[{set_name}] {len(gold)} questions, {len(systems)} systems in {time.perf_counter() - started:.0f}s "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)
    report = margins(results)
    print(table(results, report))
    if args.json:
        args.json.write_text(json.dumps({"recall": results, "worst_margin": report}, indent=2))
    return 0


def margins(results: dict[str, dict[str, dict[int, float]]]) -> dict[str, float]:
    """Per system: its worst recall@k minus max(plain RRF, BM25) over every set and k."""
    worst: dict[str, float] = {}
    for per_system in results.values():
        bar = {k: max(per_system["rrf (plain)"][k], per_system["bm25"][k]) for k in KS}
        for name, recall in per_system.items():
            low = min(recall[k] - bar[k] for k in KS)
            worst[name] = min(worst.get(name, low), low)
    return dict(sorted(worst.items(), key=lambda kv: -kv[1]))


def table(results: dict[str, dict[str, dict[int, float]]], worst: dict[str, float]) -> str:
    sets = list(results)
    header = "| system | worst margin | " + " | ".join(f"{s} r@{k}" for s in sets for k in KS) + " |"
    lines = [header, "|" + "---|" * (2 + len(sets) * len(KS))]
    for name, margin in worst.items():
        cells = " | ".join(f"{results[s][name][k]:.3f}" for s in sets for k in KS)
        lines.append(f"| {name} | {margin:+.3f} | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
