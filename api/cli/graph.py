"""`lore graph`: the local graph server, and what the knowledge graph holds."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from api.cli.base import JsonOpt, app, console, err, load_settings, open_service, print_json, reports_errors
from api.schemas import EntityDetail, GraphStatsOut

if TYPE_CHECKING:
    from graph import GraphStats

graph_app = typer.Typer(help="Manage and inspect the knowledge graph.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")


@graph_app.command("start")
@reports_errors
def graph_start() -> None:
    """Start (or reuse) the local graph server."""
    from api.bootstrap import local_graph_server

    settings = load_settings()
    if settings.graph_uri:
        console.print(f"using the configured graph server at {settings.graph_uri}; nothing to start")
        return
    info = local_graph_server(settings).start()
    console.print(f"graph server running at {info.uri} (pid {info.pid}, HTTP port {info.http_port})")


@graph_app.command("stop")
def graph_stop() -> None:
    """Stop the local graph server."""
    from api.bootstrap import local_graph_server

    stopped = local_graph_server(load_settings()).stop()
    console.print("graph server stopped" if stopped else "no local graph server was running")


def _stats_unless_json(as_json: bool) -> GraphStats | None:
    """The graph's counts, or None once they are printed as JSON (``--json``)."""
    with open_service() as service:
        stats = service.graph_stats()
    if as_json:
        print_json(GraphStatsOut.of(stats))
        return None
    return stats


@graph_app.command("status")
@reports_errors
def graph_status(as_json: JsonOpt = False) -> None:
    """Print the graph server's URI, version and node/relationship counts."""
    settings = load_settings()
    if not settings.graph_uri:
        from api.bootstrap import local_graph_server

        if local_graph_server(settings).status() is None:
            console.print("local graph server: not running (start it with `lore graph start`)")
            raise typer.Exit(1)
    if (stats := _stats_unless_json(as_json)) is None:
        return
    console.print(f"uri: {stats.uri}\nserver: {stats.server_agent}\nnodes: {stats.nodes}\nrelationships: {stats.relationships}")
    for label, count in sorted(stats.by_label.items()):
        console.print(f"  {label}: {count}")


@graph_app.command("stats")
@reports_errors
def graph_stats_command(as_json: JsonOpt = False) -> None:
    """Count nodes by label and relationships by type."""
    if (stats := _stats_unless_json(as_json)) is None:
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
    with open_service() as service:
        view = service.find_entity(entity)
    if view is None:
        err.print(f"[red]no entity matches {entity!r}[/red]")
        raise typer.Exit(1)
    if as_json:
        print_json(EntityDetail.of(view))
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
    with open_service() as service:
        merges = service.graph_merges(status)
    if as_json:
        print_json([asdict(m) for m in merges])
        return
    table = Table("id", "alias", "→ entity", "rule", "score", "status", "documents", "mentions")
    for m in merges:
        table.add_row(str(m.id), f"{m.alias_name} ({m.alias_type})", f"{m.canonical_name} ({m.canonical_type})",
                      m.rule, f"{m.score:.2f}", m.status, str(len(m.document_ids)), ", ".join(m.mentions)[:60])
    console.print(table)


@graph_app.command("unmerge")
def graph_unmerge(merge_id: Annotated[int, typer.Argument(help="Merge id from `lore graph merges`.")]) -> None:
    """Undo a merge: the alias becomes its own entity again, now and on every later ingest."""
    with open_service() as service:
        merge = service.graph_unmerge(merge_id)
    if merge is None:
        err.print(f"[red]no merge with id {merge_id}[/red]")
        raise typer.Exit(1)
    console.print(f"undid merge {merge.id}: {merge.alias_name!r} is no longer {merge.canonical_name!r}; "
                  f"{len(merge.document_ids)} documents re-extracted")


@graph_app.command("enrich")
@reports_errors
def graph_enrich(
    limit: Annotated[Optional[int], typer.Option(min=1, help="Read at most this many chunks, then stop.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the LLM over chunks not yet enriched and add the typed facts it finds to the graph.

    Resumable: stop it (Ctrl-C) or kill it and the next run goes on from the next chunk. It runs
    at low CPU priority, so a `lore serve` on the same machine answers first.
    """
    import os
    import signal

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    try:
        os.nice(10)  # llama.cpp's threads inherit it: queries on this machine go first
    except OSError:
        pass
    stopping = False

    def stop_soon(*_: object) -> None:
        nonlocal stopping
        if stopping:
            raise KeyboardInterrupt
        stopping = True
        err.print("stopping after this chunk (Ctrl-C again to stop now; the run resumes from here next time)")

    previous = signal.signal(signal.SIGINT, stop_soon)
    try:
        with open_service() as service:
            done, total = service.enrichment_progress()
            pending = min(total - done, limit) if limit else total - done
            err.print(f"{done} of {total} chunks enriched; reading {pending} now with {service.settings.llm_model}")
            columns = (TextColumn("[bold]enrich"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                       TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
            with Progress(*columns, console=err, transient=False) as progress:
                task = progress.add_task("enrich", total=pending, rate="")

                def on_chunk(read: int, planned: int, seconds: float) -> None:
                    progress.update(task, completed=read, total=planned,
                                    rate=f"{60 * read / seconds:.1f} chunks/min" if seconds > 0 else "")

                report = service.enrich_graph(limit, progress=on_chunk, stop=lambda: stopping)
    finally:
        signal.signal(signal.SIGINT, previous)
    if as_json:
        print_json(report.as_json())
        return
    console.print(f"read {report.chunks_read} chunks in {report.seconds:.0f} s ({report.chunks_per_minute:.1f} per minute), "
                  f"{report.relations_added} relations found, {report.documents_rewritten} documents' graph rewritten; "
                  f"{report.remaining} chunks left" + (" (stopped early)" if report.interrupted else ""))
    for failure in report.failures[:10]:
        err.print(f"[yellow]not read:[/yellow] {failure}", highlight=False)
