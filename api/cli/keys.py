"""`lore keys create|list|revoke`: API keys for the HTTP API."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Optional

import typer
from rich.table import Table

from api.cli.base import JsonOpt, app, console, err, load_settings, print_json

keys_app = typer.Typer(help="Manage API keys for the HTTP API.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


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
        with KeyStore(load_settings().api_db_path) as keys:
            record, secret = keys.create(name, _split(scopes) or [], _split(collections))
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        print_json({"id": record.id, "name": record.name, "scopes": list(record.scopes),
                    "collections": record.collections and list(record.collections), "key": secret})
        return
    console.print(f"created key {record.id} ({record.name}): scopes {', '.join(record.scopes)}; "
                  f"collections {', '.join(record.collections) if record.collections else 'all'}")
    console.print("store it now, it will not be shown again:")
    print(secret)


@keys_app.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """List API keys (never the keys themselves)."""
    from api.keys import KeyStore

    with KeyStore(load_settings().api_db_path) as keys:
        records = keys.list()
    if as_json:
        print_json([asdict(r) for r in records])
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

    with KeyStore(load_settings().api_db_path) as keys:
        if not keys.revoke(key_id):
            err.print(f"[red]no active key with id {key_id}[/red]")
            raise typer.Exit(1)
    console.print(f"revoked {key_id}")
