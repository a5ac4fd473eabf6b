"""Decision and action-item extraction on the sample meetings against examples/gold/meetings.jsonl.

    python -m bench.minutes_items

Two modes of the extractive engine, in the same process:
* ``notes+cues`` (default behaviour): the notes' own Decisions / Action items sections when present.
* ``cues-only``: only cue patterns over the speaker turns (what a raw transcript gets).
A found item matches a gold item when their texts are similar (rapidfuzz token_set_ratio >= 60) and,
for action items, the owner is the same; each gold item is matched at most once.
"""

from __future__ import annotations

import json
from pathlib import Path

from rapidfuzz import fuzz

from core.settings import Settings
from generation.minutes.extractive import ExtractiveEngine
from generation.minutes.turns import meeting_turns
from ingest.chunking import Chunker
from ingest.loaders import load_document
from retrieval.embedder import SentenceTransformerEmbedder

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
THRESHOLD = 60


def _match(found: list[tuple[str, str | None]], gold: list[tuple[str, str | None]], owners: bool) -> int:
    free = list(gold)
    hits = 0
    for text, owner in found:
        for g in free:
            if fuzz.token_set_ratio(text, g[0]) >= THRESHOLD and (not owners or owner == g[1]):
                free.remove(g)
                hits += 1
                break
    return hits


def evaluate(embedder) -> dict:
    engine = ExtractiveEngine(embedder)
    chunker = Chunker(1000, 150)
    gold_rows = [json.loads(line) for line in (EXAMPLES / "gold" / "meetings.jsonl").read_text().splitlines() if line.strip()]
    counts = {mode: {kind: [0, 0, 0] for kind in ("decisions", "action_items")} for mode in ("notes+cues", "cues-only")}
    for row in gold_rows:
        document = load_document(EXAMPLES / row["file"])
        turns = meeting_turns(document)
        gold = {"decisions": [(d["text"], d.get("decided_by")) for d in row["decisions"]],
                "action_items": [(a["task"], a["owner"]) for a in row["action_items"]]}
        for mode, chunks in (("notes+cues", chunker.split(document)), ("cues-only", [])):
            minutes = engine.build(document, turns, chunks)
            found = {"decisions": [(d.text, d.decided_by) for d in minutes.decisions],
                     "action_items": [(a.task, a.owner) for a in minutes.action_items]}
            for kind in ("decisions", "action_items"):
                hits = _match(found[kind], gold[kind], owners=kind == "action_items")
                c = counts[mode][kind]
                c[0] += hits
                c[1] += len(found[kind])
                c[2] += len(gold[kind])
    table = {}
    for mode, kinds in counts.items():
        for kind, (hits, found, gold) in kinds.items():
            table[f"{mode}/{kind}"] = {"precision": round(hits / found, 3) if found else 0.0,
                                       "recall": round(hits / gold, 3) if gold else 0.0,
                                       "found": found, "gold": gold, "matched": hits}
    return {"meetings": len(gold_rows), "results": table}


def main() -> None:
    embedder = SentenceTransformerEmbedder.from_pretrained(Settings().embedding_model)
    print(json.dumps(evaluate(embedder), indent=2))


if __name__ == "__main__":
    main()
