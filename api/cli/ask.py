"""`lore search`, `lore ask` and `lore minutes`: questions to the knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from api.cli.base import JsonOpt, TopKOpt, app, console, display_path, open_service, print_json
from generation.citations import snippet
from api.schemas import AskResponse, FactOut, PassageOut, SearchResponse
from core.types import Answer
from retrieval.query import Query


@app.command()
def search(
    query: str,
    top_k: TopKOpt = None,
    as_json: JsonOpt = False,
    mode: Annotated[
        Optional[str], typer.Option("--mode", "-m", help="dense, sparse, graph or hybrid (default: settings).")
    ] = None,
    kind: Annotated[Optional[list[str]], typer.Option("--kind", help="Only documents of this kind (repeatable).")] = None,
    source_prefix: Annotated[Optional[str], typer.Option("--source-prefix", help="Only sources under this path.")] = None,
    date_from: Annotated[Optional[str], typer.Option("--from", help="Only documents dated on/after YYYY-MM-DD.")] = None,
    date_to: Annotated[Optional[str], typer.Option("--to", help="Only documents dated on/before YYYY-MM-DD.")] = None,
    language: Annotated[Optional[list[str]], typer.Option("--language", help="Only this language (repeatable).")] = None,
    person: Annotated[
        Optional[list[str]], typer.Option("--person", help="Only documents attended/written by this person (repeatable).")
    ] = None,
    collection: Annotated[Optional[list[str]], typer.Option("--collection", help="Only this collection (repeatable).")] = None,
) -> None:
    """Retrieve passages and graph facts for QUERY (no generation)."""
    from pydantic import ValidationError

    from retrieval.filters import SearchFilters
    from retrieval.retrievers import MODES

    if mode is not None and mode not in MODES:
        raise typer.BadParameter(f"{mode!r} is not one of {', '.join(MODES)}", param_hint="--mode")
    if source_prefix is not None:
        source_prefix = str(Path(source_prefix).resolve())
    try:
        filters = SearchFilters(kinds=kind or None, source_prefix=source_prefix, date_from=date_from, date_to=date_to,
                                languages=language or None, people=person or None, collections=collection or None)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc).splitlines()[1] + ": " + str(exc).splitlines()[2].strip()) from None
    with open_service() as service:
        found = service.search(Query(text=query, k=top_k, mode=mode, filters=None if filters.empty else filters))
    if as_json:
        print_json(SearchResponse(query=query, passages=[PassageOut.of(p) for p in found.passages],
                                  facts=[FactOut.of(f) for f in found.facts], seconds=found.seconds))
        return
    # A rerank column only when a reranker is configured, so the common table stays narrow.
    columns = ("dense", "sparse", "graph", "rerank") if any("rerank" in p.scores for p in found.passages) \
        else ("dense", "sparse", "graph")
    table = Table("#", "score", *columns, "source", "text", show_lines=True)
    for i, p in enumerate(found.passages, 1):
        parts = [f"{p.scores[c]:.3f}" if c in p.scores else "-" for c in columns]
        table.add_row(str(i), f"{p.score:.3f}", *parts, display_path(p.source), p.text[:300])
    console.print(table)
    for fact in found.facts:
        console.print(f"  • {fact.render()}")


@app.command()
def ask(
    question: str,
    top_k: TopKOpt = None,
    as_json: JsonOpt = False,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Print tokens as they are generated.")] = True,
) -> None:
    """Answer QUESTION from the knowledge base, with numbered citations."""
    with open_service() as service:
        if as_json or not stream:
            answer = service.ask(Query(text=question, k=top_k))
        else:
            answer, streamed = None, []
            for piece in service.ask_stream(Query(text=question, k=top_k)):
                if isinstance(piece, Answer):
                    answer = piece
                else:
                    streamed.append(piece)
                    console.print(piece, end="", markup=False, highlight=False)
            console.print()
            if answer is not None and answer.text.strip() != "".join(streamed).strip():
                # Grounding changed what streamed (a marker moved to the source that holds the
                # sentence, an unsupported sentence cut, an abstention): show the answer that counts.
                console.print("[bold]Checked answer[/bold]")
                console.print(answer.text, markup=False, highlight=False)
    if as_json:
        print_json(AskResponse.of(answer))
        return
    if not stream:
        console.print(answer.text, markup=False, highlight=False)
    _print_sources(answer)


@app.command()
def minutes(
    meeting: Annotated[str, typer.Argument(help="The meeting's document id or source path.")],
    as_json: JsonOpt = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build the minutes again and store them.")] = False,
) -> None:
    """Print the minutes of MEETING: summary, topics, decisions, action items, open questions (with turn citations)."""
    with open_service() as service:
        result = service.write_minutes(meeting) if rebuild else service.minutes(meeting)
    if result is None:
        console.print(f"[red]No meeting {meeting!r}[/red] (give a document id from `lore documents list` or the meeting's file path).")
        raise typer.Exit(1)
    if as_json:
        print_json(result)
        return
    console.print(result.render(), markup=False, highlight=False)


def _print_sources(answer: Answer) -> None:
    if answer.citations:
        console.print("\n[bold]Citations[/bold]")
        for c in answer.citations:
            console.print(f"  [{c.number}] {display_path(c.source)} (chunk {c.chunk_id}, chars {c.start}-{c.end})", markup=False)
            console.print(f"      {c.snippet}", markup=False, highlight=False)
    # The numbered sources the model read: sentences (with where they are) or whole passages (with their score).
    console.print("\n[bold]Sources shown to the model[/bold]")
    for i, p in enumerate(answer.passages, 1):
        where = f"chars {p.start}-{p.end}" if p.metadata.get("sentence") else f"score {p.score:.3f}"
        console.print(f"  [{i}] {display_path(p.source)} ({where}): {snippet(p.text, 90)}", markup=False, highlight=False)
