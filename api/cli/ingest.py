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

    files, _ = discover(paths, follow_symlinks=load_settings().follow_symlinks)
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
