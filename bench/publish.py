"""Regenerate ``docs/benchmarks.md`` (and its plots under ``docs/benchmarks/``) in one command.

    python -m bench.publish                       # or: make benchmarks

Runs, in one process and through the ``lore eval`` harness (``evaluation/``):

1. the sample corpus (``examples/``) with ``examples/questions.jsonl``: retrieval per
   mode and baseline; answers of the base model and of a fine-tuned adapter (trained
   here with ``lore finetune`` on the sample corpus when the work dir has none);
2. QMSum (``../shared/data/qmsum``): retrieval per mode and baseline over the chosen
   meetings, all searched together; answer F1 base vs fine-tuned on a slice;
3. CMRC2018 trial: retrieval per mode and baseline; answer EM/F1 on a slice;
4. a synthetic scale test at 10k/100k/1M chunks: write throughput into the real stores,
   query latency per mode and memory (random unit vectors instead of encoding; the
   embedding model's own rate is measured separately and reported next to it).

Every dataset is ingested through the normal pipeline into its own data dir under
``--work-dir`` (kept: a second run skips ingest). Figures depend on the machine and
its load; the doc names both.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.bootstrap import local_graph_server  # noqa: E402
from evaluation import EvalOptions, EvalReport, evaluate, load_dataset  # noqa: E402
from evaluation import report as eval_report  # noqa: E402
from evaluation.datasets import load_qmsum  # noqa: E402
from api.service import LoreService  # noqa: E402
from bench.ingest_qmsum import machine  # noqa: E402
from core.settings import Settings  # noqa: E402
from generation.finetune.registry import AdapterRegistry  # noqa: E402
from evaluation.retrieval import shared_data_dir  # noqa: E402
from retrieval.query import Query  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
ASSETS = ROOT / "docs" / "benchmarks"
KS = (1, 5, 10, 20)
SECTIONS = ("sample", "qmsum", "cmrc", "scale")
TITLES = {"sample": "Sample corpus (examples/)", "qmsum": "QMSum", "cmrc": "CMRC2018 trial", "scale": "Scale: synthetic chunks"}


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine_description() -> dict[str, Any]:
    load = os.getloadavg()
    return {"machine": machine(), "nproc": os.cpu_count(), "load_average_at_start": [round(x, 1) for x in load]}


# ---- sample corpus and adapter ------------------------------------------------
def sample_kb(settings: Settings, train_steps: int) -> dict[str, Any]:
    """Ingest examples/ into ``settings.data_dir`` and train an adapter there when none is active."""
    with LoreService.from_settings(settings) as service:
        report = service.ingest([ROOT / "examples"])
        log(f"sample corpus: {report.chunks} new chunks, {len(report.unchanged)} unchanged files")
        if service.adapters.active() is None:
            log(f"training an adapter on the sample corpus ({train_steps} steps at most)")
            service.finetune(max_steps=train_steps, progress=False, log_line=log)
    return adapter_info(settings)


def adapter_info(settings: Settings) -> dict[str, Any]:
    registry = AdapterRegistry(settings.adapters_dir)
    version = registry.active()
    if version is None:
        return {}
    manifest = registry.manifest(version)
    return {"version": version, "training": manifest.metrics.get("training", {}), "data": manifest.data,
            "hyperparameters": manifest.hyperparameters, "created_at": manifest.created_at}


# ---- synthetic scale test -------------------------------------------------------
def scale_test(sizes: list[int], queries: int, settings: Settings,
               on_size: Callable[[dict[str, Any]], None] = lambda figures: None) -> dict[str, Any]:
    """Each finished size is handed to ``on_size`` at once, so the largest (slowest) size can be cut short."""
    import numpy as np

    from bench.retrieval_latency import PEOPLE, _server, _words, build, percentile, searchable
    from graph import GraphStore
    from retrieval.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder.from_pretrained(settings.embedding_model)
    rng = np.random.default_rng(7)
    vocab = [f"term{i}" for i in range(30_000)]
    sample = [" ".join(_words(rng, vocab, 80)) for _ in range(256)]
    embedder.embed(sample[:32])
    t = time.perf_counter()
    embedder.embed(sample)
    encode_rate = len(sample) / (time.perf_counter() - t)
    texts = [" ".join(_words(rng, vocab, 6) + [PEOPLE[int(rng.integers(0, 50))]]) for _ in range(queries)]
    query_vectors = embedder.embed(texts)
    out: dict[str, Any] = {"encode_chunks_per_s": round(encode_rate, 1), "queries": queries, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="lore-scale-") as tmp, _server(Path(tmp) / "graph") as info:
        graph = GraphStore(info.uri, info.auth, info.database)
        graph.open()
        graph.ensure_schema()
        for size in sizes:
            root = Path(tmp) / f"n{size}"
            before = rss_mib()
            t0 = time.perf_counter()
            metadata, vectors = build(size, root, graph, 5_000, embedder.dimension)
            vectors.save()
            write_s = time.perf_counter() - t0
            engine, refresh_s = searchable(root, metadata, vectors, graph, embedder, dict(zip(texts, query_vectors)))
            figures: dict[str, Any] = {
                "write_s": round(write_s, 1), "write_chunks_per_s": round(size / write_s, 1),
                "catalog_build_s": round(refresh_s, 1), "index": vectors.index_type,
                "rss_mib": round(rss_mib(), 0), "rss_growth_mib": round(rss_mib() - before, 0),
                "disk_mib": round(sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 2**20, 0),
            }
            for mode in ("dense", "sparse", "graph", "hybrid"):
                timings = []
                for text in texts:
                    t = time.perf_counter()
                    engine.search(Query(text=text, k=10, mode=mode))
                    timings.append((time.perf_counter() - t) * 1000)
                figures[mode] = {"p50_ms": round(percentile(timings, 50), 2), "p95_ms": round(percentile(timings, 95), 2)}
            out["sizes"][str(size)] = figures
            log(f"scale {size}: {json.dumps(figures)}")
            on_size(out)
            metadata.close()
            del engine, metadata, vectors
            gc.collect()
        graph.close()
    return out


# ---- the document ----------------------------------------------------------------
def ratio_table(report: EvalReport, k: int = 10) -> str:
    base = {r.system: r.recall.get(k, 0.0) for r in report.retrieval if r.kind == "baseline"}
    bm25, dense = base.get("bm25 (rank-bm25)"), base.get("dense (plain)")
    lines = [f"| mode | recall@{k} | ÷ BM25 (rank-bm25) | ÷ plain dense |", "|---|---|---|---|"]
    for r in report.retrieval:
        if r.kind != "mode":
            continue
        value = r.recall.get(k, 0.0)
        lines.append(f"| {r.system} | {value:.3f} | {value / bm25:.2f} |" if bm25 else f"| {r.system} | {value:.3f} | - |")
        lines[-1] += f" {value / dense:.2f} |" if dense else " - |"
    return "\n".join(lines)


def section(title: str, report: EvalReport, slug: str, intro: str) -> list[str]:
    paths = eval_report.write(report, ASSETS / slug, title=title)
    (ASSETS / slug / "report.md").unlink()  # the doc itself is the report
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    out = [f"## {title}", "", intro, "",
           f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load} at its end.", "",
           f"{report.questions} questions, {report.documents} documents, {report.chunks} chunks; "
           f"{report.seconds:.0f} s for this section.", ""]
    if report.retrieval:
        out += ["**Retrieval** (latency: one query at a time through `LoreService.search`, query embedding excluded: "
                f"{report.embedding_ms_per_query:.1f} ms a query, batched)", "",
                eval_report.retrieval_table(report.retrieval, KS), "", "Gains as ratios, same process, same chunks:", "",
                ratio_table(report), "", f"![recall@k](benchmarks/{slug}/recall.png)", ""]
    if report.generation:
        out += ["**Answers**", "", eval_report.generation_table(report.generation), "",
                f"![quality vs latency](benchmarks/{slug}/quality_latency.png)", ""]
    out += [f"Raw figures: `docs/benchmarks/{slug}/{paths['json'].name}`.", ""]
    return out


def scale_section(scale: dict[str, Any], requested: list[int]) -> list[str]:
    lines = ["## Scale: synthetic chunks", "",
             "Synthetic documents of 50 chunks (~80 Zipf-distributed words and two person names each) written "
             "through the real SQLite store and FAISS index, then the BM25/filter catalog built; **random unit "
             "vectors stand in for embeddings at every size** (encoding 1M chunks is out of reach of this "
             f"machine: the embedding model itself ran at {scale['encode_chunks_per_s']} chunks/s here, so "
             "end-to-end ingest is bounded by that rate — see QMSum ingest in docs/ingest.md). The graph server "
             "holds the first 5k chunks' entities and mentions (a graph query touches only a question's "
             f"candidates). {scale['queries']} queries, k = 10, one at a time, query embedding excluded. "
             "Memory is this process's resident set after building that size (sizes run one after another in "
             "one process, so later sizes include what Python keeps from earlier ones); disk is the data dir.", "",
             "| chunks | write chunks/s | catalog build s | FAISS index | RSS MiB | disk MiB | dense p50/p95 ms | sparse p50/p95 ms | graph p50/p95 ms | hybrid p50/p95 ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for size, f in scale["sizes"].items():
        cells = " | ".join(f"{f[m]['p50_ms']:.1f} / {f[m]['p95_ms']:.1f}" for m in ("dense", "sparse", "graph", "hybrid"))
        lines.append(f"| {int(size):,} | {f['write_chunks_per_s']:,.0f} | {f['catalog_build_s']} | {f['index']} | "
                     f"{f['rss_mib']:,.0f} | {f['disk_mib']:,.0f} | {cells} |")
    missing = [f"{n:,}" for n in requested if str(n) not in scale["sizes"]]
    if missing:
        lines += ["", f"**Not measured:** {', '.join(missing)} chunks: not finished when the run was "
                  "stopped (the sizes run one after another; on this shared machine the synthetic write and the "
                  "catalog build of the largest size took longer than the run's time)."]
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=ROOT / ".lore" / "bench")
    parser.add_argument("--qmsum-val", type=int, default=None, help="Only the first N val meetings (by name; default all).")
    parser.add_argument("--qmsum-train", type=int, default=None, help="Only the first N train meetings (by name; default all).")
    parser.add_argument("--qmsum-answers", type=int, default=12, help="QMSum questions answered per generator.")
    parser.add_argument("--cmrc-questions", type=int, default=None, help="Only the first N CMRC questions (and their paragraphs).")
    parser.add_argument("--cmrc-answers", type=int, default=12, help="CMRC questions answered per generator.")
    parser.add_argument("--sample-answers", type=int, default=None, help="Sample-corpus questions answered (default all).")
    parser.add_argument("--train-steps", type=int, default=60, help="Fine-tuning steps when no adapter exists yet.")
    parser.add_argument("--scale", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--scale-queries", type=int, default=100)
    parser.add_argument("--only", nargs="*", default=None, choices=SECTIONS,
                        help="Run only these sections; the others keep their last figures (from --work-dir).")
    args = parser.parse_args(argv)

    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    ASSETS.mkdir(parents=True, exist_ok=True)
    sections = work / "sections"  # each section's text, so one section can be re-run alone (--only)
    sections.mkdir(exist_ok=True)
    shared = shared_data_dir(ROOT)
    started = time.perf_counter()
    chosen = set(SECTIONS if args.only is None else args.only)  # `--only` alone: rebuild the doc from saved sections

    def done(name: str, lines: list[str], payload: Any) -> None:
        (sections / f"{name}.md").write_text("\n".join(lines), encoding="utf-8")
        (sections / f"{name}.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")

    machine_info = machine_description()
    settings = Settings(data_dir=work / "kb", minutes_at_ingest=False)
    if "sample" in chosen:
        sample_kb(settings, args.train_steps)
    both = ("base", "tuned")
    try:
        if "sample" in chosen:
            data = load_dataset(ROOT / "examples" / "questions.jsonl", "lore", work_dir=work)
            options = EvalOptions(ks=KS, generators=both, answer_limit=args.sample_answers)
            report = evaluate(settings, data, options, work_dir=work, log=log)
            answered = f"the first {args.sample_answers}" if args.sample_answers else "every"
            done("sample", section("Sample corpus (examples/)", report, "sample",
                                   "The fictional company's handbook, project briefs and meetings (`examples/`), with the "
                                   "hand-written questions of `examples/questions.jsonl` (gold: the source file). Answers: "
                                   f"{answered} question, base model and the fine-tuned adapter, greedy."), report.to_json())

        qmsum = shared / "qmsum"
        if "qmsum" in chosen and qmsum.is_dir():
            val, train = sorted(qmsum.glob("val_*.json")), sorted(qmsum.glob("train_*.json"))
            files = val[: args.qmsum_val] + train[: args.qmsum_train]
            data = load_qmsum(qmsum, files=files)
            options = EvalOptions(ks=KS, generators=both, answer_limit=args.qmsum_answers)
            report = evaluate(settings, data, options, work_dir=work, log=log)
            scope = ("all 197 meetings" if len(files) == 197 else
                     f"{len(files)} of 197 meetings (the first {len(val[: args.qmsum_val])} val and "
                     f"{len(train[: args.qmsum_train])} train meetings by name)")
            done("qmsum", section(f"QMSum: {scope}", report, "qmsum",
                                  "Specific queries; a passage hits a gold `relevant_text_span` when its turn range overlaps it; "
                                  "recall@k = share of a query's gold spans hit by the top k, averaged; MRR@10 on the first hit. "
                                  "All ingested meetings are searched at once (a knowledge base must also find the meeting). "
                                  "Answers are scored against QMSum's abstractive reference answers (token F1) on the first "
                                  f"{args.qmsum_answers} queries only: CPU generation on this 2-core machine takes "
                                  "seconds to a minute an answer. Derived minutes are not written for these runs."),
                 report.to_json())

        trial = shared / "cmrc2018" / "trial.json"
        if "cmrc" in chosen and trial.is_file():
            data = load_dataset(trial, "squad", work_dir=work, limit=args.cmrc_questions)
            options = EvalOptions(ks=KS, generators=both, answer_limit=args.cmrc_answers)
            report = evaluate(settings, data, options, work_dir=work, log=log)
            done("cmrc", section("CMRC2018 trial", report, "cmrc",
                                 "Every paragraph is its own document; recall@k = share of questions whose paragraph is among "
                                 "the documents of the top k passages. Answers (EM and character-level F1, CMRC style) on the "
                                 f"first {args.cmrc_answers} questions. The default embedding model is English-only, so dense "
                                 "retrieval is weak here and hybrid search leaves it out for Chinese questions."),
                 report.to_json())

        if "scale" in chosen and args.scale:
            scale_test(args.scale, args.scale_queries, settings,
                       lambda part: done("scale", scale_section(part, args.scale), part))
    finally:
        if "sample" in chosen:  # the sample knowledge base's graph server, started by this run
            local_graph_server(settings).stop()

    adapter = adapter_info(settings)
    figures: dict[str, Any] = {"machine": machine_info, "adapter": adapter, "seconds": round(time.perf_counter() - started)}
    body: list[str] = []
    for name in SECTIONS:
        if (sections / f"{name}.md").is_file():
            figures[name] = json.loads((sections / f"{name}.json").read_text(encoding="utf-8"))
            text = (sections / f"{name}.md").read_text(encoding="utf-8").splitlines()
            body += (scale_section(figures[name], args.scale) if name == "scale" else text) + [""]
        else:
            body += [f"## {TITLES[name]}", "", f"**Not measured yet:** run `python -m bench.publish --only {name}`.", ""]
    (ASSETS / "results.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
    m = figures["machine"]
    head = [
        "# Benchmarks", "",
        "Generated by `python -m bench.publish` (`make benchmarks`); do not edit by hand. Every figure below comes "
        "from that command (a section can be re-run alone with `--only NAME`; each section says when it ran), "
        "through the same harness users run on their own corpus (`lore eval`, see the README). Baselines run in the same process on the same chunks: BM25 only from the `rank-bm25` package "
        "and exact dense search with the same embedding model, so each gain is a ratio measured side by side.", "",
        f"**Machine:** {m['machine']}; `nproc` = {m['nproc']}; load average {m['load_average_at_start']} at the start "
        "(each section gives the load at its end: absolute latencies depend on it, ratios come from one process).", "",
        "**Fine-tuned adapter:** none yet." if not adapter else
        f"**Fine-tuned adapter:** `{adapter['version']}`, trained by `lore finetune` on the sample corpus "
        f"(`examples/`, questions generated from its chunks and graph facts, RAFT-style prompts): "
        f"{adapter['data'].get('train', '?')} training / {adapter['data'].get('validation', '?')} validation examples, "
        f"{adapter['training'].get('steps', '?')} steps, LoRA r={adapter['hyperparameters'].get('lora_r', '?')} "
        f"on {', '.join(adapter['hyperparameters'].get('target_modules', []))}; base model "
        f"{settings.llm_model}.", "",
        "**Metrics.** recall@k and MRR@10 as defined per dataset below; EM and token F1 with SQuAD normalisation "
        "(each Chinese character a token); citation precision = share of an answer's citations that point at gold "
        "evidence (over answers that cite), citation recall = share of gold evidence cited; abstention accuracy = "
        "share of questions where the model abstained exactly when no answer was expected; latency p50/p95 per "
        "answer includes retrieval and generation; tokens = tokens generated per answer.", "",
    ]
    DOC.write_text("\n".join(head + body), encoding="utf-8")
    log(f"wrote {DOC} and {ASSETS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
