"""The ``lore`` command line (Typer + rich). Every command goes through ``LoreService``."""

from __future__ import annotations

import functools
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Callable, Iterator, Optional, ParamSpec, TypeVar

import click
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from core.errors import LoreError
from core.settings import Settings
from core.types import Answer, Fact, Passage

if TYPE_CHECKING:
    from api.service import LoreService

app = typer.Typer(help="Lore: answers from your company's documents and meetings.", no_args_is_help=True)
graph_app = typer.Typer(help="Manage and inspect the knowledge graph.", no_args_is_help=True)
documents_app = typer.Typer(help="List, show and delete ingested documents.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys for the HTTP API.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")
app.add_typer(documents_app, name="documents")
app.add_typer(keys_app, name="keys")
eval_app = typer.Typer(help="Measure retrieval and answer quality on a question set (`lore eval --dataset PATH`).")
app.add_typer(eval_app, name="eval")
finetune_app = typer.Typer(help="Fine-tune the local LLM on the knowledge base (LoRA) and manage adapter versions.")
app.add_typer(finetune_app, name="finetune")

console = Console()
err = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
TopKOpt = Annotated[Optional[int], typer.Option("--top-k", "-k", min=1, max=100, help="Passages to retrieve.")]


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Optional[Path], typer.Option("--config", "-c", help="TOML config file (else $LORE_CONFIG or ./lore.toml).")
    ] = None,
) -> None:
    if config is not None and not config.is_file():
        raise typer.BadParameter(f"config file {config} does not exist", param_hint="--config")
    # The file is passed down as a value: every command reads its settings through _settings().
    ctx.obj = config
    # The CLI draws its own progress bars; the model libraries' per-load bars are noise here.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # Model code must never reach a hub unless the user allows it.
    if not _settings().allow_downloads:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _settings() -> Settings:
    context = click.get_current_context(silent=True)
    config = context.find_root().obj if context is not None else None
    try:
        return Settings.load(config)
    except Exception as exc:  # pydantic ValidationError: show which setting is wrong
        err.print(f"[red]invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def _lore_errors_exit() -> Iterator[None]:
    """A ``LoreError`` (bad input, an unreachable server, a model that will not load) becomes
    one red line and exit status 1, never a traceback."""
    try:
        yield
    except LoreError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """The command, with its ``LoreError`` reported as by ``_lore_errors_exit``."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with _lore_errors_exit():
            return command(*args, **kwargs)

    return run


@contextmanager
def _service() -> Iterator["LoreService"]:
    """The service over this command's settings. Nothing heavy is loaded until an operation
    needs it: listing documents reads one SQLite file, a search loads the embedding model."""
    from api.service import LoreService

    with _lore_errors_exit():
        service = LoreService.from_settings(_settings())
        try:
            yield service
        finally:
            service.close()


def _passage_json(p: Passage) -> dict:
    return {"source": p.source, "chunk_id": p.chunk_id, "document_id": p.document_id, "score": p.score,
            "scores": p.scores, "start": p.start, "end": p.end, "text": p.text}


def _fact_json(f: Fact) -> dict:
    return {"subject": f.subject, "predicate": f.predicate, "object": f.object, "chunk_ids": list(f.chunk_ids)}


def _display_path(source: str) -> str:
    try:
        return str(Path(source).relative_to(Path.cwd()))
    except ValueError:
        return source


# ---- ingest -----------------------------------------------------------------
def _rate(task, field: str) -> str:
    elapsed = task.elapsed or 0.0
    return f"{(task.fields.get(field, 0) / elapsed) if elapsed > 0 else 0.0:.1f}"


class _RateColumn(ProgressColumn):
    """Files/s and chunks/s since the start of the run."""

    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        files = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{files:.1f} files/s, {_rate(task, 'chunks')} chunks/s")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest (recursively).")],
    sync: Annotated[bool, typer.Option("--sync", help="Delete documents whose files are gone from these folders.")] = False,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write a JSON report here.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be added, updated or left unchanged, with an estimate; write nothing.")
    ] = False,
    workers: Annotated[
        Optional[int], typer.Option("--workers", "-w", min=1, max=64, help="Processes parsing files in parallel.")
    ] = None,
    collection: Annotated[
        Optional[str], typer.Option("--collection", help="Collection the documents join (API keys can be limited to collections).")
    ] = None,
) -> None:
    """Parse, chunk, embed and graph every supported file under PATHS. Exits 1 if any file failed."""
    from api.keys import validate_collection

    if dry_run:
        _ingest_dry_run(paths, workers, report)
        return
    from ingest.pipeline import discover

    if collection is not None:
        try:
            validate_collection(collection)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--collection") from None

    files, _ = discover(paths)
    with _service() as service:
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[chunks]} chunks"), _RateColumn(), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=False) as progress:
            task = progress.add_task("ingest", total=len(files), chunks=0)

            def on_progress(event: str, amount: int) -> None:
                if event == "file":
                    progress.advance(task, amount)
                else:
                    progress.update(task, chunks=progress.tasks[task].fields["chunks"] + amount)

            result = service.ingest(paths, sync=sync, progress=on_progress, workers=workers, collection=collection)
    rate = result.chunks / result.seconds if result.seconds else 0.0
    console.print(
        f"added {len(result.added)}, updated {len(result.updated)}, unchanged {len(result.unchanged)}, "
        f"deleted {len(result.deleted)}, failed {len(result.failed)}; {result.chunks} chunks in {result.seconds:.1f}s "
        f"({rate:.1f} chunks/s)"
    )
    for failure in result.failed:
        err.print(f"[yellow]skipped[/yellow] {failure.path}: {failure.reason}", markup=True, highlight=False)
    if report:
        report.write_text(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
    raise typer.Exit(0 if result.ok else 1)


def _ingest_dry_run(paths: list[Path], workers: int | None, report: Optional[Path]) -> None:
    with _service() as service:
        plan = service.plan_ingest(paths, workers=workers)
    for label, action in (("add", "add"), ("update", "update"), ("unchanged", "unchanged")):
        for item in plan.of(action):
            console.print(f"{label:>9}  {_display_path(item.source)}", markup=False, highlight=False)
    for failure in plan.failed:
        console.print(f"{'fail':>9}  {_display_path(failure.path)}: {failure.reason}", markup=False, highlight=False)
    estimate = f"about {plan.estimated_seconds:.0f}s" if plan.estimated_seconds is not None else "nothing to do"
    console.print(
        f"would add {len(plan.of('add'))}, update {len(plan.of('update'))}, leave {len(plan.of('unchanged'))} unchanged, "
        f"fail {len(plan.failed)}; {plan.chunks} chunks to embed, {estimate}"
    )
    if report:
        payload = {
            "dry_run": True,
            "add": [f.source for f in plan.of("add")],
            "update": [f.source for f in plan.of("update")],
            "unchanged": [f.source for f in plan.of("unchanged")],
            "failed": [{"path": f.path, "reason": f.reason} for f in plan.failed],
            "chunks": plan.chunks,
            "estimated_seconds": plan.estimated_seconds,
        }
        report.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    raise typer.Exit(0 if not plan.failed else 1)


# ---- search / ask -------------------------------------------------------------
@app.command()
def search(
    query: str,
    top_k: TopKOpt = None,
    as_json: JsonOpt = False,
    mode: Annotated[
        Optional[str], typer.Option("--mode", "-m", help="dense, sparse, graph or hybrid (default: settings).")
    ] = None,
    kind: Annotated[Optional[list[str]], typer.Option("--kind", help="Only documents of this kind (repeatable).")] = None,
    source_prefix: Annotated[Optional[str], typer.Option("--source-prefix", help="Only sources under this path.")] = None,
    date_from: Annotated[Optional[str], typer.Option("--from", help="Only documents dated on/after YYYY-MM-DD.")] = None,
    date_to: Annotated[Optional[str], typer.Option("--to", help="Only documents dated on/before YYYY-MM-DD.")] = None,
    language: Annotated[Optional[list[str]], typer.Option("--language", help="Only this language (repeatable).")] = None,
    person: Annotated[
        Optional[list[str]], typer.Option("--person", help="Only documents attended/written by this person (repeatable).")
    ] = None,
    collection: Annotated[Optional[list[str]], typer.Option("--collection", help="Only this collection (repeatable).")] = None,
) -> None:
    """Retrieve passages and graph facts for QUERY (no generation)."""
    from pydantic import ValidationError

    from retrieval.filters import SearchFilters
    from retrieval.retrievers import MODES

    if mode is not None and mode not in MODES:
        raise typer.BadParameter(f"{mode!r} is not one of {', '.join(MODES)}", param_hint="--mode")
    if source_prefix is not None:
        source_prefix = str(Path(source_prefix).resolve())
    try:
        filters = SearchFilters(kinds=kind or None, source_prefix=source_prefix, date_from=date_from, date_to=date_to,
                                languages=language or None, people=person or None, collections=collection or None)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc).splitlines()[1] + ": " + str(exc).splitlines()[2].strip()) from None
    with _service() as service:
        found = service.search(query, top_k, mode=mode, filters=None if filters.empty else filters)
    if as_json:
        print(json.dumps({"query": query, "passages": [_passage_json(p) for p in found.passages],
                          "facts": [_fact_json(f) for f in found.facts]}, ensure_ascii=False, indent=2))
        return
    # A rerank column only when a reranker is configured, so the common table stays narrow.
    columns = ("dense", "sparse", "graph", "rerank") if any("rerank" in p.scores for p in found.passages) \
        else ("dense", "sparse", "graph")
    table = Table("#", "score", *columns, "source", "text", show_lines=True)
    for i, p in enumerate(found.passages, 1):
        parts = [f"{p.scores[c]:.3f}" if c in p.scores else "-" for c in columns]
        table.add_row(str(i), f"{p.score:.3f}", *parts, _display_path(p.source), p.text[:300])
    console.print(table)
    for fact in found.facts:
        console.print(f"  • {fact.render()}")


@app.command()
def ask(
    question: str,
    top_k: TopKOpt = None,
    as_json: JsonOpt = False,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Print tokens as they are generated.")] = True,
) -> None:
    """Answer QUESTION from the knowledge base, with numbered citations."""
    with _service() as service:
        if as_json or not stream:
            answer = service.ask(question, top_k)
        else:
            answer = None
            for piece in service.ask_stream(question, top_k):
                if isinstance(piece, Answer):
                    answer = piece
                else:
                    console.print(piece, end="", markup=False, highlight=False)
            console.print()
    if as_json:
        print(json.dumps({
            "question": question,
            "answer": answer.text,
            "citations": [c.model_dump() for c in answer.citations],
            "passages": [_passage_json(p) for p in answer.passages],
            "facts": [_fact_json(f) for f in answer.facts],
            "timings": answer.timings,
        }, ensure_ascii=False, indent=2))
        return
    if not stream:
        console.print(answer.text, markup=False, highlight=False)
    _print_sources(answer)


@app.command()
def minutes(
    meeting: Annotated[str, typer.Argument(help="The meeting's document id or source path.")],
    as_json: JsonOpt = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build the minutes again and store them.")] = False,
) -> None:
    """Print the minutes of MEETING: summary, topics, decisions, action items, open questions (with turn citations)."""
    with _service() as service:
        result = service.write_minutes(meeting) if rebuild else service.minutes(meeting)
    if result is None:
        console.print(f"[red]No meeting {meeting!r}[/red] (give a document id from `lore documents list` or the meeting's file path).")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    console.print(result.render(), markup=False, highlight=False)


def _print_sources(answer: Answer) -> None:
    if answer.citations:
        console.print("\n[bold]Citations[/bold]")
        for c in answer.citations:
            console.print(f"  [{c.number}] {_display_path(c.source)} (chunk {c.chunk_id}, chars {c.start}-{c.end})", markup=False)
    console.print("\n[bold]Retrieved sources[/bold]")
    for i, p in enumerate(answer.passages, 1):
        console.print(f"  [{i}] {_display_path(p.source)} (chunk {p.chunk_id}, score {p.score:.3f})", markup=False)


# ---- eval -----------------------------------------------------------------------
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
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Also score rank-bm25 and exact dense baselines.")] = True,
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
            ks=tuple(int(k) for k in ks.split(",") if k.strip()), baselines=baselines, generate=generate,
            generators=tuple(g.strip() for g in generators.split(",") if g.strip()), answer_limit=answer_limit,
            answer_mode=answer_mode, scope=scope,
        )
        settings = _settings()
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
    base = _settings().model_copy(update={"minutes_at_ingest": False})
    results: dict = {}
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
            scopes = ("meeting", "all") if scope == "both" else (scope,)
            for sc in scopes:
                err.print(f"QMSum {split or 'all'}: {len(files)} meetings, {len(queries)} queries, scope {sc}")
                results[f"QMSum {split or 'all'} ({sc})"] = ev.evaluate_qmsum(service.engine, queries, scope=sc)
    if cmrc is not None:
        corpus = work / "cmrc-paragraphs"
        queries = ev.write_cmrc_corpus(cmrc, corpus)
        settings = base.model_copy(update={"data_dir": work / "cmrc"})
        with evaluation_service(settings) as service:
            service.ingest([corpus])
            err.print(f"CMRC2018: {len(queries)} questions")
            results["CMRC2018 trial"] = ev.evaluate_paragraphs(service.engine, queries)
    (out / "results.json").write_text(json.dumps(ev.to_json(results), indent=2))
    table = ev.markdown_table(results)
    (out / "results.md").write_text(table)
    ev.plot_recall(results, out / "recall.png")
    console.print(table, markup=False, highlight=False)
    console.print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'recall.png'}")


# ---- finetune -------------------------------------------------------------------
def _eval_table(title: str, before, after) -> Table:
    table = Table("metric", "base", "fine-tuned", title=title)
    for key in ("exact_match", "f1", "citation_accuracy", "abstention_accuracy", "false_abstention"):
        b, a = getattr(before, key), getattr(after, key)
        table.add_row(key, "-" if b is None else f"{b:.3f}", "-" if a is None else f"{a:.3f}")
    table.add_row("examples", f"{before.answerable} answerable", f"{before.unanswerable} unanswerable")
    return table


@finetune_app.callback(invoke_without_command=True)
def finetune(
    ctx: typer.Context,
    data: Annotated[
        Optional[Path], typer.Option("--data", help="JSONL of {question, answer, source?} lines to train on as well.")
    ] = None,
    kb_questions: Annotated[
        bool, typer.Option("--kb/--no-kb", help="Generate questions from the knowledge base (graph facts and chunks).")
    ] = True,
    evaluate: Annotated[bool, typer.Option("--eval", help="Score base and fine-tuned model on the held-out split.")] = False,
    activate: Annotated[bool, typer.Option("--activate/--no-activate", help="Make the new adapter the active one.")] = True,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", min=1, help="Stop after this many steps.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a LoRA adapter on questions generated from the knowledge base (RAFT); save it as a new version."""
    if ctx.invoked_subcommand is not None:
        return
    if data is not None and not data.is_file():
        raise typer.BadParameter(f"{data} does not exist", param_hint="--data")
    with _service() as service:
        report = service.finetune(
            data=data, include_kb=kb_questions, evaluate=evaluate, activate=activate, max_steps=max_steps,
            progress=not as_json, log_line=lambda line: err.print(line, markup=False, highlight=False),
        )
    if as_json:
        print(json.dumps({
            "version": report.version, "path": str(report.path), "activated": report.activated,
            "dataset": report.dataset, "training": report.training,
            "before": report.before.to_dict() if report.before else None,
            "after": report.after.to_dict() if report.after else None,
        }, indent=2, default=str))
        return
    t = report.training
    console.print(
        f"adapter {report.version} saved to {report.path} ({t['steps']} steps in {t['seconds']}s on {t['device']}; "
        f"train loss {t['first_train_loss']} -> {t['last_train_loss']}, best validation loss {t['best_eval_loss']})"
    )
    if report.before and report.after:
        console.print(_eval_table("held-out split", report.before, report.after))
    console.print(f"{report.version} is now active" if report.activated else f"activate it with `lore finetune activate {report.version}`")


@finetune_app.command("list")
def finetune_list(as_json: JsonOpt = False) -> None:
    """List saved adapter versions, their data and metrics; the active one is marked."""
    from dataclasses import asdict

    with _service() as service:
        registry = service.adapters
        active = registry.active()
        manifests = [registry.manifest(v) for v in registry.versions()]
    if as_json:
        print(json.dumps({"active": active, "versions": [asdict(m) for m in manifests]}, indent=2, default=str))
        return
    table = Table("", "version", "created", "base model", "train/val", "F1 before→after", "citations before→after")
    for m in manifests:
        before, after = m.metrics.get("before", {}), m.metrics.get("after", {})

        def pair(key: str) -> str:
            return f"{before[key]:.2f}→{after[key]:.2f}" if key in before and key in after else "-"

        table.add_row("*" if m.version == active else "", m.version, m.created_at, m.base_model,
                      f"{m.data.get('train', '?')}/{m.data.get('validation', '?')}", pair("f1"), pair("citation_accuracy"))
    console.print(table)


@finetune_app.command("activate")
@reports_errors
def finetune_activate(version: Annotated[str, typer.Argument(help="Version to answer with, e.g. v2; 'none' for the base model.")]) -> None:
    """Make VERSION the adapter that `lore ask` and the API load."""
    with _service() as service:
        if version == "none":
            service.adapters.deactivate()
        else:
            service.adapters.activate(version)
    console.print("answering with the base model" if version == "none" else f"{version} is now active")


@finetune_app.command("eval")
@reports_errors
def finetune_eval(
    version: Annotated[Optional[str], typer.Argument(help="Version to score (default: the active one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score base vs VERSION on that version's held-out split: EM, token F1, citation and abstention accuracy."""
    from generation.finetune.pipeline import reevaluate

    with _service() as service:
        version = version or service.adapters.active()
    if version is None:
        err.print("[red]error:[/red] no adapter is active; name a version (see `lore finetune list`)")
        raise typer.Exit(1)
    before, after = reevaluate(_settings(), version)
    if as_json:
        print(json.dumps({"version": version, "before": before.to_dict(), "after": after.to_dict()}, indent=2))
        return
    console.print(_eval_table(f"{version}: held-out split", before, after))


# ---- serve --------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Run the HTTP API."""
    import uvicorn

    from api.app import create_app

    from api.keys import KeyStore

    settings = _settings()
    if settings.auth_required:
        with KeyStore(settings.api_db_path) as keys:
            if keys.active_count() == 0:
                err.print(
                    "[yellow]no API keys exist yet:[/yellow] every /v1 request will get 401. Create the first one with\n"
                    "  lore keys create --name admin --scopes read,ingest,admin\n"
                    "(or set LORE_AUTH_REQUIRED=false on a trusted machine)."
                )
    uvicorn.run(create_app(settings), host=host or settings.api_host, port=port or settings.api_port)


# ---- documents ----------------------------------------------------------------
@documents_app.command("list")
def documents_list(as_json: JsonOpt = False) -> None:
    """List ingested documents."""
    with _service() as service:
        records = service.documents()
    if as_json:
        print(json.dumps([r.__dict__ for r in records], ensure_ascii=False, indent=2, default=str))
        return
    table = Table("id", "kind", "chunks", "source")
    for r in records:
        table.add_row(r.id, r.kind, str(r.chunk_count), _display_path(r.source))
    console.print(table)


@documents_app.command("show")
def documents_show(
    document_id: str,
    as_json: JsonOpt = False,
    full: Annotated[bool, typer.Option("--full", help="Print whole chunk texts, not the first line.")] = False,
) -> None:
    """Print a document's metadata and its chunks."""
    with _service() as service:
        found = service.document(document_id)
    if found is None:
        err.print(f"[red]no document with id {document_id}[/red]")
        raise typer.Exit(1)
    record, chunks = found
    if as_json:
        payload = {**record.__dict__, "chunks": [{"vector_id": s.vector_id, **s.chunk.model_dump()} for s in chunks]}
        print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
        return
    metadata = {k: v for k, v in record.metadata.items() if k not in ("turns", "pages")}
    for label, value in (("id", record.id), ("source", _display_path(record.source)), ("title", record.title),
                         ("kind", record.kind), ("language", record.language), ("ingested", record.ingested_at),
                         ("graph synced", record.graph_synced), ("chunks", record.chunk_count),
                         ("metadata", json.dumps(metadata, ensure_ascii=False, default=str))):
        console.print(f"[bold]{label}:[/bold] {value}", highlight=False)
    table = Table("#", "chars", "heading / speakers", "text", show_lines=True)
    for stored in chunks:
        c = stored.chunk
        where = " > ".join(c.metadata.get("heading_path") or []) or ", ".join(c.metadata.get("speakers") or [])
        table.add_row(str(c.index), f"{c.start}-{c.end}", where, c.text if full else c.text.split("\n", 1)[0][:160])
    console.print(table)


@documents_app.command("delete")
def documents_delete(document_id: str) -> None:
    """Delete a document: its chunks, vectors and graph contributions."""
    with _service() as service:
        if not service.delete_document(document_id):
            err.print(f"[red]no document with id {document_id}[/red]")
            raise typer.Exit(1)
    console.print(f"deleted {document_id}")


# ---- API keys -----------------------------------------------------------------
def _split(value: Optional[str]) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


@keys_app.command("create")
def keys_create(
    scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated: read, ingest, admin.")] = "read",
    collections: Annotated[
        Optional[str], typer.Option("--collections", help="Comma-separated collections the key may see (default: all).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A label to recognise the key by.")] = "key",
    as_json: JsonOpt = False,
) -> None:
    """Create an API key. The key is printed once and stored only as a hash."""
    from api.keys import KeyStore

    try:
        with KeyStore(_settings().api_db_path) as keys:
            record, secret = keys.create(name, _split(scopes) or [], _split(collections))
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps({"id": record.id, "name": record.name, "scopes": list(record.scopes),
                          "collections": record.collections and list(record.collections), "key": secret}))
        return
    console.print(f"created key {record.id} ({record.name}): scopes {', '.join(record.scopes)}; "
                  f"collections {', '.join(record.collections) if record.collections else 'all'}")
    console.print("store it now, it will not be shown again:")
    print(secret)


@keys_app.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """List API keys (never the keys themselves)."""
    from api.keys import KeyStore

    with KeyStore(_settings().api_db_path) as keys:
        records = keys.list()
    if as_json:
        print(json.dumps([r.__dict__ for r in records], indent=2))
        return
    table = Table("id", "name", "scopes", "collections", "created", "revoked")
    for r in records:
        table.add_row(r.id, r.name, ",".join(r.scopes), ",".join(r.collections) if r.collections else "all",
                      r.created_at, r.revoked_at or "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by its id (from `lore keys list`)."""
    from api.keys import KeyStore

    with KeyStore(_settings().api_db_path) as keys:
        if not keys.revoke(key_id):
            err.print(f"[red]no active key with id {key_id}[/red]")
            raise typer.Exit(1)
    console.print(f"revoked {key_id}")


# ---- graph server ---------------------------------------------------------------
@graph_app.command("start")
@reports_errors
def graph_start() -> None:
    """Start (or reuse) the local graph server."""
    from api.bootstrap import local_graph_server

    settings = _settings()
    if settings.graph_uri:
        console.print(f"using the configured graph server at {settings.graph_uri}; nothing to start")
        return
    info = local_graph_server(settings).start()
    console.print(f"graph server running at {info.uri} (pid {info.pid}, HTTP port {info.http_port})")


@graph_app.command("stop")
def graph_stop() -> None:
    """Stop the local graph server."""
    from api.bootstrap import local_graph_server

    stopped = local_graph_server(_settings()).stop()
    console.print("graph server stopped" if stopped else "no local graph server was running")


@graph_app.command("status")
@reports_errors
def graph_status(as_json: JsonOpt = False) -> None:
    """Print the graph server's URI, version and node/relationship counts."""
    settings = _settings()
    if not settings.graph_uri:
        from api.bootstrap import local_graph_server

        if local_graph_server(settings).status() is None:
            console.print("local graph server: not running (start it with `lore graph start`)")
            raise typer.Exit(1)
    with _service() as service:
        stats = service.graph_stats()
    if as_json:
        print(json.dumps(stats.__dict__, indent=2, default=str))
        return
    console.print(f"uri: {stats.uri}\nserver: {stats.server_agent}\nnodes: {stats.nodes}\nrelationships: {stats.relationships}")
    for label, count in sorted(stats.by_label.items()):
        console.print(f"  {label}: {count}")


@graph_app.command("stats")
@reports_errors
def graph_stats_command(as_json: JsonOpt = False) -> None:
    """Count nodes by label and relationships by type."""
    with _service() as service:
        stats = service.graph_stats()
    if as_json:
        print(json.dumps(stats.__dict__, indent=2, default=str))
        return
    console.print(f"{stats.nodes} nodes, {stats.relationships} relationships ({stats.server_agent})")
    for title, counts in (("label", stats.by_label), ("relationship type", stats.by_relation_type)):
        table = Table(title, "count")
        for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(name, str(count))
        console.print(table)


@graph_app.command("show")
@reports_errors
def graph_show(
    entity: Annotated[str, typer.Argument(help="Entity id, or name (exact, else the best partial match).")],
    as_json: JsonOpt = False,
) -> None:
    """Show an entity's relationships, each with the chunk and sentence it came from."""
    with _service() as service:
        view = service.find_entity(entity)
    if view is None:
        err.print(f"[red]no entity matches {entity!r}[/red]")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps({"entity": view.entity.model_dump(), "mentions": view.mentions, "document_ids": view.document_ids,
                          "edges": [e.__dict__ for e in view.edges],
                          "neighbours": {k: {"name": n, "labels": l} for k, (n, l) in view.neighbours.items()}},
                         ensure_ascii=False, indent=2))
        return
    console.print(f"[bold]{view.entity.name}[/bold] ({view.entity.type}, {view.entity.id}): "
                  f"{view.mentions} mentions in {len(view.document_ids)} documents", highlight=False)
    table = Table("relationship", "with", "evidence", "chunk", show_lines=False)
    for edge in view.edges:
        outgoing = edge.source_id == view.entity.id
        other = edge.target_id if outgoing else edge.source_id
        name = view.neighbours.get(other, (other, []))[0] or other
        table.add_row(f"{'→' if outgoing else '←'} {edge.type}", name, (edge.evidence or "")[:120], edge.chunk_id or "")
    console.print(table)


@graph_app.command("merges")
def graph_merges(
    status: Annotated[Optional[str], typer.Option(help="Only 'active' or 'undone' merges.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the entity merges made by entity resolution: which names, which rule, what score."""
    with _service() as service:
        merges = service.graph_merges(status)
    if as_json:
        print(json.dumps([m.__dict__ for m in merges], ensure_ascii=False, indent=2))
        return
    table = Table("id", "alias", "→ entity", "rule", "score", "status", "documents", "mentions")
    for m in merges:
        table.add_row(str(m.id), f"{m.alias_name} ({m.alias_type})", f"{m.canonical_name} ({m.canonical_type})",
                      m.rule, f"{m.score:.2f}", m.status, str(len(m.document_ids)), ", ".join(m.mentions)[:60])
    console.print(table)


@graph_app.command("unmerge")
def graph_unmerge(merge_id: Annotated[int, typer.Argument(help="Merge id from `lore graph merges`.")]) -> None:
    """Undo a merge: the alias becomes its own entity again, now and on every later ingest."""
    with _service() as service:
        merge = service.graph_unmerge(merge_id)
    if merge is None:
        err.print(f"[red]no merge with id {merge_id}[/red]")
        raise typer.Exit(1)
    console.print(f"undid merge {merge.id}: {merge.alias_name!r} is no longer {merge.canonical_name!r}; "
                  f"{len(merge.document_ids)} documents re-extracted")


if __name__ == "__main__":
    sys.exit(app())
