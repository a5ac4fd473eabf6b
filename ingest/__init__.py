"""Ingest: files to documents, chunks, vectors and graph facts."""
