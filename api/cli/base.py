"""The root ``lore`` app and what every command shares: settings, the service, one error
handler, the consoles and the common options."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, ParamSpec, TypeVar

import click
import typer
from pydantic import BaseModel
from rich.console import Console

from core.errors import LoreError
from core.settings import Settings

if TYPE_CHECKING:
    from api.service import LoreService

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(help="Lore: answers from your company's documents and meetings.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

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
    # The file is passed down as a value: every command reads its settings through load_settings().
    ctx.obj = config
    # The CLI draws its own progress bars; the model libraries' per-load bars are noise here.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # Model code must never reach a hub unless the user allows it.
    if not load_settings().allow_downloads:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_settings() -> Settings:
    """This invocation's settings (``--config``, else ``LORE_CONFIG`` or ``./lore.toml``, and ``LORE_*``)."""
    context = click.get_current_context(silent=True)
    config = context.find_root().obj if context is not None else None
    try:
        return Settings.load(config)
    except Exception as exc:  # pydantic ValidationError: show which setting is wrong
        err.print(f"[red]invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def lore_errors() -> Iterator[None]:
    """A ``LoreError`` (bad input, an unreachable server, a model that will not load) becomes
    one red line and exit status 1, never a traceback."""
    try:
        yield
    except LoreError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """The command, with its ``LoreError`` reported as by ``lore_errors``."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with lore_errors():
            return command(*args, **kwargs)

    return run


@contextmanager
def open_service() -> Iterator[LoreService]:
    """The service over this command's settings. Nothing heavy is loaded until an operation
    needs it: listing documents reads one SQLite file, a search loads the embedding model."""
    from api.service import LoreService

    with lore_errors():
        service = LoreService.from_settings(load_settings())
        try:
            yield service
        finally:
            service.close()


def print_json(payload: BaseModel | list[BaseModel] | dict | list) -> None:
    """JSON on stdout: response models as the HTTP API writes them, anything else as it is."""
    import json

    def plain(value):
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    print(json.dumps(plain(payload), ensure_ascii=False, indent=2, default=str))


def display_path(source: str) -> str:
    """A source path relative to the working directory when it lies under it."""
    try:
        return str(Path(source).relative_to(Path.cwd()))
    except ValueError:
        return source
