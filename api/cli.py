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
