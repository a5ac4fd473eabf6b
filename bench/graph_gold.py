"""Graph extraction on text nobody here wrote: typed entities and relations against gold written by hand.

The gold sets (``bench/sets/graph_gold_18f.jsonl``: 21 pages of the 18F handbook;
``bench/sets/graph_gold_qmsum.jsonl``: opening excerpts of 3 QMSum meetings, one per
domain) were written from the text alone, before the extractor was run on it; how
they were written is in docs/graph.md ("Measured on unseen text").

The product's own path runs (loader, chunker, extractor with entity resolution,
graph writes to a real local graph server), one document per gold page, and the
graph is read back per document:

* An entity counts for a page when one of the page's chunks MENTIONS it. Only
  entities typed with a gold type (Person, Organization, Team, Project, Product,
  Location, Event) are scored: an untyped name (``Other``, ``Topic``) claims nothing.
* Names match a gold entity or one of its aliases after whitespace collapse and
  casefolding. A gold entity lists the types a careful reader would accept ("18F":
  Organization or Team). Entities marked ``optional`` (job-title speakers, laws,
  guides named in passing) are neither required nor held against the extractor.
* Typed precision: scored entities whose name matches a required gold entity and
  whose type is one it accepts, over all scored entities except optional matches.
  Typed recall: required gold entities found with an accepted type.
* Relations: entity-to-entity relationships whose ``document_id`` is the page,
  ``MENTIONED_WITH`` and ``ATTENDED`` excluded (co-occurrence, and the speaker list).
  Correct when both ends map to gold entities and (source, type, target) is gold.

With ``--enrich`` the LLM pass (``lore graph enrich`` with the configured model) then reads
every chunk and the same scores are taken again, in the same process.

Usage: python -m bench.graph_gold [--set 18f|qmsum|all] [--enrich] [--pages P ...] [--json out.json] [--show-errors]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from neo4j import GraphDatabase

from bench.graph_extraction_quality import GOLD_TYPES, key, prf

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SETS = {
    "18f": (ROOT / "bench" / "sets" / "graph_gold_18f.jsonl", SHARED / "handbook-18f" / "pages"),
    "qmsum": (ROOT / "bench" / "sets" / "graph_gold_qmsum.jsonl", SHARED / "qmsum"),
}
SKIPPED_RELATIONS = frozenset({"MENTIONED_WITH", "ATTENDED"})


@dataclass
class GoldPage:
    """One gold page: the file to ingest, its entities by alias key, its relation triples."""

    name: str
    path: Path
    aliases: dict[str, tuple[str, frozenset[str], bool]] = field(default_factory=dict)  # key -> (name, types, optional)
    required: set[str] = field(default_factory=set)
    relations: set[tuple[str, str, str]] = field(default_factory=set)


def load_set(name: str, work: Path) -> list[GoldPage]:
    """The gold pages of a set; QMSum excerpts are written under ``work`` as meeting files of their own."""
    gold_file, source = SETS[name]
    pages = []
    for row in map(json.loads, gold_file.read_text().splitlines()):
        if "page" in row:
            page = GoldPage(row["page"], source / row["page"])
        else:
            first, last = row["turns"]
            turns = json.loads((source / row["meeting"]).read_text())["meeting_transcripts"][first:last]
            path = work / f"{Path(row['meeting']).stem}-turns-{first}-{last}.json"
            path.write_text(json.dumps({"meeting_transcripts": turns}, ensure_ascii=False))
            page = GoldPage(row["meeting"], path)
        for entity in row["entities"]:
            types, optional = frozenset(entity["types"]), bool(entity.get("optional"))
            for alias in (entity["name"], *entity.get("aliases", ())):
                page.aliases.setdefault(key(alias), (entity["name"], types, optional))
            if not optional:
                page.required.add(entity["name"])
        page.relations = {(r["source"], r["type"], r["target"]) for r in row["relations"]}
        pages.append(page)
    return pages


def score_page(page: GoldPage, entities: list[dict], relations: list[dict]) -> dict:
    """Counts for one page from what the graph holds for its document."""
    counts: Counter[str] = Counter()
    found: set[str] = set()
    wrong_entities, wrong_relations = [], []
    for e in entities:
        if e["type"] not in GOLD_TYPES:
            continue
        gold = page.aliases.get(key(e["name"]))
        if gold and gold[2]:
            continue  # optional: neither right nor wrong
        counts["predicted_entities"] += 1
        if gold and e["type"] in gold[1]:
            counts["correct_entities"] += 1
            found.add(gold[0])
        else:
            wrong_entities.append(f"{e['name']} ({e['type']})" + (f" gold {sorted(gold[1])}" if gold else ""))
    predicted = set()
    for r in relations:
        if r["t"] in SKIPPED_RELATIONS:
            continue
        s, o = page.aliases.get(key(r["s"])), page.aliases.get(key(r["o"]))
        predicted.add((s[0] if s else r["s"], r["t"], o[0] if o else r["o"]))
    correct = predicted & page.relations
    wrong_relations = sorted(" ".join(x) for x in predicted - page.relations)
    counts.update(found_entities=len(found), gold_entities=len(page.required), predicted_relations=len(predicted),
                  correct_relations=len(correct), gold_relations=len(page.relations))
    return {"counts": counts, "wrong_entities": wrong_entities, "missed_entities": sorted(page.required - found),
            "wrong_relations": wrong_relations, "missed_relations": sorted(" ".join(x) for x in page.relations - predicted),
            "types_stored": Counter(e["type"] for e in entities)}


def _read_back(info, pages: list[GoldPage]) -> dict[str, dict]:
    from core.types import Document

    per_page = {}
    with GraphDatabase.driver(info.uri, auth=info.auth) as driver:
        for page in pages:
            document_id = Document.make_id(str(page.path.resolve()))
            ents, _, _ = driver.execute_query(
                "MATCH (:Document {id: $id})-[:HAS_CHUNK]->(:Chunk)-[:MENTIONS]->(e:Entity) "
                "RETURN DISTINCT e.name AS name, e.type AS type", id=document_id, database_=info.database)
            rels, _, _ = driver.execute_query(
                "MATCH (a:Entity)-[r]->(b:Entity) WHERE r.document_id = $id "
                "RETURN DISTINCT a.name AS s, type(r) AS t, b.name AS o", id=document_id, database_=info.database)
            per_page[page.name] = score_page(page, [dict(r) for r in ents], [dict(r) for r in rels])
    return per_page


def _summary(set_name: str, pages: list[GoldPage], per_page: dict[str, dict], seconds: float) -> dict:
    total: Counter[str] = Counter()
    types: Counter[str] = Counter()
    for result in per_page.values():
        total.update(result["counts"])
        types.update(result["types_stored"])
    return {
        "set": set_name, "pages": len(pages), "characters": sum(len(p.path.read_text()) for p in pages),
        "seconds": round(seconds, 2),
        "entities_typed": prf(total["correct_entities"], total["predicted_entities"], total["found_entities"],
                              total["gold_entities"]),
        "relations": prf(total["correct_relations"], total["predicted_relations"], total["correct_relations"],
                         total["gold_relations"]),
        "entity_types_stored": dict(types),
        "pages_detail": {name: {k: v for k, v in r.items() if k not in ("counts", "types_stored")}
                         for name, r in per_page.items()},
    }


def run(set_name: str, *, enrich: bool = False, pages_filter: set[str] | None = None) -> list[dict]:
    """Ingest the set's pages with the product's pipeline and score the graph; with ``enrich``,
    run ``lore graph enrich`` (the configured LLM) over every chunk and score again."""
    import os

    from api.bootstrap import local_graph_server
    from api.service import LoreService
    from core.settings import Settings

    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        pages = [p for name in (SETS if set_name == "all" else [set_name]) for p in load_set(name, Path(tmp))]
        if pages_filter:
            pages = [p for p in pages if p.name in pages_filter]
        settings = Settings(data_dir=Path(tmp) / "data")
        service = LoreService.from_settings(settings)
        try:
            info = local_graph_server(settings).start()
            service.open()
            started = time.perf_counter()
            service.ingest([p.path for p in pages])
            reports.append({"pass": "rules", **_summary(set_name, pages, _read_back(info, pages),
                                                        time.perf_counter() - started)})
            if enrich:
                load = os.getloadavg()
                result = service.enrich_graph()
                report = _summary(set_name, pages, _read_back(info, pages), result.seconds)
                report.update({"pass": f"rules+llm ({service.llm.name})", "chunks": result.chunks_read,
                               "chunks_failed": result.chunks_failed,
                               "chunks_per_minute": round(result.chunks_per_minute, 2),
                               "load_average_before": [round(x, 2) for x in load],
                               "load_average_after": [round(x, 2) for x in os.getloadavg()]})
                reports.append(report)
        finally:
            service.close()
            local_graph_server(settings).stop()
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=[*SETS, "all"], default="all")
    parser.add_argument("--json", type=Path, help="write the full report (with every error) here")
    parser.add_argument("--show-errors", action="store_true", help="print wrong and missed entities and relations")
    parser.add_argument("--enrich", action="store_true",
                        help="also run the LLM pass (lore graph enrich, the configured model) and score again")
    parser.add_argument("--pages", nargs="*", help="only these gold pages (paths as in the gold file)")
    args = parser.parse_args()
    reports = [r for name in ([*SETS] if args.set == "all" else [args.set])
               for r in run(name, enrich=args.enrich, pages_filter=set(args.pages or ()))]
    for report in reports:
        extra = f", {report['chunks']} chunks, {report['chunks_per_minute']} chunks/min" if "chunks" in report else ""
        print(f"{report['set']} [{report['pass']}]: {report['pages']} pages, {report['characters']} characters, "
              f"{report['seconds']} s{extra}")
        for what in ("entities_typed", "relations"):
            f = report[what]
            print(f"  {what:<15} P {f['precision']:.3f}  R {f['recall']:.3f}  F1 {f['f1']:.3f}"
                  f"  ({f['predicted']} predicted, {f['gold']} gold)")
        print(f"  types stored: {report['entity_types_stored']}")
        if args.show_errors:
            for name, detail in report["pages_detail"].items():
                print(f"  -- {name}")
                for k in ("wrong_entities", "missed_entities", "wrong_relations", "missed_relations"):
                    if detail[k]:
                        print(f"     {k}: {'; '.join(detail[k])}")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
