"""Encoder throughput: int8 ONNX (onnxruntime) against fp32 torch on the same QMSum chunks, in one process.

    python -m bench.embedding_backends [--chunks 10000] [--repeat 2] [--threads N] [--json out.json]

Chunks come from Lore's own parser and chunker over the QMSum meetings in
``shared/data/qmsum`` (the first ``--chunks`` of them, in file order). Each encoder
embeds all of them once to warm up on the first batch, then ``--repeat`` timed
passes alternate between the two, so a change in machine load hits both alike; the
load average is printed beside every pass. Also reported: how close the int8 vectors
are to fp32 (cosine per chunk) and how often a chunk's nearest neighbour among the
others stays the same.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def qmsum_chunks(limit: int) -> list[str]:
    from core.settings import Settings
    from evaluation.retrieval import shared_data_dir
    from ingest.parsing import parse_file
    from ingest.pipeline import discover

    settings = Settings()
    texts: list[str] = []
    for path in discover([shared_data_dir() / "qmsum"]).files:
        parsed = parse_file(path, int(settings.max_file_mb * 2**20), settings.chunk_size, settings.chunk_overlap)
        if isinstance(parsed, tuple):
            texts += [chunk.text for chunk in parsed[1]]
        if len(texts) >= limit:
            break
    return texts[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2, help="Timed passes per encoder.")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: the cores this process may use).")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from bench.ingest_qmsum import machine
    from core.settings import Settings
    from retrieval.embedder import load_embedder

    settings = Settings()
    texts = qmsum_chunks(args.chunks)
    with tempfile.TemporaryDirectory(prefix="lore-bench-onnx-") as cache:
        started = time.perf_counter()
        encoders = {
            variant: load_embedder(settings.embedding_model, variant, batch_size=settings.embedding_batch_size,
                                   threads=args.threads, cache_dir=Path(cache))
            for variant in ("torch-fp32", "onnx-int8")
        }
        export_s = time.perf_counter() - started
        for encoder in encoders.values():
            encoder.embed(texts[:settings.embedding_batch_size])
        passes: dict[str, list[dict[str, float]]] = {name: [] for name in encoders}
        vectors: dict[str, np.ndarray] = {}
        for _ in range(args.repeat):
            for name, encoder in encoders.items():
                load_before = os.getloadavg()[0]
                started = time.perf_counter()
                vectors[name] = encoder.embed(texts)
                seconds = time.perf_counter() - started
                passes[name].append({"seconds": round(seconds, 2), "chunks_per_s": round(len(texts) / seconds, 1),
                                     "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)})
                print(f"{name:10s} {len(texts)} chunks in {seconds:6.1f} s ({len(texts) / seconds:6.1f}/s), "
                      f"load {load_before:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)

    fp32, int8 = vectors["torch-fp32"], vectors["onnx-int8"]
    cosine = (fp32 * int8).sum(axis=1)
    sample = slice(0, min(len(texts), 2000))

    def nearest(v: np.ndarray) -> np.ndarray:
        sims = v[sample] @ v[sample].T
        np.fill_diagonal(sims, -np.inf)
        return sims.argmax(axis=1)

    best = {name: min(p["seconds"] for p in runs) for name, runs in passes.items()}
    figures = {
        "machine": machine(),
        "chunks": len(texts),
        "model": settings.embedding_model,
        "onnx_threads": args.threads or len(os.sched_getaffinity(0)),
        "export_and_load_s": round(export_s, 1),
        "passes": passes,
        "speedup_int8_over_fp32": round(best["torch-fp32"] / best["onnx-int8"], 2),
        "cosine_to_fp32": {"min": round(float(cosine.min()), 4), "p5": round(float(np.percentile(cosine, 5)), 4),
                           "mean": round(float(cosine.mean()), 4)},
        "same_nearest_neighbour": round(float((nearest(fp32) == nearest(int8)).mean()), 3),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
