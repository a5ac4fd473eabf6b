"""The README's client examples, run as written against a running server."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example(name: str) -> str:
    match = re.search(rf"<!-- example: {name} .*?-->\n```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert match, f"README has no example named {name}"
    return match.group(1)


def run_example(name: str, live_server, monkeypatch) -> str:
    monkeypatch.setenv("LORE_URL", live_server.url)
    monkeypatch.setenv("LORE_API_KEY", live_server.keys["admin"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(readme_example(name), f"README.md:{name}", "exec"), {})
    return out.getvalue()


def test_the_openai_example_prints_an_answer(live_server, monkeypatch):
    printed = run_example("openai", live_server, monkeypatch).splitlines()
    assert printed and printed[0].strip()


def test_the_langchain_example_retrieves_and_loads(live_server, monkeypatch):
    printed = run_example("langchain", live_server, monkeypatch)
    lines = printed.splitlines()
    assert "org-chart.md" in lines[0]  # the org chart ranks first for its own question
    handbook = live_server.service.documents(["handbook"])
    chunks = sum(d.chunk_count for d in handbook)
    assert lines[-1] == f"{chunks} chunks from {len(handbook)} documents"
