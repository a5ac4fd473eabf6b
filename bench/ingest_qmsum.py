"""Ingest throughput on the QMSum meetings, against bare ``SentenceTransformer.encode`` in the same process.

    python -m bench.ingest_qmsum [--limit N] [--shortest] [--no-minutes] [--workers N] [--json out.json]

Starts a real local graph server and a fresh data directory in a temporary
folder, then measures, in this order and in this one process:

1. end-to-end ingest: the wall time of ``LoreService.ingest`` (parse, chunk, embed,
   SQLite, FAISS, spaCy extraction with entity resolution, graph writes, the
   minutes written for each meeting when ``minutes_at_ingest`` is on, and the
   BM25/catalog refresh). Every text the embedder is asked to encode on the way
   is recorded: the file chunks, the minutes' chunks, the speaker turns the
   minutes builder embeds, and the entity names resolution compares;
2. bare encode: one fp32 ``SentenceTransformer.encode`` of exactly those recorded
   texts (same model and batch size), after a warm-up: today's floor, whichever
   encoder ingest used (``--encoder``; default the ``auto`` setting, int8 ONNX on a CPU);
3. re-ingest of the unchanged corpus.

Reports chunks/s, wall times, peak RSS, the ratio ingest / bare fp32 encode (target
<= 0.7 with the int8 encoder, <= 1.25 with fp32) and re-ingest as a share of the first ingest (target < 5%).
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
    parser.add_argument("--shortest", action="store_true", help="With --limit: take the shortest meetings (by file size).")
    parser.add_argument("--no-minutes", action="store_true", help="Ingest without writing minutes for each meeting.")
    parser.add_argument("--encoder", choices=("auto", "torch-fp32", "onnx-int8"), default="auto",
                        help="Encoder ingest embeds with (the bare-encode baseline is always fp32 torch).")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from api.service import LoreService
    from core.settings import Settings
    from graph import LocalGraphServer
    from ingest.parsing import parse_file
    from ingest.pipeline import discover
    from evaluation.retrieval import shared_data_dir
    from retrieval.embedder import SentenceTransformerEmbedder

    folder = args.data or shared_data_dir() / "qmsum"
    if not folder.is_dir():
        print(f"QMSum data not found at {folder}", file=sys.stderr)
        return 2
    files = discover([folder]).files
    if args.shortest:
        files = sorted(files, key=lambda f: (f.stat().st_size, str(f)))
    files = files[: args.limit] if args.limit else files

    with tempfile.TemporaryDirectory(prefix="lore-bench-") as tmp:
        server = LocalGraphServer(Path(tmp) / "graph-server")
        info = server.start()
        try:
            settings = Settings(
                data_dir=Path(tmp) / "data", graph_uri=info.uri, graph_user=info.user, graph_password=info.password,
                graph_database=info.database, ingest_workers=args.workers,
                minutes_at_ingest=not args.no_minutes, embedding_backend=args.encoder,
            )
            with LoreService.from_settings(settings) as service:
                pipeline = service.pipeline
                embedder = pipeline.embedder
                model = SentenceTransformerEmbedder.from_pretrained(settings.embedding_model)._model
                embedder.embed(["load the ingest encoder before the clock starts"])
                encode = dict(batch_size=settings.embedding_batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)
                # Warm-up on this corpus's own chunks: first calls pay for allocation.
                parsed = parse_file(files[0], pipeline.max_file_bytes, settings.chunk_size, settings.chunk_overlap)
                if not isinstance(parsed, tuple):
                    raise SystemExit(f"cannot parse {parsed.path}: {parsed.reason}")
                model.encode([c.text for c in parsed[1]][:128], **encode)

                # Record every text ingest embeds (the same object serves pipeline, resolution and minutes).
                recorded: list[list[str]] = []
                embed = embedder.embed

                def recording(texts):
                    recorded.append(list(texts))
                    return embed(texts)

                embedder.embed = recording
                load = {"ingest_start": os.getloadavg()[0]}
                started, cpu = time.perf_counter(), time.process_time()
                first = service.ingest(files)
                ingest_s, ingest_cpu = time.perf_counter() - started, time.process_time() - cpu
                load["ingest_end"] = os.getloadavg()[0]
                embedder.embed = embed
                if not first.ok:
                    raise SystemExit(f"ingest failed: {first.failed[:3]}")
                texts = [t for call in recorded for t in call]

                started, cpu = time.perf_counter(), time.process_time()
                model.encode(texts, **encode)
                bare, bare_cpu = time.perf_counter() - started, time.process_time() - cpu
                load["bare_end"] = os.getloadavg()[0]

                again = service.ingest(files)
                assert again.chunks == 0 and len(again.unchanged) == len(files)
                graph_stats = service.graph_stats()
                documents = service.documents()
                stored_chunks = sum(len(service.metadata.chunks_for_document(d.id)) for d in documents)
        finally:
            server.stop()

    figures = {
        "machine": machine(),
        # 1-minute load average at the phase edges: the machine may be shared, and the wall-time
        # ratio is only as good as the load was even across the two phases.
        "load_average": {k: round(v, 2) for k, v in load.items()},
        "files": len(files),
        "minutes_at_ingest": not args.no_minutes,
        "encoder": service.parts.encoder,
        "chunks_from_files": first.chunks,
        "chunks_stored": stored_chunks,
        "texts_embedded": len(texts),
        "embed_calls": len(recorded),
        "bare_encode_s": round(bare, 2),
        "bare_encode_texts_per_s": round(len(texts) / bare, 1),
        "ingest_s": round(ingest_s, 2),
        "ingest_pipeline_s": round(first.seconds, 2),
        "ingest_chunks_per_s": round(stored_chunks / ingest_s, 1),
        "ratio_ingest_to_encode": round(ingest_s / bare, 3),  # bare encode is fp32 torch
        # CPU seconds of this process (all threads): less sensitive to other jobs on the machine,
        # but blind to the graph server's own work, which runs in its own process.
        "ingest_cpu_s": round(ingest_cpu, 2),
        "bare_encode_cpu_s": round(bare_cpu, 2),
        "cpu_ratio_ingest_to_encode": round(ingest_cpu / bare_cpu, 3),
        "reingest_s": round(again.seconds, 3),
        "reingest_share": round(again.seconds / ingest_s, 4),
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
