"""What the multilingual (Chinese) index costs at ingest, in one process.

    python -m bench.multilingual_ingest [--repeat 2] [--json OUT]

Two corpora, each ingested into a fresh data directory with ``multilingual_index`` on and
off, alternately, ``--repeat`` times: the CMRC 2018 trial paragraphs (Chinese: the index
embeds every chunk a second time, with multilingual-e5-small) and the 18F handbook pages
(English: the index must cost nothing, its encoder is never loaded). Minutes are off (no
meetings in either). The wall time of ``LoreService.ingest`` and the load average are
printed beside every run; ratios are on / off of the best run of each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from api.service import LoreService
    from bench.ingest_qmsum import machine
    from core.settings import Settings
    from evaluation import retrieval as ev
    from evaluation.retrieval import shared_data_dir
    from graph.server import LocalGraphServer

    data = shared_data_dir()
    work = Path(tempfile.mkdtemp(prefix="lore-bench-multilingual-"))
    cmrc = work / "cmrc-paragraphs"
    ev.write_cmrc_corpus(data / "cmrc2018" / "trial.json", cmrc)
    corpora = {"cmrc (Chinese)": cmrc, "handbook-18f (English)": data / "handbook-18f" / "pages"}
    server = LocalGraphServer(work / "graph")
    info = server.start()
    runs: dict[str, dict[str, list[dict]]] = {name: {"on": [], "off": []} for name in corpora}
    try:
        for attempt in range(args.repeat):
            for name, folder in corpora.items():
                for side in ("on", "off"):
                    settings = Settings(data_dir=work / f"{attempt}-{side}-{folder.name}", graph_uri=info.uri,
                                        graph_user=info.user, graph_password=info.password,
                                        graph_database=info.database, minutes_at_ingest=False,
                                        multilingual_index=side == "on")
                    with LoreService.from_settings(settings) as service:
                        service.graph.clear()
                        service.parts.embedder.embed(["warm up"])  # model load is not ingest
                        load = os.getloadavg()[0]
                        started = time.perf_counter()
                        report = service.ingest([folder])
                        seconds = time.perf_counter() - started
                        indexes = service.parts.language_indexes
                        second = len(indexes[0].store) if indexes else 0
                        loaded = bool(indexes) and indexes[0].embedder.loaded
                    row = {"seconds": round(seconds, 2), "chunks": report.chunks, "second_index_chunks": second,
                           "e5_loaded": loaded, "load": [round(load, 2), round(os.getloadavg()[0], 2)]}
                    runs[name][side].append(row)
                    print(f"{name:24s} index {side:3s}: {seconds:6.1f} s, {report.chunks} chunks, "
                          f"{second} in the second index, e5 loaded {loaded}, load {load:.2f} -> "
                          f"{os.getloadavg()[0]:.2f}", flush=True)
    finally:
        server.stop()
    ratios = {name: round(min(r["seconds"] for r in sides["on"]) / min(r["seconds"] for r in sides["off"]), 3)
              for name, sides in runs.items()}
    figures = {"machine": machine(), "runs": runs, "ratio_on_to_off": ratios}
    print(json.dumps({"ratio_on_to_off": ratios}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
