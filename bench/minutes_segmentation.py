"""How well the minutes' topics follow a meeting's real topics, and what embedding turns costs.

    python -m bench.minutes_segmentation [--split val] [--chars 600,300,200] [--limit-meetings N] [--json OUT]

QMSum annotates each meeting's topics with their turn spans: those are the gold
segmentation (a turn outside every span belongs to the topic before it). For each
length a turn is cut to before it is embedded (``--chars``), the extractive engine's
TextTiling segments the meeting, scored with Pk and WindowDiff (nltk; lower is better,
k = half the mean gold segment), beside two baselines in the same process: evenly
spaced boundaries, as many as TextTiling drew, and no boundary at all. Embedding time
per length is printed with the load average (the minutes stage's cost at ingest).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from nltk.metrics.segmentation import pk, windowdiff

from core.settings import Settings
from evaluation.retrieval import shared_data_dir
from generation.minutes.extractive import embed_turns, segment
from generation.minutes.turns import meeting_turns
from ingest.loaders import load_document
from retrieval.embedder import choose_encoder, load_embedder


def gold_boundaries(topics: list[dict], turns: int) -> str:
    """'1' after each turn where the gold topic changes, '0' elsewhere (``turns - 1`` gaps)."""
    label = [-1] * turns
    starts = sorted((int(a), int(b), t) for t, topic in enumerate(topics) for a, b in topic["relevant_text_span"])
    for first, last, topic in starts:
        for i in range(max(0, first), min(last, turns - 1) + 1):
            if label[i] == -1:
                label[i] = topic
    for i in range(1, turns):  # uncovered turns stay with the topic before them
        if label[i] == -1:
            label[i] = label[i - 1]
    return "".join("1" if label[i] != label[i + 1] and label[i + 1] != -1 else "0" for i in range(turns - 1))


def as_boundaries(segments: list[tuple[int, int]], turns: int) -> str:
    cuts = {last for _, last in segments[:-1]}
    return "".join("1" if i in cuts else "0" for i in range(turns - 1))


def even_boundaries(count: int, turns: int) -> str:
    cuts = {round((j + 1) * turns / (count + 1)) - 1 for j in range(count)}
    return "".join("1" if i in cuts else "0" for i in range(turns - 1))


def scores(reference: str, hypothesis: str) -> tuple[float, float]:
    segments = reference.count("1") + 1
    k = max(2, round(len(reference) / segments / 2))
    return pk(reference, hypothesis, k=k), windowdiff(reference, hypothesis, k)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val")
    parser.add_argument("--chars", default="600,300,200", help="lengths a turn is cut to before embedding")
    parser.add_argument("--limit-meetings", type=int)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    settings = Settings()
    files = sorted((shared_data_dir() / "qmsum").glob(f"{args.split}_*.json"))[: args.limit_meetings]
    variant = choose_encoder(settings.embedding_backend, settings.embedding_model, device="cpu", index_encoder=None)
    embedder = load_embedder(settings.embedding_model, variant, cache_dir=settings.shared_model_dir)
    meetings = []
    for path in files:
        turns = meeting_turns(load_document(path))
        topics = json.loads(path.read_text(encoding="utf-8"))["topic_list"]
        if len(turns) > 2:
            meetings.append((turns, gold_boundaries(topics, len(turns))))
    lengths = [int(c) for c in args.chars.split(",")]
    embedder.embed(["warm up the encoder"])
    table: dict[str, dict] = {}
    for chars in lengths:
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        vectors = [embed_turns(embedder, turns, chars=chars) for turns, _ in meetings]
        seconds = time.perf_counter() - started
        rows = {f"textiling-{chars}": [], f"even-{chars}": []}
        for (turns, reference), v in zip(meetings, vectors):
            found = as_boundaries(segment(v, min_segment=max(8, len(turns) // 30)), len(turns))
            rows[f"textiling-{chars}"].append(scores(reference, found))
            rows[f"even-{chars}"].append(scores(reference, even_boundaries(found.count("1"), len(turns))))
        for name, values in rows.items():
            table[name] = {"pk": round(float(np.mean([p for p, _ in values])), 4),
                           "windowdiff": round(float(np.mean([w for _, w in values])), 4)}
        table[f"textiling-{chars}"] |= {"embed_s": round(seconds, 1), "load_before": round(load_before, 2),
                                        "load_after": round(os.getloadavg()[0], 2)}
        print(f"chars {chars:4d}: embed {seconds:6.1f} s (load {load_before:.2f} -> {os.getloadavg()[0]:.2f}) "
              f"TextTiling {table[f'textiling-{chars}']} even {table[f'even-{chars}']}", flush=True)
    none = [scores(reference, "0" * len(reference)) for _, reference in meetings]
    table["no-boundary"] = {"pk": round(float(np.mean([p for p, _ in none])), 4),
                            "windowdiff": round(float(np.mean([w for _, w in none])), 4)}
    figures = {"split": args.split, "meetings": len(meetings), "encoder": variant, "systems": table}
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
