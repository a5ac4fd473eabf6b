"""`lore ingest`: files and folders into the knowledge base, with a progress bar and a report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from api.cli.base import app, console, display_path, err, load_settings, open_service


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
    """Parse, chunk, embed and graph every supported file under PATHS.

    Exit code: 0 every file is in; 1 partial (some files failed, each reported with its reason);
    2 failed (the run stopped early, or no file could be written). The --report file is written in
    every case.
    """
    from api.keys import validate_collection
    from ingest.pipeline import IngestInterrupted, IngestReport

    if dry_run:
        _ingest_dry_run(paths, workers, report)
        return
    if collection is not None:
        try:
            validate_collection(collection)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--collection") from None

    try:
        result = _run_ingest(paths, sync=sync, workers=workers, collection=collection, follow=load_settings().follow_symlinks)
    except IngestInterrupted as exc:
        result = exc.report
    except (Exception, typer.Exit) as exc:  # the knowledge base could not even be opened
        result = IngestReport(error=_reason(exc))
    rate = result.chunks / result.seconds if result.seconds else 0.0
    console.print(
        f"{result.status}: added {len(result.added)}, updated {len(result.updated)}, unchanged {len(result.unchanged)}, "
        f"deleted {len(result.deleted)}, failed {len(result.failed)}, skipped {len(result.skipped)}; "
        f"{result.chunks} chunks in {result.seconds:.1f}s ({rate:.1f} chunks/s)"
    )
    for failure in result.failed:
        err.print(f"[yellow]failed[/yellow] {failure.path}: {failure.reason}", markup=True, highlight=False)
    if result.error:
        err.print(f"[red]error:[/red] the run stopped: {result.error}", highlight=False)
    if report:
        report.write_text(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
    raise typer.Exit(result.exit_code)


def _run_ingest(paths: list[Path], *, sync: bool, workers: int | None, collection: str | None, follow: bool):
    from ingest.pipeline import discover

    files = discover(paths, follow_symlinks=follow).files
    with open_service() as service:
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

            return service.ingest(paths, sync=sync, progress=on_progress, workers=workers, collection=collection)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, typer.Exit):  # open_service already printed the error
        return "the knowledge base could not be opened (see the error above)"
    return f"{type(exc).__name__}: {exc}"


def _ingest_dry_run(paths: list[Path], workers: int | None, report: Optional[Path]) -> None:
    with open_service() as service:
        plan = service.plan_ingest(paths, workers=workers)
    for label, action in (("add", "add"), ("update", "update"), ("unchanged", "unchanged")):
        for item in plan.of(action):
            console.print(f"{label:>9}  {display_path(item.source)}", markup=False, highlight=False)
    for failure in plan.failed:
        console.print(f"{'fail':>9}  {display_path(failure.path)}: {failure.reason}", markup=False, highlight=False)
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
