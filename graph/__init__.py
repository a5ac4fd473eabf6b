"""Lore's knowledge graph: a Bolt graph store and the launcher of the local graph server."""

from graph.server import LocalGraphServer, ServerInfo
from graph.store import GraphStats, GraphStore

__all__ = ["GraphStats", "GraphStore", "LocalGraphServer", "ServerInfo"]
