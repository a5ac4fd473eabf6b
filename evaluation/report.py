"""``lore eval`` outputs: JSON, a Markdown report, PNG plots, and the deltas between two runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.runner import EvalReport, GenerationScores, RetrievalScores

GENERATION_METRICS = ("exact_match", "f1", "citation_precision", "citation_recall", "abstention_accuracy",
                      "latency_p50_s", "latency_p95_s", "tokens_per_answer")


def _cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def retrieval_table(rows: Sequence[RetrievalScores], ks: Sequence[int]) -> str:
    lines = ["| system | kind | queries | " + " | ".join(f"recall@{k}" for k in ks) + " | MRR@10 | p50 ms | p95 ms |",
             "|" + "---|" * (len(ks) + 6)]
    for r in rows:
        recalls = " | ".join(_cell(r.recall.get(k)) for k in ks)
        lines.append(f"| {r.system} | {r.kind} | {r.queries} | {recalls} | {r.mrr10:.3f} | "
                     f"{r.latency_p50_ms:.1f} | {r.latency_p95_ms:.1f} |")
    return "\n".join(lines)


def generation_table(rows: Sequence[GenerationScores]) -> str:
    lines = ["| generator | mode | questions | EM | F1 | citation P | citation R | abstention acc. | p50 s | p95 s | tokens/answer |",
             "|" + "---|" * 11]
    for g in rows:
        if g.skipped:
            lines.append(f"| {g.generator} | {g.mode} | {g.questions} | skipped: {g.skipped} |" + " |" * 7)
            continue
        lines.append(
            f"| {g.generator} | {g.mode} | {g.questions} | {_cell(g.exact_match)} | {_cell(g.f1)} | "
            f"{_cell(g.citation_precision)} | {_cell(g.citation_recall)} | {_cell(g.abstention_accuracy)} | "
            f"{g.latency_p50_s:.1f} | {g.latency_p95_s:.1f} | {g.tokens_per_answer:.1f} |"
        )
    return "\n".join(lines)


def markdown(report: EvalReport, *, title: str | None = None, plots: dict[str, str] | None = None) -> str:
    ks = report.options.get("ks", [1, 5, 10, 20])
    out = [f"# {title or 'Evaluation: ' + report.dataset}", "",
           f"{report.questions} questions ({report.format}), {report.documents} documents, {report.chunks} chunks; "
           f"embedding model {report.settings['embedding_model']} ({report.settings.get('encoder', 'torch-fp32')} "
           f"encoder), LLM {report.settings['llm_model']}; "
           f"scope {report.options['scope']}; query embedding {report.embedding_ms_per_query:.1f} ms a query "
           f"(batched up front, not in the latencies below); {report.seconds:.0f} s in all.", ""]
    if report.retrieval:
        out += ["## Retrieval", "", retrieval_table(report.retrieval, ks), ""]
    if report.generation:
        out += ["## Answers", "", generation_table(report.generation), ""]
    for name, path in (plots or {}).items():
        out += [f"![{name}]({path})", ""]
    if report.notes:
        out += ["## Notes", ""] + [f"- {note}" for note in report.notes] + [""]
    return "\n".join(out)


def plot_recall(report: EvalReport, path: Path) -> None:
    """Recall@k curves (k = 1..20), one per mode and baseline."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for r in report.retrieval:
        ax.plot(list(r.recall), list(r.recall.values()), marker=".", linestyle="--" if r.kind == "baseline" else "-",
                label=r.system)
    ax.set_title(f"{report.dataset}: recall@k")
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_quality_latency(report: EvalReport, path: Path) -> None:
    """Recall@10 against retrieval p50 latency per system; answer F1 against answer p50 latency per generator."""
    plt = _pyplot()
    answered = [g for g in report.generation if not g.skipped and g.f1 is not None]
    fig, axes = plt.subplots(1, 2 if answered else 1, figsize=(11 if answered else 6, 4.5), squeeze=False)
    ax = axes[0][0]
    for r in report.retrieval:
        ax.scatter(max(r.latency_p50_ms, 1e-3), r.recall.get(10, 0.0), marker="s" if r.kind == "baseline" else "o")
        ax.annotate(r.system, (max(r.latency_p50_ms, 1e-3), r.recall.get(10, 0.0)), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("retrieval p50 latency (ms, log)")
    ax.set_ylabel("recall@10")
    ax.set_ylim(0, 1)
    ax.set_title("retrieval: quality vs latency")
    ax.grid(alpha=0.3)
    if answered:
        ax = axes[0][1]
        for g in answered:
            ax.scatter(g.latency_p50_s, g.f1)
            ax.annotate(f"{g.generator} ({g.mode})", (g.latency_p50_s, g.f1), fontsize=8, xytext=(4, 4),
                        textcoords="offset points")
        ax.set_xlabel("answer p50 latency (s)")
        ax.set_ylabel("token F1")
        ax.set_ylim(0, 1)
        ax.set_title("answers: quality vs latency")
        ax.grid(alpha=0.3)
    _save(fig, path)


def write(report: EvalReport, out: Path, *, title: str | None = None) -> dict[str, Path]:
    """results.json, report.md, recall.png and quality_latency.png under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "report.md", "recall": out / "recall.png",
             "quality_latency": out / "quality_latency.png"}
    paths["json"].write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False), encoding="utf-8")
    plots = {}
    if report.retrieval:
        plot_recall(report, paths["recall"])
        plots["recall@k"] = paths["recall"].name
    else:
        del paths["recall"]
    plot_quality_latency(report, paths["quality_latency"])
    plots["quality vs latency"] = paths["quality_latency"].name
    paths["markdown"].write_text(markdown(report, title=title, plots=plots), encoding="utf-8")
    return paths


# ---- two configurations side by side ----------------------------------------
def deltas(a: EvalReport, b: EvalReport) -> list[dict[str, Any]]:
    """One row per metric both runs have: value in A, in B, and B - A."""
    rows: list[dict[str, Any]] = []
    ks = a.options.get("ks", [1, 5, 10, 20])
    rb = {r.system: r for r in b.retrieval}
    for r in a.retrieval:
        other = rb.get(r.system)
        if other is None:
            continue
        pairs = [(f"recall@{k}", r.recall.get(k), other.recall.get(k)) for k in ks]
        pairs += [("MRR@10", r.mrr10, other.mrr10), ("p50 ms", r.latency_p50_ms, other.latency_p50_ms),
                  ("p95 ms", r.latency_p95_ms, other.latency_p95_ms)]
        rows += [_row(f"retrieval {r.system}", m, x, y) for m, x, y in pairs]
    gb = [g for g in b.generation if not g.skipped]
    for i, g in enumerate(g for g in a.generation if not g.skipped):
        if i >= len(gb):
            break
        other = gb[i]
        name = g.generator if g.generator == other.generator else f"{g.generator} vs {other.generator}"
        rows += [_row(f"answers {name}", m, getattr(g, m), getattr(other, m)) for m in GENERATION_METRICS]
    return rows


def _row(what: str, metric: str, x: float | None, y: float | None) -> dict[str, Any]:
    return {"what": what, "metric": metric, "a": x, "b": y, "delta": None if x is None or y is None else y - x}


def deltas_table(rows: Sequence[dict[str, Any]], a: str, b: str) -> str:
    lines = [f"| what | metric | A: {a} | B: {b} | B - A |", "|---|---|---|---|---|"]
    for r in rows:
        delta = "-" if r["delta"] is None else f"{r['delta']:+.3f}"
        lines.append(f"| {r['what']} | {r['metric']} | {_cell(r['a'])} | {_cell(r['b'])} | {delta} |")
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    fig.clf()
    _pyplot().close(fig)
