"""Ingest throughput on the QMSum meetings, against bare ``SentenceTransformer.encode`` in the same process.

    python -m bench.ingest_qmsum [--limit N] [--workers N] [--json out.json]

Starts a real local graph server and a fresh data directory in a temporary
folder, then measures, in this order and in this one process:

1. bare encode: ``SentenceTransformer.encode`` of exactly the chunks ingest will
   produce (the same model object and batch size), after a warm-up;
2. end-to-end ingest through ``LoreService.ingest`` (parse, chunk, embed, SQLite,
   FAISS, spaCy extraction, graph writes);
3. re-ingest of the unchanged corpus.

Reports chunks/s, wall times, peak RSS, the ratio ingest / bare encode (target
<= 1.25) and re-ingest as a share of the first ingest (target < 5%).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """``$LORE_SHARED_DATA``, else the nearest ``shared/data`` beside the repository or one of its parents."""
    if os.environ.get("LORE_SHARED_DATA"):
        return Path(os.environ["LORE_SHARED_DATA"])
    return next((p / "shared" / "data" for p in REPO.parents if (p / "shared" / "data").is_dir()), REPO / "shared" / "data")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def machine() -> str:
    cpus = os.cpu_count()
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        threads = None
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpus} CPUs ({model}), {memory:.0f} GiB RAM, torch threads {threads}, Python {platform.python_version()}, no GPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="Ingest only the first N meetings.")
    parser.add_argument("--workers", type=int, default=1, help="Parsing processes.")
    parser.add_argument("--data", type=Path, default=None, help="QMSum folder (default: shared/data/qmsum).")
    parser.add_argument("--json", type=Path, default=None, help="Write the figures here as JSON.")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from api.service import LoreService
    from core.settings import Settings
    from graph import LocalGraphServer
    from ingest.pipeline import discover, parse_file

    folder = args.data or shared_data() / "qmsum"
    if not folder.is_dir():
        print(f"QMSum data not found at {folder}", file=sys.stderr)
        return 2
    files, _ = discover([folder])
    files = files[: args.limit] if args.limit else files

    with tempfile.TemporaryDirectory(prefix="lore-bench-") as tmp:
        server = LocalGraphServer(Path(tmp) / "graph-server")
        info = server.start()
        try:
            settings = Settings(
                data_dir=Path(tmp) / "data", graph_uri=info.uri, graph_user=info.user, graph_password=info.password,
                graph_database=info.database, ingest_workers=args.workers,
            )
            with LoreService(settings) as service:
                pipeline = service.pipeline
                # The exact chunks ingest will embed (parsing is cheap next to embedding).
                texts = []
                for path in files:
                    parsed = parse_file(path, pipeline.max_file_bytes, settings.chunk_size, settings.chunk_overlap)
                    if not isinstance(parsed, tuple):
                        raise SystemExit(f"cannot parse {parsed.path}: {parsed.reason}")
                    texts.extend(c.text for c in parsed[1])
                model = pipeline.embedder._model
                encode = dict(batch_size=settings.embedding_batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)
                model.encode(texts[:128], **encode)  # warm-up: first calls pay for allocation
                started = time.perf_counter()
                model.encode(texts, **encode)
                bare = time.perf_counter() - started

                first = service.ingest(files)
                if not first.ok:
                    raise SystemExit(f"ingest failed: {first.failed[:3]}")
                again = service.ingest(files)
                assert again.chunks == 0 and len(again.unchanged) == len(files)
                graph_stats = service.graph_stats()
        finally:
            server.stop()

    figures = {
        "machine": machine(),
        "files": len(files),
        "chunks": first.chunks,
        "bare_encode_s": round(bare, 2),
        "bare_encode_chunks_per_s": round(len(texts) / bare, 1),
        "ingest_s": round(first.seconds, 2),
        "ingest_chunks_per_s": round(first.chunks / first.seconds, 1),
        "ratio_ingest_to_encode": round(first.seconds / bare, 3),
        "reingest_s": round(again.seconds, 3),
        "reingest_share": round(again.seconds / first.seconds, 4),
        "peak_rss_mib": round(peak_rss_mib(), 0),
        "stage_seconds": {k: round(v, 2) for k, v in first.timings.items()},
        "graph_nodes": graph_stats.nodes,
        "graph_relationships": graph_stats.relationships,
        "workers": args.workers,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
