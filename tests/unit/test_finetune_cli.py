"""`lore finetune list|activate` on a data directory with saved adapter versions (no model needed)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from api.cli import app
from generation.finetune.registry import AdapterRegistry, Manifest


def test_list_and_activate_versions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LORE_DATA_DIR", str(tmp_path / "kb"))
    registry = AdapterRegistry(tmp_path / "kb" / "adapters")
    for version in ("v1", "v2"):
        registry.path(version).mkdir(parents=True)
        Manifest(
            version=version, base_model="HuggingFaceTB/SmolLM2-135M-Instruct", data_hash="d" * 64, created_at="2026-01-01",
            data={"train": 50, "validation": 9}, metrics={"before": {"f1": 0.1, "citation_accuracy": 0.2},
                                                          "after": {"f1": 0.4, "citation_accuracy": 0.6}},
        ).save(registry.path(version))
    runner = CliRunner()

    result = runner.invoke(app, ["finetune", "activate", "v2"])
    assert result.exit_code == 0, result.output
    assert registry.active() == "v2"

    listed = json.loads(runner.invoke(app, ["finetune", "list", "--json"]).stdout)
    assert listed["active"] == "v2" and [v["version"] for v in listed["versions"]] == ["v1", "v2"]

    missing = runner.invoke(app, ["finetune", "activate", "v7"])
    assert missing.exit_code == 1 and registry.active() == "v2"

    assert runner.invoke(app, ["finetune", "activate", "none"]).exit_code == 0
    assert registry.active() is None
