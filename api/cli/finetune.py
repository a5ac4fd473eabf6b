"""`lore finetune`: train a LoRA adapter on the knowledge base, and manage adapter versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from api.cli.base import JsonOpt, app, console, err, load_settings, open_service, print_json, reports_errors

finetune_app = typer.Typer(help="Fine-tune the local LLM on the knowledge base (LoRA) and manage adapter versions.")
app.add_typer(finetune_app, name="finetune")


def _eval_table(title: str, before, after) -> Table:
    table = Table("metric", "base", "fine-tuned", title=title)
    for key in ("exact_match", "f1", "citation_accuracy", "abstention_accuracy", "false_abstention"):
        b, a = getattr(before, key), getattr(after, key)
        table.add_row(key, "-" if b is None else f"{b:.3f}", "-" if a is None else f"{a:.3f}")
    table.add_row("examples", f"{before.answerable} answerable", f"{before.unanswerable} unanswerable")
    return table


@finetune_app.callback(invoke_without_command=True)
def finetune(
    ctx: typer.Context,
    data: Annotated[
        Optional[Path], typer.Option("--data", help="JSONL of {question, answer, source?} lines to train on as well.")
    ] = None,
    kb_questions: Annotated[
        bool, typer.Option("--kb/--no-kb", help="Generate questions from the knowledge base (graph facts and chunks).")
    ] = True,
    evaluate: Annotated[bool, typer.Option("--eval", help="Score base and fine-tuned model on the held-out split.")] = False,
    activate: Annotated[bool, typer.Option("--activate/--no-activate", help="Make the new adapter the active one.")] = True,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", min=1, help="Stop after this many steps.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a LoRA adapter on questions generated from the knowledge base (RAFT); save it as a new version."""
    if ctx.invoked_subcommand is not None:
        return
    if data is not None and not data.is_file():
        raise typer.BadParameter(f"{data} does not exist", param_hint="--data")
    with open_service() as service:
        report = service.finetune(
            data=data, include_kb=kb_questions, evaluate=evaluate, activate=activate, max_steps=max_steps,
            progress=not as_json, log_line=lambda line: err.print(line, markup=False, highlight=False),
        )
    if as_json:
        print_json({
            "version": report.version, "path": str(report.path), "activated": report.activated,
            "dataset": report.dataset, "training": report.training,
            "before": report.before.to_dict() if report.before else None,
            "after": report.after.to_dict() if report.after else None,
        })
        return
    t = report.training
    console.print(
        f"adapter {report.version} saved to {report.path} ({t['steps']} steps in {t['seconds']}s on {t['device']}; "
        f"train loss {t['first_train_loss']} -> {t['last_train_loss']}, best validation loss {t['best_eval_loss']})"
    )
    if report.before and report.after:
        console.print(_eval_table("held-out split", report.before, report.after))
    console.print(f"{report.version} is now active" if report.activated else f"activate it with `lore finetune activate {report.version}`")


@finetune_app.command("list")
def finetune_list(as_json: JsonOpt = False) -> None:
    """List saved adapter versions, their data and metrics; the active one is marked."""
    from dataclasses import asdict

    with open_service() as service:
        registry = service.adapters
        active = registry.active()
        manifests = [registry.manifest(v) for v in registry.versions()]
    if as_json:
        print_json({"active": active, "versions": [asdict(m) for m in manifests]})
        return
    table = Table("", "version", "created", "base model", "train/val", "F1 before→after", "citations before→after")
    for m in manifests:
        before, after = m.metrics.get("before", {}), m.metrics.get("after", {})

        def pair(key: str) -> str:
            return f"{before[key]:.2f}→{after[key]:.2f}" if key in before and key in after else "-"

        table.add_row("*" if m.version == active else "", m.version, m.created_at, m.base_model,
                      f"{m.data.get('train', '?')}/{m.data.get('validation', '?')}", pair("f1"), pair("citation_accuracy"))
    console.print(table)


@finetune_app.command("activate")
@reports_errors
def finetune_activate(version: Annotated[str, typer.Argument(help="Version to answer with, e.g. v2; 'none' for the base model.")]) -> None:
    """Make VERSION the adapter that `lore ask` and the API load."""
    with open_service() as service:
        if version == "none":
            service.adapters.deactivate()
        else:
            service.adapters.activate(version)
    console.print("answering with the base model" if version == "none" else f"{version} is now active")


@finetune_app.command("eval")
@reports_errors
def finetune_eval(
    version: Annotated[Optional[str], typer.Argument(help="Version to score (default: the active one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score base vs VERSION on that version's held-out split: EM, token F1, citation and abstention accuracy."""
    from generation.finetune.pipeline import reevaluate

    with open_service() as service:
        version = version or service.adapters.active()
    if version is None:
        err.print("[red]error:[/red] no adapter is active; name a version (see `lore finetune list`)")
        raise typer.Exit(1)
    before, after = reevaluate(load_settings(), version)
    if as_json:
        print_json({"version": version, "before": before.to_dict(), "after": after.to_dict()})
        return
    console.print(_eval_table(f"{version}: held-out split", before, after))
