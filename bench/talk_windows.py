"""Dense retrieval over meeting talk: Lore's chunks against plain fixed windows of turns, in one process.

    python -m bench.talk_windows [--split val] [--turns 12] [--json out.json]

Every QMSum meeting of the split is searched at once (237 specific queries on val). A query is a
hit at k when one of the first k passages overlaps one of its gold turn spans. Compared, over the
same meetings and queries:
- ``plain``: fixed windows of ``--turns`` consecutive turns (no overlap), ``Speaker: words`` lines,
  embedded by a bare fp32 ``SentenceTransformer`` of the packaged model, exact inner-product search;
- ``lore (<size>, <encoder>)``: Lore's chunker (whole turns up to ``chunk_size``, ``chunk_overlap``
  shared) with the given encoder; ``tokens`` sizes the windows by the encoder's own word pieces.
Bigger windows make a hit easier (each covers more turns), so the mean turns per window is printed
beside every row.
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


def hit_rates(vectors: np.ndarray, windows: list[tuple[int, int, int]], queries: np.ndarray,
              gold: list[tuple[int, tuple[tuple[int, int], ...]]]) -> dict[int, float]:
    """``windows[i]`` = (meeting, first turn, last turn); ``gold[j]`` = (meeting, spans) of query j."""
    scores = queries @ vectors.T
    top = np.argsort(-scores, axis=1)[:, : max(KS)]
    hits = {k: 0 for k in KS}
    for row, (meeting, spans) in zip(top, gold):
        first = next((rank for rank, i in enumerate(row, start=1)
                      if windows[i][0] == meeting and any(windows[i][1] <= b and windows[i][2] >= a for a, b in spans)), None)
        for k in KS:
            hits[k] += first is not None and first <= k
    return {k: hits[k] / len(gold) for k in KS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="val")
    parser.add_argument("--turns", type=int, default=12, help="Turns per plain window.")
    parser.add_argument("--sizes", default="1000", help="Lore chunk sizes to try (characters), comma-separated.")
    parser.add_argument("--tokens", default="254:38", help="Word-piece talk windows to try, size:overlap, comma-separated ('' for none).")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from sentence_transformers import SentenceTransformer

    from core.settings import Settings
    from evaluation.retrieval import qmsum_queries, shared_data_dir
    from ingest.chunking import Chunker
    from ingest.loaders import load_document
    from retrieval.embedder import load_embedder, local_model_dir

    settings = Settings()
    files = sorted((shared_data_dir() / "qmsum").glob(f"{args.split}*.json"))
    meetings = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    documents = [load_document(f, max_bytes=2**30) for f in files]
    gold = [(m, q.spans) for m, f in enumerate(files) for q in qmsum_queries([f])]
    texts = [q.query for f in files for q in qmsum_queries([f])]
    print(f"QMSum {args.split}: {len(files)} meetings, {len(gold)} queries (load {os.getloadavg()[0]:.2f})", flush=True)

    rows: dict[str, dict] = {}
    bare = SentenceTransformer(str(local_model_dir(settings.embedding_model)), device="cpu")
    plain_windows, plain_texts = [], []
    for m, meeting in enumerate(meetings):
        turns = meeting["meeting_transcripts"]
        for first in range(0, len(turns), args.turns):
            window = turns[first : first + args.turns]
            plain_windows.append((m, first, first + len(window) - 1))
            plain_texts.append("\n".join(f"{t['speaker']}: {t['content']}" for t in window))
    started = time.perf_counter()
    vectors = bare.encode(plain_texts, batch_size=32, normalize_embeddings=True)
    queries = bare.encode(texts, normalize_embeddings=True)
    rows[f"plain {args.turns}-turn windows (fp32)"] = {
        "windows": len(plain_windows), "turns_per_window": args.turns, "seconds": time.perf_counter() - started,
        "hit": hit_rates(vectors, plain_windows, queries, gold)}

    encoders = {variant: load_embedder(settings.embedding_model, variant, batch_size=settings.embedding_batch_size,
                                       cache_dir=settings.shared_model_dir)
                for variant in ("onnx-int8", "torch-fp32")}
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(local_model_dir(settings.embedding_model)))

    def word_pieces(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    chunkers = {f"{size} chars": Chunker(size, min(settings.chunk_overlap, size // 4)) for size in (int(s) for s in args.sizes.split(","))}
    for spec in filter(None, args.tokens.split(",")):
        size, overlap = (int(v) for v in spec.split(":"))
        chunkers[f"{size} word pieces"] = Chunker(settings.chunk_size, settings.chunk_overlap, turn_window_tokens=(word_pieces, size, overlap))
    for label, chunker in chunkers.items():
        windows, window_texts = [], []
        for m, document in enumerate(documents):
            for chunk in chunker.split(document):
                windows.append((m, chunk.metadata["turn_start"], chunk.metadata["turn_end"]))
                window_texts.append(chunk.text)
        for name, encoder in encoders.items():
            started = time.perf_counter()
            vectors = np.asarray(encoder.embed(window_texts), dtype=np.float32)
            queries = np.stack([encoder.embed([t])[0] for t in texts]).astype(np.float32)  # one at a time, as searches do
            rows[f"lore {label} ({name})"] = {
                "windows": len(windows), "turns_per_window": float(np.mean([b - a + 1 for _, a, b in windows])),
                "seconds": time.perf_counter() - started, "hit": hit_rates(vectors, windows, queries, gold)}
    print("| system | windows | turns/window | " + " | ".join(f"hit@{k}" for k in KS) + " |")
    print("|---|---|---|" + "---|" * len(KS))
    for name, row in rows.items():
        print(f"| {name} | {row['windows']} | {row['turns_per_window']:.1f} | " + " | ".join(f"{row['hit'][k]:.3f}" for k in KS) + " |")
    print(f"(load {os.getloadavg()[0]:.2f})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
