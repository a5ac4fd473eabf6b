"""Lore's storage floor: the SQLite metadata store (the source of truth), the FAISS vector
index derived from it, the SQLite base the job, key and merge stores share, and the
protocols the layers above are typed against (`storage.protocols`).

Kept import-light on purpose: importing `storage` loads neither FAISS nor a driver, so the
commands that only read metadata start fast.
"""
