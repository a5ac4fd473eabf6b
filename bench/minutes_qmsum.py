"""ROUGE of query-focused meeting summaries on QMSum specific queries, with same-process baselines.

    python -m bench.minutes_qmsum --split val [--limit-meetings N] [--words 100] [--abstractive 10] [--adapter DIR|active]

Systems, all cut to the same number of words:
* ``lore-extractive``: turns picked from the relevant regions Lore finds (``FocusedSummarizer``).
* ``lore-abstractive``: the configured LLM rewriting those turns (first ``--abstractive`` queries).
* ``lore-abstractive-ft``: the same with a LoRA adapter (``--adapter``: a directory, or ``active``, the
  data directory's active ``lore finetune`` adapter).
* ``lead-retrieved``: the first N words of the turns Lore judged relevant (baseline).
* ``gold-spans``: the first N words of the gold relevant spans (upper bound for extract-only systems).
Data: ``../shared/data/qmsum`` (or ``LORE_SHARED_DATA``); the text stays there.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rouge_score import rouge_scorer

from core.settings import Settings
from generation.minutes.extractive import embed_turns
from generation.minutes.focused import FocusedSummarizer
from generation.minutes.turns import meeting_turns
from ingest.loaders import load_document
from retrieval.embedder import SentenceTransformerEmbedder
from evaluation.retrieval import shared_data_dir

METRICS = ("rouge1", "rouge2", "rougeL")


def first_words(texts: list[str], n: int) -> str:
    return " ".join(" ".join(texts).split()[:n])


def evaluate(files: list[Path], embedder, *, words: int = 100, abstractive: int = 0, backend=None,
             max_queries: int | None = None, backends: dict | None = None) -> dict:
    """ROUGE of every system; ``backends`` (system name -> LLM backend) adds abstractive systems
    (``backend`` alone is ``lore-abstractive``) on the first ``abstractive`` queries."""
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    summarizer = FocusedSummarizer(embedder, max_words=words)
    backends = dict(backends or ({"lore-abstractive": backend} if backend is not None else {}))
    engines = {}
    if abstractive and backends:
        from generation.minutes.abstractive import AbstractiveEngine
        from generation.minutes.extractive import ExtractiveEngine

        engines = {name: AbstractiveEngine(ExtractiveEngine(embedder), b, max_new_tokens=96, input_words=250)
                   for name, b in backends.items()}
    totals: dict[str, dict[str, list[float]]] = {}
    count = 0
    started = time.perf_counter()

    def add(system: str, prediction: str, gold: str) -> None:
        scores = scorer.score(gold, prediction)
        bucket = totals.setdefault(system, {m: [] for m in METRICS})
        for m in METRICS:
            bucket[m].append(scores[m].fmeasure)

    for path in files:
        document = load_document(path)
        turns = meeting_turns(document)
        vectors = embed_turns(embedder, turns)
        for query in json.loads(path.read_text(encoding="utf-8"))["specific_query_list"]:
            if max_queries is not None and count >= max_queries:
                break
            gold = query["answer"]
            result = summarizer.summarize(query["query"], turns, vectors=vectors)
            add("lore-extractive", first_words([result.text], words), gold)
            add("lead-retrieved", first_words([turns[i].text for i in result.relevant], words), gold)
            spans = [i for a, b in query["relevant_text_span"] for i in range(int(a), min(int(b), len(turns) - 1) + 1)]
            add("gold-spans", first_words([turns[i].text for i in spans], words), gold)
            if count < abstractive:
                for name, engine in engines.items():
                    add(name, engine.focused(query["query"], turns, result.turns, "en"), gold)
            count += 1
    table = {s: {m: round(100 * sum(v) / len(v), 2) for m, v in b.items()} | {"n": len(b["rouge1"])} for s, b in totals.items()}
    return {"queries": count, "meetings": len(files), "words": words, "seconds": round(time.perf_counter() - started, 1),
            "systems": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--limit-meetings", type=int, default=None)
    parser.add_argument("--words", type=int, default=100)
    parser.add_argument("--abstractive", type=int, default=0, help="Queries also summarised by the LLM.")
    parser.add_argument("--adapter", default=None,
                        help="Also run the abstractive engine with this LoRA adapter directory ('active': the data directory's active adapter).")
    parser.add_argument("--smallest", action="store_true", help="Take the shortest meetings first (quick slices).")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    files = sorted((shared_data_dir() / "qmsum").glob(f"{args.split}_*.json"))
    if args.smallest:
        files.sort(key=lambda p: p.stat().st_size)
    files = files[: args.limit_meetings]
    if not files:
        raise SystemExit(f"no QMSum {args.split} files under {shared_data_dir() / 'qmsum'}")
    settings = Settings()
    embedder = SentenceTransformerEmbedder.from_pretrained(settings.embedding_model)
    backends, adapter = {}, None
    if args.abstractive:
        from generation.backends import load_backend

        backends["lore-abstractive"] = load_backend(settings)
        if args.adapter:
            adapter = Path(args.adapter)
            if args.adapter == "active":
                from generation.finetune.registry import AdapterRegistry

                adapter = AdapterRegistry(settings.adapters_dir).active_path(settings.llm_model)
                if adapter is None:
                    raise SystemExit(f"no active adapter for {settings.llm_model} under {settings.adapters_dir}")
            backends["lore-abstractive-ft"] = load_backend(settings.model_copy(update={"adapter_path": adapter}))
    report = evaluate(files, embedder, words=args.words, abstractive=args.abstractive, backends=backends)
    report["adapter"] = str(adapter) if "lore-abstractive-ft" in backends else None
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
