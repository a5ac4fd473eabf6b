"""`lore eval`: retrieval and answer quality on a question set, and `lore eval retrieval` on the public sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from api.cli.base import app, console, err, load_settings, reports_errors

eval_app = typer.Typer(help="Measure retrieval and answer quality on a question set (`lore eval --dataset PATH`).")
app.add_typer(eval_app, name="eval")


@eval_app.callback(invoke_without_command=True)
@reports_errors
def eval_harness(
    ctx: typer.Context,
    dataset: Annotated[
        Optional[Path], typer.Option("--dataset", help="Question set: Lore JSONL, a QMSum file or folder, or SQuAD/CMRC JSON.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto, lore, qmsum or squad.")] = "auto",
    out: Annotated[Path, typer.Option("--out", help="Folder for results.json, report.md and the PNG plots.")] = Path("eval-results"),
    documents: Annotated[
        Optional[list[Path]], typer.Option("--documents", help="Files or folders to ingest for a Lore JSONL set (repeatable); else its questions go to the configured knowledge base.")
    ] = None,
    modes: Annotated[str, typer.Option("--modes", help="Comma-separated search modes to score: dense, sparse, graph, hybrid.")] = "dense,sparse,graph,hybrid",
    ks: Annotated[str, typer.Option("--k", help="Comma-separated k of the recall@k columns (1..20).")] = "1,5,10,20",
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Use only the first N questions.")] = None,
    generate: Annotated[bool, typer.Option("--generate/--no-generate", help="Also answer the questions and score the answers.")] = True,
    generators: Annotated[
        str, typer.Option("--generators", help="Comma-separated: base, tuned (the active adapter) and/or adapter versions (v2).")
    ] = "base,tuned",
    answer_limit: Annotated[
        Optional[int], typer.Option("--answer-limit", min=1, help="Answer only the first N questions (generation is the slow part).")
    ] = None,
    answer_mode: Annotated[Optional[str], typer.Option("--answer-mode", help="Search mode answers use (default: settings).")] = None,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Also score rank-bm25, exact dense and plain RRF baselines.")] = True,
    ablate: Annotated[bool, typer.Option("--ablate", help="Also score hybrid search with one of its parts taken away at a time.")] = False,
    scope: Annotated[str, typer.Option("--scope", help="all (search everything) or document (only the question's gold documents).")] = "all",
    compare: Annotated[
        Optional[tuple[str, str]], typer.Option("--compare", help="Run two configurations side by side: settings .toml files or generators (base, tuned, v2).", show_default=False)
    ] = None,
    work_dir: Annotated[
        Path, typer.Option("--work-dir", help="Reusable folder for the data dirs the dataset's documents are ingested into.")
    ] = Path(".lore/eval"),
) -> None:
    """Recall@k, MRR, EM, token F1, citation precision/recall, abstention, latency and tokens, per mode and generator."""
    if ctx.invoked_subcommand is not None:
        return
    if dataset is None:
        console.print(ctx.get_help())
        raise typer.Exit(2)
    from evaluation import EvalOptions, evaluate, load_dataset, variant
    from evaluation import report as eval_report

    def log(line: str) -> None:
        err.print(line, markup=False, highlight=False)

    try:
        options = EvalOptions(
            modes=tuple(m.strip() for m in modes.split(",") if m.strip()),
            ks=tuple(int(k) for k in ks.split(",") if k.strip()), baselines=baselines, ablate=ablate, generate=generate,
            generators=tuple(g.strip() for g in generators.split(",") if g.strip()), answer_limit=answer_limit,
            answer_mode=answer_mode, scope=scope,
        )
        settings = load_settings()
        data = load_dataset(dataset, fmt, work_dir=work_dir, limit=limit, documents=documents or ())
        for error in data.errors:
            err.print(f"[yellow]skipped[/yellow] {error}", highlight=False)
        runs = {"": (settings, options)}
        if compare and compare[0] is not None:
            runs = {spec: variant(spec, settings, options) for spec in compare}
        reports = {}
        for spec, (run_settings, run_options) in runs.items():
            if spec:
                log(f"configuration {spec}")
            reports[spec] = evaluate(run_settings, data, run_options, work_dir=work_dir, log=log)
    except ValueError as exc:  # bad --k
        raise typer.BadParameter(str(exc)) from None
    for spec, result in reports.items():
        folder = out / _slug(spec) if spec else out
        paths = eval_report.write(result, folder)
        print(eval_report.markdown(result))
        console.print(f"wrote {', '.join(str(p) for p in paths.values())}")
    if len(reports) == 2:
        (a, ra), (b, rb) = reports.items()
        rows = eval_report.deltas(ra, rb)
        table = eval_report.deltas_table(rows, a, b)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.md").write_text(table + "\n", encoding="utf-8")
        (out / "compare.json").write_text(json.dumps({"a": a, "b": b, "rows": rows}, indent=2), encoding="utf-8")
        print(table)
        console.print(f"wrote {out / 'compare.md'}, {out / 'compare.json'}")


def _slug(spec: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(spec).stem or spec)


def _encoders(service) -> str:
    """Which encoders built the set's indexes, and how many chunks each holds."""
    parts = service.parts
    built = [f"dense index {parts.settings.embedding_model} ({parts.encoder}, {len(parts.vectors)} chunks)"]
    built += [f"{'/'.join(sorted(index.languages))} index {index.embedder.model_name} ({index.embedder.variant}, "
              f"{len(index.store)} chunks)" for index in parts.language_indexes]
    return "; ".join(built)


@eval_app.command("retrieval")
@reports_errors
def eval_retrieval(
    out: Annotated[Path, typer.Option("--out", help="Folder for results.json, results.md and recall.png.")] = Path("eval-retrieval"),
    qmsum: Annotated[Optional[Path], typer.Option("--qmsum", help="Folder of QMSum meeting JSON files.")] = None,
    split: Annotated[str, typer.Option("--split", help="QMSum files whose name starts with this (train, val, test, or '' for all).")] = "val",
    meetings: Annotated[Optional[int], typer.Option("--meetings", min=1, help="Use only the first N meetings.")] = None,
    scope: Annotated[str, typer.Option("--scope", help="meeting (search within the query's meeting), all, or both.")] = "both",
    cmrc: Annotated[Optional[Path], typer.Option("--cmrc", help="CMRC2018 trial.json (SQuAD format).")] = None,
    work_dir: Annotated[Optional[Path], typer.Option("--work-dir", help="Reusable folder for the evaluation indexes (kept between runs).")] = None,
    ablate: Annotated[bool, typer.Option("--ablate", help="Also score hybrid search with one of its parts taken away at a time.")] = False,
) -> None:
    """Recall@k and MRR@10 per retrieval mode and baseline, on QMSum and CMRC2018 (ingested into their own data dirs)."""
    import tempfile

    from evaluation.runner import evaluation_service
    from evaluation import retrieval as ev

    if qmsum is None and cmrc is None:
        raise typer.BadParameter("give --qmsum and/or --cmrc")
    if scope not in ("meeting", "all", "both"):
        raise typer.BadParameter(f"{scope!r} is not meeting, all or both", param_hint="--scope")
    work = work_dir or Path(tempfile.mkdtemp(prefix="lore-eval-"))
    out.mkdir(parents=True, exist_ok=True)
    # Derived minutes would compete with their meetings for the gold spans.
    base = load_settings().model_copy(update={"minutes_at_ingest": False})
    results: dict = {}
    encoders: dict[str, str] = {}
    if qmsum is not None:
        files = sorted(p for p in qmsum.glob(f"{split}*.json"))[:meetings]
        if not files:
            raise typer.BadParameter(f"no {split}*.json files in {qmsum}", param_hint="--qmsum")
        queries = ev.qmsum_queries(files)
        settings = base.model_copy(update={"data_dir": work / f"qmsum-{split or 'all'}"})
        with evaluation_service(settings) as service:
            report = service.ingest(files)
            for failure in report.failed:
                err.print(f"[yellow]skipped[/yellow] {failure.path}: {failure.reason}")
            encoders[f"QMSum {split or 'all'}"] = _encoders(service)
            scopes = ("meeting", "all") if scope == "both" else (scope,)
            for sc in scopes:
                err.print(f"QMSum {split or 'all'}: {len(files)} meetings, {len(queries)} queries, scope {sc}")
                results[f"QMSum {split or 'all'} ({sc})"] = ev.evaluate_qmsum(service.engine, queries, scope=sc, ablate=ablate)
    if cmrc is not None:
        corpus = work / "cmrc-paragraphs"
        queries = ev.write_cmrc_corpus(cmrc, corpus)
        settings = base.model_copy(update={"data_dir": work / "cmrc"})
        with evaluation_service(settings) as service:
            service.ingest([corpus])
            encoders["CMRC2018 trial"] = _encoders(service)
            err.print(f"CMRC2018: {len(queries)} questions")
            results["CMRC2018 trial"] = ev.evaluate_paragraphs(service.engine, queries, ablate=ablate)
    (out / "results.json").write_text(json.dumps(ev.to_json(results), indent=2))
    (out / "encoders.json").write_text(json.dumps(encoders, indent=2))
    table = "\n".join(f"*{name}: {built}*" for name, built in encoders.items()) + "\n\n" + ev.markdown_table(results)
    (out / "results.md").write_text(table)
    ev.plot_recall(results, out / "recall.png")
    console.print(table, markup=False, highlight=False)
    console.print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'recall.png'}")
