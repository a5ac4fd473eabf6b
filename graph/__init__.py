"""Lore's knowledge graph: a Bolt graph store and the launcher of the local graph server."""

from graph.server import LocalGraphServer, ServerInfo
from graph.store import GraphStore
from graph.views import Edge, EntityView, GraphStats, Neighbourhood

__all__ = ["Edge", "EntityView", "GraphStats", "GraphStore", "LocalGraphServer", "Neighbourhood", "ServerInfo"]
