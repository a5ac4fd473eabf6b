"""The ``lore`` command line (Typer + rich). Every command goes through ``LoreService``."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from core.errors import LoreError
from core.settings import Settings
from core.types import Answer, Fact, Passage

app = typer.Typer(help="Lore: answers from your company's documents and meetings.", no_args_is_help=True)
graph_app = typer.Typer(help="Manage the graph server.", no_args_is_help=True)
documents_app = typer.Typer(help="List and delete ingested documents.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")
app.add_typer(documents_app, name="documents")
finetune_app = typer.Typer(help="Fine-tune the local LLM on the knowledge base (LoRA) and manage adapter versions.")
app.add_typer(finetune_app, name="finetune")

console = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
TopKOpt = Annotated[Optional[int], typer.Option("--top-k", "-k", min=1, max=100, help="Passages to retrieve.")]


@app.callback()
def main(
    config: Annotated[
        Optional[Path], typer.Option("--config", "-c", help="TOML config file (else $LORE_CONFIG or ./lore.toml).")
    ] = None,
) -> None:
    if config is not None:
        if not config.is_file():
            raise typer.BadParameter(f"config file {config} does not exist", param_hint="--config")
        os.environ["LORE_CONFIG"] = str(config)
    # The CLI draws its own progress bars; the model libraries' per-load bars are noise here.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # Model code must never reach a hub unless the user allows it.
    if not _settings().allow_downloads:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic ValidationError: show which setting is wrong
        err.print(f"[red]invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def _service() -> Iterator["LoreService"]:
    from api.service import LoreService

    try:
        with LoreService(_settings()) as service:
            yield service
    except LoreError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


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
@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest (recursively).")],
    sync: Annotated[bool, typer.Option("--sync", help="Delete documents whose files are gone from these folders.")] = False,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write a JSON report here.")] = None,
) -> None:
    """Parse, chunk, embed and graph every supported file under PATHS."""
    from ingest.pipeline import discover

    files, _ = discover(paths)
    with _service() as service:
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[chunks]} chunks"), TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=False) as progress:
            task = progress.add_task("ingest", total=len(files), chunks=0)
            chunks = 0

            def on_progress(event: str, amount: int) -> None:
                nonlocal chunks
                if event == "file":
                    progress.advance(task, amount)
                else:
                    chunks += amount
                    progress.update(task, chunks=chunks)

            result = service.ingest(paths, sync=sync, progress=on_progress)
    rate = result.chunks / result.seconds if result.seconds else 0.0
    console.print(
        f"added {len(result.added)}, updated {len(result.updated)}, unchanged {len(result.unchanged)}, "
        f"deleted {len(result.deleted)}, failed {len(result.failed)}; {result.chunks} chunks in {result.seconds:.1f}s "
        f"({rate:.1f} chunks/s)"
    )
    for failure in result.failed:
        err.print(f"[yellow]skipped[/yellow] {failure.path}: {failure.reason}")
    if report:
        payload = {k: getattr(result, k) for k in ("added", "updated", "unchanged", "deleted", "chunks", "seconds")}
        payload["failed"] = [{"path": f.path, "reason": f.reason} for f in result.failed]
        report.write_text(json.dumps(payload, indent=2))
    raise typer.Exit(0 if result.ok else 1)


# ---- search / ask -------------------------------------------------------------
@app.command()
def search(query: str, top_k: TopKOpt = None, as_json: JsonOpt = False) -> None:
    """Retrieve passages and graph facts for QUERY (no generation)."""
    with _service() as service:
        found = service.search(query, top_k)
    if as_json:
        print(json.dumps({"query": query, "passages": [_passage_json(p) for p in found.passages],
                          "facts": [_fact_json(f) for f in found.facts]}, ensure_ascii=False, indent=2))
        return
    table = Table("#", "score", "source", "text", show_lines=True)
    for i, p in enumerate(found.passages, 1):
        table.add_row(str(i), f"{p.score:.3f}", _display_path(p.source), p.text[:300])
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


def _print_sources(answer: Answer) -> None:
    if answer.citations:
        console.print("\n[bold]Citations[/bold]")
        for c in answer.citations:
            console.print(f"  [{c.number}] {_display_path(c.source)} (chunk {c.chunk_id}, chars {c.start}-{c.end})", markup=False)
    console.print("\n[bold]Retrieved sources[/bold]")
    for i, p in enumerate(answer.passages, 1):
        console.print(f"  [{i}] {_display_path(p.source)} (chunk {p.chunk_id}, score {p.score:.3f})", markup=False)


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

    from generation.finetune.registry import AdapterRegistry

    settings = _settings()
    registry = AdapterRegistry(settings.data_dir / "adapters")
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
def finetune_activate(version: Annotated[str, typer.Argument(help="Version to answer with, e.g. v2; 'none' for the base model.")]) -> None:
    """Make VERSION the adapter that `lore ask` and the API load."""
    from generation.finetune.registry import AdapterRegistry

    registry = AdapterRegistry(_settings().data_dir / "adapters")
    try:
        if version == "none":
            registry.deactivate()
        else:
            registry.activate(version)
    except LoreError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print("answering with the base model" if version == "none" else f"{version} is now active")


@finetune_app.command("eval")
def finetune_eval(
    version: Annotated[Optional[str], typer.Argument(help="Version to score (default: the active one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score base vs VERSION on that version's held-out split: EM, token F1, citation and abstention accuracy."""
    from generation.finetune.pipeline import reevaluate
    from generation.finetune.registry import AdapterRegistry

    settings = _settings()
    version = version or AdapterRegistry(settings.data_dir / "adapters").active()
    if version is None:
        err.print("[red]error:[/red] no adapter is active; name a version (see `lore finetune list`)")
        raise typer.Exit(1)
    try:
        before, after = reevaluate(settings, version)
    except LoreError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
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

    settings = _settings()
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


@documents_app.command("delete")
def documents_delete(document_id: str) -> None:
    """Delete a document: its chunks, vectors and graph contributions."""
    with _service() as service:
        if not service.delete_document(document_id):
            err.print(f"[red]no document with id {document_id}[/red]")
            raise typer.Exit(1)
    console.print(f"deleted {document_id}")


# ---- graph server ---------------------------------------------------------------
@graph_app.command("start")
def graph_start() -> None:
    """Start (or reuse) the local graph server."""
    from api.bootstrap import local_graph_server

    settings = _settings()
    if settings.graph_uri:
        console.print(f"using the configured graph server at {settings.graph_uri}; nothing to start")
        return
    try:
        info = local_graph_server(settings).start()
    except LoreError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"graph server running at {info.uri} (pid {info.pid}, HTTP port {info.http_port})")


@graph_app.command("stop")
def graph_stop() -> None:
    """Stop the local graph server."""
    from api.bootstrap import local_graph_server

    stopped = local_graph_server(_settings()).stop()
    console.print("graph server stopped" if stopped else "no local graph server was running")


@graph_app.command("status")
def graph_status(as_json: JsonOpt = False) -> None:
    """Print the graph server's URI, version and node/relationship counts."""
    from api.bootstrap import graph_store

    settings = _settings()
    if not settings.graph_uri:
        from api.bootstrap import local_graph_server

        if local_graph_server(settings).status() is None:
            console.print("local graph server: not running (start it with `lore graph start`)")
            raise typer.Exit(1)
    try:
        with graph_store(settings) as store:
            stats = store.stats()
    except LoreError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(stats.__dict__, indent=2, default=str))
        return
    console.print(f"uri: {stats.uri}\nserver: {stats.server_agent}\nnodes: {stats.nodes}\nrelationships: {stats.relationships}")
    for label, count in sorted(stats.by_label.items()):
        console.print(f"  {label}: {count}")


if __name__ == "__main__":
    sys.exit(app())
