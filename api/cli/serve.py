"""`lore serve`: the HTTP API."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from api.cli.base import app, err, load_settings


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Run the HTTP API and the web app (/), with its docs at /docs and /redoc."""
    import uvicorn

    from api.app import create_app
    from api.keys import KeyStore

    settings = load_settings()
    if settings.auth_required:
        with KeyStore(settings.api_db_path) as keys:
            if keys.active_count() == 0:
                err.print(
                    "[yellow]no API keys exist yet:[/yellow] every /v1 request will get 401. Create the first one with\n"
                    "  lore keys create --name admin --scopes read,ingest,admin\n"
                    "(or set LORE_AUTH_REQUIRED=false on a trusted machine)."
                )
    host, port = host or settings.api_host, port or settings.api_port
    err.print(f"Lore: web app http://{host}:{port}/ · API docs http://{host}:{port}/docs · "
              f"OpenAI-compatible base URL http://{host}:{port}/v1")
    uvicorn.run(create_app(settings), host=host, port=port)
