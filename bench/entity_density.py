"""Ingest speed per character on entity-dense text against meeting talk, in one process.

Entity-dense text is where extraction and entity resolution cost the most per character:
every sentence names people, companies, places and dates. This bench writes 1,000 short
Wikipedia-style biographical and company paragraphs (Faker's names, companies, cities and
dates with a fixed seed, ten to a file), takes QMSum meetings up to the same number of
characters, and ingests both with the product's pipeline (``LoreService.ingest``: parse,
chunk, embed, SQLite, FAISS, extraction with resolution, graph writes; minutes off, as they
are a cost of meetings alone), each into its own fresh data directory, alternately, twice.

Reports characters per second for each and the ratio dense / meetings (target >= 0.8),
with the load average beside every timing.

Usage: python -m bench.entity_density [--paragraphs 1000] [--repeat 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QMSUM = ROOT.parent / "shared" / "data" / "qmsum"

_TEMPLATES = (
    "{person} (born {date}) is a {nationality} {job}. {pronoun} was chief executive of {company} from {year} to "
    "{year2}, and later joined {company2} in {city} as head of its {unit} division.",
    "{company} is a {industry} company headquartered in {city}, {country}. It was founded in {year} by {person} "
    "and {person2}, and acquired {company2} in {year2}. Its products include {product} and {product2}.",
    "{person} is a member of the {party} and has represented {city} since {year}. Before that {pronoun_lower} "
    "worked for {company} in {city2} and chaired the {committee} Committee.",
    "The {event} was held in {city} on {date}. It was organised by {company} and opened by {person}, who "
    "announced a partnership with {company2} and {company3}.",
    "{product} is a {kind} developed by {company}. Version {version} was released on {date}; {person} leads the "
    "{team} Team that maintains it, and it depends on {product2}.",
    "{person} reports to {person2}, the {job} of {company}'s {city} office. In {year} {pronoun_lower} moved to "
    "{country} to open the {unit} lab with {person3}.",
)


def paragraphs(count: int, seed: int = 7) -> list[str]:
    """``count`` Wikipedia-style paragraphs, the same ones for a given seed."""
    from faker import Faker

    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR"])
    Faker.seed(seed)
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        pronoun = rng.choice(("He", "She", "They"))
        year = rng.randint(1950, 2015)
        fields = {
            "person": fake.name(), "person2": fake.name(), "person3": fake.name(), "date": fake.date(),
            "nationality": rng.choice(("British", "German", "French", "American", "Welsh", "Irish")),
            "job": fake.job().split(",")[0].lower(), "pronoun": pronoun, "pronoun_lower": pronoun.lower(),
            "company": fake.company(), "company2": fake.company(), "company3": fake.company(),
            "year": year, "year2": year + rng.randint(1, 9), "city": fake.city(), "city2": fake.city(),
            "country": fake.country(), "unit": rng.choice(("Research", "Payments", "Logistics", "Robotics")),
            "industry": rng.choice(("software", "logistics", "retail", "energy")),
            "product": fake.word().capitalize() + " " + rng.choice(("Cloud", "Pay", "One", "Studio")),
            "product2": fake.word().capitalize() + rng.choice(("DB", "Hub", "OS")),
            "party": rng.choice(("Labour Party", "Green Party", "Liberal Democrats", "Conservative Party")),
            "committee": rng.choice(("Finance", "Education", "Health", "Transport")),
            "event": rng.choice(("Northern Logistics Summit", "Open Data Forum", "Cloud Expo", "Robotics Week")),
            "kind": rng.choice(("database", "payment platform", "web framework", "scheduling tool")),
            "version": f"{rng.randint(1, 9)}.{rng.randint(0, 9)}", "team": rng.choice(("Platform", "Core", "Data")),
        }
        out.append(rng.choice(_TEMPLATES).format(**fields))
    return out


def _ingest_seconds(files: list[Path], data: Path, info) -> float:
    """Wall time of one ingest into a fresh data directory and an emptied graph (models loaded first)."""
    from api.service import LoreService
    from core.settings import Settings

    settings = Settings(data_dir=data, minutes_at_ingest=False, graph_uri=info.uri, graph_user=info.user,
                        graph_password=info.password, graph_database=info.database)
    with LoreService.from_settings(settings) as service:
        service.graph.clear()
        service.parts.embedder.get()
        service.parts.extractor  # spaCy and its worker processes
        started = time.perf_counter()
        report = service.ingest(files)
        elapsed = time.perf_counter() - started
        assert not report.failed, report.failed
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paragraphs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from api.bootstrap import local_graph_server
    from core.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dense_dir = root / "dense"
        dense_dir.mkdir()
        texts = paragraphs(args.paragraphs)
        for i in range(0, len(texts), 10):
            (dense_dir / f"articles-{i // 10:03d}.md").write_text("\n\n".join(texts[i : i + 10]) + "\n")
        dense_files = sorted(dense_dir.glob("*.md"))
        dense_chars = sum(len(t) for t in texts)
        meetings, meeting_chars = [], 0
        for path in sorted(QMSUM.glob("*.json"), key=lambda p: p.stat().st_size):
            if meeting_chars >= dense_chars:
                break
            turns = json.loads(path.read_text())["meeting_transcripts"]
            meetings.append(path)
            meeting_chars += sum(len(t["content"]) for t in turns)
        server_settings = Settings(data_dir=root / "server")
        info = local_graph_server(server_settings).start()  # one graph server for every run (each run clears it)
        runs = []
        try:
            for repeat in range(args.repeat):
                for name, files, chars in (("dense", dense_files, dense_chars), ("meetings", meetings, meeting_chars)):
                    load = os.getloadavg()[0]
                    seconds = _ingest_seconds(files, root / f"{name}-{repeat}", info)
                    runs.append({"set": name, "repeat": repeat, "files": len(files), "characters": chars,
                                 "seconds": round(seconds, 2), "chars_per_second": round(chars / seconds, 1),
                                 "load_average_before": round(load, 2)})
                    print(f"{name:<9} run {repeat}: {chars} characters in {seconds:.1f} s = {chars / seconds:,.0f} chars/s "
                          f"(load {load:.2f})", flush=True)
        finally:
            local_graph_server(server_settings).stop()
    best = {name: max(r["chars_per_second"] for r in runs if r["set"] == name) for name in ("dense", "meetings")}
    ratio = best["dense"] / best["meetings"]
    print(f"per-character speed, best of {args.repeat}: dense {best['dense']:,.0f}, meetings {best['meetings']:,.0f} "
          f"chars/s; ratio {ratio:.2f} (target >= 0.8)")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "best_chars_per_second": best, "ratio": round(ratio, 3)}, indent=2))


if __name__ == "__main__":
    main()
