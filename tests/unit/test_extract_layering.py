"""Extraction is part of ingest: it must not import the generation layer (api.bootstrap wires the model in)."""

from __future__ import annotations

import ast
from pathlib import Path

EXTRACT = Path(__file__).resolve().parents[2] / "ingest" / "extract"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_extractors_do_not_import_generation_or_api() -> None:
    files = sorted(EXTRACT.glob("*.py"))
    assert files, "no extractor modules found"
    offending = {
        path.name: sorted(m for m in imported_modules(path) if m.split(".")[0] in ("generation", "api"))
        for path in files
    }
    assert {name: mods for name, mods in offending.items() if mods} == {}
