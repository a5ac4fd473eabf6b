"""What committing every few seconds costs: ingest throughput and time to the first searchable document.

    python -m bench.commit_cadence --limit 12 --repeat 2 --out docs/benchmarks/commit_cadence.json

Ingests the same QMSum meetings into fresh data directories, in this one process and on one
graph server, alternating two write policies:

- ``batched``: the previous policy, one write round per 1,024 chunks and nothing else
  (``ingest_commit_seconds`` set out of reach);
- ``cadence``: the default, a write round within about ``ingest_commit_seconds`` (5 s),
  batches sized from the measured write rate.

Reports chunks/s (the ratio cadence / batched is the throughput kept), the seconds from the
start of the run until the first document was written (searchable), and the longest gap
between two writes. Minutes are off: they are written after the files and would blur both
figures. The load average is printed beside every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import load_average

REPO = Path(__file__).resolve().parents[1]
POLICIES = {"batched": {"ingest_batch_chunks": 1024, "ingest_commit_seconds": 1e9},
            "cadence": {}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=12, help="QMSum meetings to ingest (the largest first).")
    parser.add_argument("--repeat", type=int, default=2, help="Runs of each policy, alternated.")
    parser.add_argument("--out", type=Path, default=None, help="Write the figures here as JSON.")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from api.bootstrap import build
    from api.service import LoreService
    from core.settings import Settings
    from evaluation.retrieval import shared_data_dir
    from graph import GraphStore, LocalGraphServer
    from ingest.pipeline import discover

    files = sorted(discover([shared_data_dir() / "qmsum"]).files, key=lambda f: (-f.stat().st_size, str(f)))
    files = files[: args.limit]
    results: dict[str, list[dict]] = {name: [] for name in POLICIES}
    with tempfile.TemporaryDirectory(prefix="lore-cadence-") as tmp:
        server = LocalGraphServer(Path(tmp) / "graph-server")
        info = server.start()
        embedder = None
        try:
            for attempt in range(args.repeat):
                for name, overrides in POLICIES.items():
                    with GraphStore(info.uri, info.auth, info.database) as store:
                        store.ensure_schema()
                        store.clear()
                    settings = Settings(data_dir=Path(tmp) / f"{name}-{attempt}", graph_uri=info.uri,
                                        graph_user=info.user, graph_password=info.password,
                                        graph_database=info.database, minutes_at_ingest=False, **overrides)
                    parts = build(settings)
                    if embedder is not None:  # one model in memory for every run: no reload in the timing
                        parts.embedder = embedder
                    service = LoreService(parts).open()
                    parts.extractor  # spaCy loaded before the clock starts, as the embedder is
                    embedder = parts.embedder
                    writes: list[float] = []
                    load = load_average()
                    started = time.perf_counter()
                    report = service.ingest(files, progress=lambda event, n: event == "chunks" and writes.append(
                        time.perf_counter()))
                    seconds = time.perf_counter() - started
                    service.close()
                    gaps = [b - a for a, b in zip([started, *writes], writes)]
                    run = {"seconds": round(seconds, 2), "chunks": report.chunks,
                           "chunks_per_s": round(report.chunks / seconds, 2),
                           "first_write_s": round(writes[0] - started, 2), "longest_gap_s": round(max(gaps), 2),
                           "load_before": load, "load_after": load_average()}
                    results[name].append(run)
                    print(f"{name:>8} run {attempt + 1}: {run}", flush=True)
        finally:
            server.stop()

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    summary = {
        "meetings": len(files),
        "chunks": results["cadence"][0]["chunks"],
        "chunks_per_s": {n: median(n, "chunks_per_s") for n in POLICIES},
        "throughput_kept": round(median("cadence", "chunks_per_s") / median("batched", "chunks_per_s"), 3),
        "first_write_s": {n: median(n, "first_write_s") for n in POLICIES},
        "longest_gap_s": {n: median(n, "longest_gap_s") for n in POLICIES},
        "runs": results,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
