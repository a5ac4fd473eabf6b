"""The ``lore`` command line (Typer + rich): one module per command group.

Every command goes through ``LoreService`` (``base.open_service``) and reports a
``LoreError`` the same way (``base.lore_errors``). Importing the package is cheap:
each command imports what it needs when it runs, so ``lore --help`` or
``lore documents list`` never load a model.
"""

from __future__ import annotations

# Imported for their commands, in the order `lore --help` lists them.
from api.cli import ingest, ask, serve, documents, graph, keys, evaluate, finetune  # noqa: F401, I001
from api.cli.base import app

__all__ = ["app"]
