"""Lore's entry points: the HTTP API (FastAPI) and the command line (Typer)."""
