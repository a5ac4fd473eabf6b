"""Decision and action-item extraction on the sample meetings against examples/gold/meetings.jsonl.

    python -m bench.minutes_items

Modes of the extractive engine, in the same process:
* ``notes+cues`` (default behaviour): the notes' own Decisions / Action items sections when present.
* ``cues-only``: only cue patterns over the turns (what a raw transcript gets); a prose-notes meeting's
  turns are its paragraphs, its pasted lists included.
* ``cues-only-dialogue``: the same, on the meetings whose turns are all spoken (``Speaker: text``) only.
Due dates: of the matched action items, how many have the gold ISO due date (``due_date``, relative
dates counted from the meeting's date).
A found item matches a gold item when their texts are similar (rapidfuzz token_set_ratio >= 60, case and
punctuation ignored) and,
for action items, the owner is the same; each gold item is matched at most once.
"""

from __future__ import annotations

import json
from pathlib import Path

from rapidfuzz import fuzz, utils

from core.settings import Settings
from generation.minutes.extractive import ExtractiveEngine
from generation.minutes.turns import meeting_turns
from ingest.chunking import Chunker
from ingest.loaders import load_document
from retrieval.embedder import SentenceTransformerEmbedder

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
THRESHOLD = 60


def _match(found: list[tuple], gold: list[tuple], owners: bool) -> list[tuple[tuple, tuple]]:
    """(found, gold) pairs; each gold item matched at most once."""
    free = list(gold)
    pairs = []
    for item in found:
        for g in free:
            if fuzz.token_set_ratio(item[0], g[0], processor=utils.default_process) >= THRESHOLD and (not owners or item[1] == g[1]):
                free.remove(g)
                pairs.append((item, g))
                break
    return pairs


def evaluate(embedder) -> dict:
    engine = ExtractiveEngine(embedder)
    chunker = Chunker(1000, 150)
    gold_rows = [json.loads(line) for line in (EXAMPLES / "gold" / "meetings.jsonl").read_text().splitlines() if line.strip()]
    modes = ("notes+cues", "cues-only", "cues-only-dialogue")
    counts = {mode: {kind: [0, 0, 0] for kind in ("decisions", "action_items")} for mode in modes}
    dues = {mode: [0, 0] for mode in modes}  # matched action items with the gold due date, matched action items
    for row in gold_rows:
        document = load_document(EXAMPLES / row["file"])
        turns = meeting_turns(document)
        gold = {"decisions": [(d["text"], d.get("decided_by")) for d in row["decisions"]],
                "action_items": [(a["task"], a["owner"], a.get("due")) for a in row["action_items"]]}
        spoken = all(t.speaker for t in turns)
        for mode, chunks in (("notes+cues", chunker.split(document)), ("cues-only", []), ("cues-only-dialogue", [])):
            if mode == "cues-only-dialogue" and not spoken:
                continue
            minutes = engine.build(document, turns, chunks)
            found = {"decisions": [(d.text, d.decided_by) for d in minutes.decisions],
                     "action_items": [(a.task, a.owner, a.due_date) for a in minutes.action_items]}
            for kind in ("decisions", "action_items"):
                pairs = _match(found[kind], gold[kind], owners=kind == "action_items")
                c = counts[mode][kind]
                c[0] += len(pairs)
                c[1] += len(found[kind])
                c[2] += len(gold[kind])
                if kind == "action_items":
                    dues[mode][0] += sum(f[2] == g[2] for f, g in pairs)
                    dues[mode][1] += len(pairs)
    table = {}
    for mode, kinds in counts.items():
        for kind, (hits, found, gold) in kinds.items():
            table[f"{mode}/{kind}"] = {"precision": round(hits / found, 3) if found else 0.0,
                                       "recall": round(hits / gold, 3) if gold else 0.0,
                                       "found": found, "gold": gold, "matched": hits}
        right, matched = dues[mode]
        table[f"{mode}/due_dates"] = {"right": right, "of_matched": matched}
    return {"meetings": len(gold_rows), "results": table}


def main() -> None:
    embedder = SentenceTransformerEmbedder.from_pretrained(Settings().embedding_model)
    print(json.dumps(evaluate(embedder), indent=2))


if __name__ == "__main__":
    main()
