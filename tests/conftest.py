"""Shared fixtures.

The graph fixtures run the real local graph server, started by the same
launcher the product uses: one server for the whole session, a clean graph for
every test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from graph import GraphStore, LocalGraphServer

# The default suite answers with the light packaged model (SmolLM2-135M: a second or two per
# answer on 2 cores); the default model (Qwen2.5-Coder-1.5B, 5-10 s per answer) has its own slow
# tests (`pytest -m slow`). A test that means the default names it.
os.environ.setdefault("LORE_LLM_MODEL", "HuggingFaceTB/SmolLM2-135M-Instruct")


@pytest.fixture(scope="session")
def graph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGraphServer]:
    """A running local graph server; ``graph_server.start()`` returns its ServerInfo (cheaply: it reuses)."""
    server = LocalGraphServer(tmp_path_factory.mktemp("graph-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def graph_env(graph_server: LocalGraphServer) -> dict[str, str]:
    """The session server's connection as Settings fields (``Settings(**graph_env, ...)``)."""
    info = graph_server.start()
    return {"graph_uri": info.uri, "graph_user": info.user, "graph_password": info.password,
            "graph_database": info.database}


@pytest.fixture
def graph_store(graph_server: LocalGraphServer) -> Iterator[GraphStore]:
    """An open GraphStore on the session's server, with the schema in place and no data."""
    info = graph_server.start()
    store = GraphStore(info.uri, info.auth, info.database)
    store.open()
    try:
        store.ensure_schema()
        store.clear()
        yield store
    finally:
        store.close()
