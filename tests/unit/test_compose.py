"""docker-compose.yml agrees with the settings (no Docker engine here to run it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_ports(compose):
    services = compose["services"]
    assert set(services) == {"neo4j", "lore-api"}
    neo4j = services["neo4j"]
    assert neo4j["image"].startswith("neo4j:5")
    assert {"7474:7474", "7687:7687"} <= set(neo4j["ports"])
    assert "apoc" in neo4j["environment"]["NEO4J_PLUGINS"]
    assert "healthcheck" in neo4j
    assert {v.split(":")[0] for v in neo4j["volumes"]} <= set(compose["volumes"])


def test_api_env_names_are_settings(compose):
    api = compose["services"]["lore-api"]
    assert api["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    fields = set(Settings.model_fields)
    env = api["environment"]
    for name in env:
        assert name.startswith("LORE_"), name
        assert name.removeprefix("LORE_").lower() in fields, f"{name} is not a Lore setting"
    # The API talks Bolt to the neo4j service on the port the service publishes.
    assert env["LORE_GRAPH_URI"] == "bolt://neo4j:7687"
    assert api["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert f"{env['LORE_API_PORT']}:{env['LORE_API_PORT']}" in api["ports"]


def test_auth_from_environment(compose):
    neo4j_auth = compose["services"]["neo4j"]["environment"]["NEO4J_AUTH"]
    api_password = compose["services"]["lore-api"]["environment"]["LORE_GRAPH_PASSWORD"]
    # Both read the same variable; no password is written into the file.
    assert re.search(r"\$\{NEO4J_PASSWORD", neo4j_auth)
    assert re.search(r"\$\{NEO4J_PASSWORD", api_password)


def test_dockerfile_env_names_are_settings():
    fields = set(Settings.model_fields)
    names = re.findall(r"\b(LORE_[A-Z_]+)=", (ROOT / "Dockerfile").read_text())
    assert names, "Dockerfile sets no LORE_ variables"
    for name in names:
        assert name.removeprefix("LORE_").lower() in fields, name
