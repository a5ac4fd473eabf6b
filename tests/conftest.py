"""Shared fixtures.

The graph fixtures run the real local graph server, started by the same
launcher the product uses: one server for the whole session, a clean graph for
every test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graph import GraphStore, LocalGraphServer


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
