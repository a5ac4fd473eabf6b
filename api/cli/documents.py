"""`lore documents list|show|delete`: what the knowledge base holds."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from api.cli.base import JsonOpt, app, console, display_path, err, open_service, print_json
from api.schemas import DocumentOut

documents_app = typer.Typer(help="List, show and delete ingested documents.", no_args_is_help=True)
app.add_typer(documents_app, name="documents")


@documents_app.command("list")
def documents_list(as_json: JsonOpt = False) -> None:
    """List ingested documents."""
    with open_service() as service:
        records = service.documents()
    if as_json:
        print_json([DocumentOut.of(r) for r in records])
        return
    table = Table("id", "kind", "chunks", "source")
    for r in records:
        table.add_row(r.id, r.kind, str(r.chunk_count), display_path(r.source))
    console.print(table)


@documents_app.command("show")
def documents_show(
    document_id: str,
    as_json: JsonOpt = False,
    full: Annotated[bool, typer.Option("--full", help="Print whole chunk texts, not the first line.")] = False,
) -> None:
    """Print a document's metadata and its chunks."""
    with open_service() as service:
        found = service.document(document_id)
    if found is None:
        err.print(f"[red]no document with id {document_id}[/red]")
        raise typer.Exit(1)
    record, chunks = found
    if as_json:
        print_json({**DocumentOut.of(record).model_dump(mode="json"),
                    "chunks": [{"vector_id": s.vector_id, **s.chunk.model_dump(mode="json")} for s in chunks]})
        return
    metadata = {k: v for k, v in record.metadata.items() if k not in ("turns", "pages")}
    for label, value in (("id", record.id), ("source", display_path(record.source)), ("title", record.title),
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
    with open_service() as service:
        if not service.delete_document(document_id):
            err.print(f"[red]no document with id {document_id}[/red]")
            raise typer.Exit(1)
    console.print(f"deleted {document_id}")
