"""Document chunks by heading against Lore's chunks, for dense retrieval, in one process.

    python -m bench.heading_chunks [--json OUT]

Corpus: the 18F handbook pages (``shared/data/handbook-18f/pages``); questions:
``bench/sets/handbook18f_questions.jsonl`` and ``handbook18f_multihop.jsonl`` (gold: the
page, or both pages; recall@k is the share of gold pages among the first k distinct pages).
Each way of chunking is embedded by the configured encoder and searched by exact inner
product, dense only (no BM25, no fusion), so only the chunks differ:

* ``lore``: Lore's chunks as ingest makes them (recursive Markdown-aware splitter, 1,000
  characters, 150 overlap; a chunk may run across a heading);
* ``lore+path``: the same chunks, embedded with the page title and heading path in front;
* ``sections``: one chunk per section (text between two headings), split further by the
  same splitter only when longer than a chunk, so no chunk crosses a heading;
* ``sections+path``: those, with the title and heading path in front.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from core.settings import Settings
    from evaluation.retrieval import shared_data_dir
    from ingest.chunking import Chunker, _heading_index, _heading_path_at
    from ingest.loaders import load_document
    from ingest.pipeline import discover
    from retrieval.embedder import choose_encoder, load_embedder

    settings = Settings()
    pages = shared_data_dir() / "handbook-18f" / "pages"
    chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
    documents = [(path.relative_to(pages).as_posix(), load_document(path)) for path in discover([pages]).files]

    def lore(document):
        return [(c.text, c.metadata.get("heading_path") or []) for c in chunker.split(document)]

    def sections(document):
        index = _heading_index(document.text)
        edges = sorted({0, *index[0], len(document.text)})
        found = []
        for start, end in zip(edges, edges[1:]):
            part = document.model_copy(update={"text": document.text[start:end]})
            path = _heading_path_at(index, start)  # the section's place in the whole page
            found += [(c.text, path) for c in chunker.split(part)]
        return found

    def with_path(document, chunks):
        return [(f"{' > '.join([document.title, *path])}\n{text}", path) for text, path in chunks]

    ways = {
        "lore": lambda d: lore(d),
        "lore+path": lambda d: with_path(d, lore(d)),
        "sections": lambda d: sections(d),
        "sections+path": lambda d: with_path(d, sections(d)),
    }
    sets = {name: [q for line in (REPO / "bench" / "sets" / file).read_text().splitlines() if line.strip()
                   if (q := json.loads(line)).get("sources") or q.get("source")]  # answerable ones
            for name, file in (("18f", "handbook18f_questions.jsonl"), ("18f-multihop", "handbook18f_multihop.jsonl"))}
    variant = choose_encoder(settings.embedding_backend, settings.embedding_model, device="cpu", index_encoder=None)
    embedder = load_embedder(settings.embedding_model, variant, cache_dir=settings.shared_model_dir)
    query_vectors = {name: embedder.embed([q["question"] for q in questions]) for name, questions in sets.items()}
    table: dict[str, dict] = {}
    for way, make in ways.items():
        texts, owners = [], []
        for source, document in documents:
            for text, _ in make(document):
                texts.append(text)
                owners.append(source)
        load = os.getloadavg()[0]
        started = time.perf_counter()
        vectors = embedder.embed(texts)
        seconds = time.perf_counter() - started
        row = {"chunks": len(texts), "embed_s": round(seconds, 1), "load": [round(load, 2), round(os.getloadavg()[0], 2)]}
        for name, questions in sets.items():
            scores = query_vectors[name] @ vectors.T
            recall = {k: [] for k in KS}
            for question, row_scores in zip(questions, scores):
                gold = set(question.get("sources") or [question["source"]])
                ranked: list[str] = []
                for i in np.argsort(-row_scores):
                    if owners[i] not in ranked:
                        ranked.append(owners[i])
                    if len(ranked) == max(KS):
                        break
                for k in KS:
                    recall[k].append(len(gold & set(ranked[:k])) / len(gold))
            row[name] = {k: round(float(np.mean(v)), 3) for k, v in recall.items()}
        table[way] = row
        print(f"{way:14s} {row['chunks']:5d} chunks, embed {seconds:5.1f} s (load {row['load'][0]:.2f}): "
              + "  ".join(f"{name} " + "/".join(f"{row[name][k]:.3f}" for k in KS) for name in sets), flush=True)
    figures = {"encoder": variant, "pages": len(documents), "questions": {n: len(q) for n, q in sets.items()}, "ways": table}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
