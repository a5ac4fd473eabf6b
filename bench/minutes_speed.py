"""Time to produce minutes for a long QMSum meeting (about an hour of talk) with the extractive engine.

    python -m bench.minutes_speed [--meeting val_Bed015] [--threads 2]

Reported against a baseline run in the same process: embedding every turn of the
meeting once (the least any embedding-based engine must do), so the ratio shows
what segmentation, centrality and the cue passes add.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from core.settings import Settings
from generation.minutes.extractive import ExtractiveEngine
from generation.minutes.turns import meeting_turns
from ingest.loaders import load_document
from evaluation.retrieval import shared_data_dir
from retrieval.embedder import SentenceTransformerEmbedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meeting", default="val_Bed015")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    document = load_document(shared_data_dir() / "qmsum" / f"{args.meeting}.json")
    turns = meeting_turns(document)
    embedder = SentenceTransformerEmbedder.from_pretrained(Settings().embedding_model)
    embedder.embed(["warm up"])
    started = time.perf_counter()
    embedder.embed([t.text[:600] for t in turns])
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    minutes = ExtractiveEngine(embedder).build(document, turns)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "meeting": args.meeting, "turns": len(turns), "words": sum(t.words() for t in turns), "threads": args.threads,
        "minutes_seconds": round(seconds, 2), "embed_all_turns_seconds": round(baseline, 2),
        "ratio": round(seconds / baseline, 2), "topics": len(minutes.topics), "decisions": len(minutes.decisions),
        "action_items": len(minutes.action_items),
    }, indent=2))


if __name__ == "__main__":
    main()
