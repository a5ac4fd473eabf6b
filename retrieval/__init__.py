"""Retrieval: embeddings, the FAISS vector store, the metadata store and retrievers."""
