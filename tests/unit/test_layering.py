"""The house rules: every import in the product points down the stack.

    core                      shared vocabulary, types, settings: imports no layer
    storage, graph            the stores: only core
    ingest, retrieval         only core and storage (the protocols), never each other
    generation                core, storage, retrieval; never ingest
    api                       the service, the composition root and the HTTP API: any layer below
    evaluation                above the service: may use api
    api.cli                   the command line, the front door: may use everything

Lazy imports inside functions count as much as those at the top of a module: a
layer that reaches up at run time is tied to what is above it all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("core", "storage", "graph", "ingest", "retrieval", "generation", "api", "evaluation")

ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "storage": {"core"},
    "graph": {"core"},
    "ingest": {"core", "storage"},
    "retrieval": {"core", "storage"},
    "generation": {"core", "storage", "retrieval"},
    "api": {"core", "storage", "graph", "ingest", "retrieval", "generation"},
    "evaluation": {"core", "storage", "graph", "ingest", "retrieval", "generation", "api"},
    "api.cli": set(LAYERS),
}


def layer_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[:2] == ("api", "cli"):
        return "api.cli"
    return parts[0]


def imports_of(source: str) -> set[str]:
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def target_layer(module: str) -> str | None:
    if module == "api.cli" or module.startswith("api.cli."):
        return "api.cli"
    top = module.split(".")[0]
    return top if top in LAYERS else None


def product_files() -> list[Path]:
    return sorted(p for layer in LAYERS if (ROOT / layer).is_dir() for p in (ROOT / layer).rglob("*.py"))


def wrong_imports(layer: str, source: str) -> list[str]:
    """The modules ``source`` (a module of ``layer``) imports from a layer it may not use."""
    return sorted(
        module for module in imports_of(source)
        if (target := target_layer(module)) is not None and target != layer and target not in ALLOWED[layer]
    )


def test_every_product_import_points_down_the_stack() -> None:
    files = product_files()
    assert len(files) > 50, "the product's modules were not found"
    found = {str(p.relative_to(ROOT)): wrong_imports(layer_of(p), p.read_text(encoding="utf-8")) for p in files}
    assert {name: modules for name, modules in found.items() if modules} == {}


@pytest.mark.parametrize(("layer", "module"), [
    ("core", "storage.metadata"),
    ("storage", "graph.store"),
    ("ingest", "retrieval.embedder"),
    ("retrieval", "ingest.chunking"),
    ("generation", "ingest.extract"),
    ("retrieval", "api.service"),
])
def test_an_import_up_the_stack_is_caught(layer: str, module: str) -> None:
    # The rule must be able to fail: a module that reaches up is reported, lazily imported or not.
    assert wrong_imports(layer, f"def later():\n    import {module}\n") == [module]
    assert wrong_imports(layer, f"from {module} import something\n") == [module]
    assert wrong_imports(layer, "import core.types\nimport numpy\n") == []


def test_the_command_line_may_use_every_layer_and_nothing_below_api_may_use_it() -> None:
    assert layer_of(ROOT / "api" / "cli" / "graph.py") == layer_of(ROOT / "api" / "cli.py") == "api.cli"
    assert wrong_imports("api.cli", "import evaluation.runner\nimport api.service\n") == []
    assert wrong_imports("api", "import api.cli\n") == ["api.cli"]
    assert wrong_imports("evaluation", "from api.cli import app\n") == ["api.cli"]
