"""Answer quality of the base model vs a fine-tuned adapter, on evaluation questions the training never saw.

For every question the real retrieval runs once and both models answer from the
same passages (greedy), so the difference is the adapter's alone. Scores: token
F1 and exact match against the gold answer (generation.metrics), citation
accuracy (an answer cites a passage from the gold source document), abstention
rate.

    python -m bench.generation_quality --data-dir /tmp/kb --questions examples/questions.jsonl

The knowledge base in ``--data-dir`` is built from ``examples/`` first when empty.
Question files: JSONL with ``question``, ``answer`` (or ``answers``) and ``source``
(a path suffix of the gold document).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from api.service import LoreService  # noqa: E402
from core.settings import Settings  # noqa: E402
from generation.answerer import Answerer, is_abstention  # noqa: E402
from generation.backends.local import LocalLLM  # noqa: E402
from generation.metrics import best_of, exact_match, mean, token_f1  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def load_questions(path: Path, limit: int | None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        row["answers"] = row.get("answers") or [row["answer"]]
    return rows[:limit] if limit else rows


def cites_source(answer, source: str) -> float:
    return float(any(Path(c.source).as_posix().endswith(source) for c in answer.citations))


def run(args: argparse.Namespace) -> dict:
    settings = Settings(
        data_dir=args.data_dir, context_tokens=args.context_tokens, top_k=args.top_k, max_new_tokens=args.max_new_tokens
    )
    questions = load_questions(args.questions, args.limit)
    with LoreService(settings) as service:
        if not service.documents():
            report = service.ingest([ROOT / "examples"])
            assert not report.failed, report.failed
        version = args.adapter or service.adapters.active()
        if version is None:
            raise SystemExit("no adapter: train one with `lore finetune` or pass --adapter")
        adapter = service.adapters.path(version)
        models = {
            "base": LocalLLM.from_pretrained(settings.llm_model, cache_dir=settings.model_cache_dir),
            "fine-tuned": LocalLLM.from_pretrained(settings.llm_model, cache_dir=settings.model_cache_dir, adapter_path=adapter),
        }
        answerers = {name: Answerer.from_settings(llm, settings) for name, llm in models.items()}
        rows: dict[str, list[dict]] = {name: [] for name in models}
        started = time.perf_counter()
        for q in questions:
            found = service.search(q["question"], args.top_k)
            for name, answerer in answerers.items():
                answer = answerer.answer(q["question"], found.passages, found.facts)
                rows[name].append({
                    "id": q.get("id"),
                    "prediction": answer.text,
                    "f1": best_of(token_f1, answer.text, q["answers"]),
                    "em": best_of(exact_match, answer.text, q["answers"]),
                    "cites_gold": cites_source(answer, q["source"]),
                    "abstained": float(is_abstention(answer.text)),
                })
    summary = {
        name: {
            "f1": round(mean(r["f1"] for r in rs), 4),
            "exact_match": round(mean(r["em"] for r in rs), 4),
            "citation_accuracy": round(mean(r["cites_gold"] for r in rs), 4),
            "abstention_rate": round(mean(r["abstained"] for r in rs), 4),
        }
        for name, rs in rows.items()
    }
    return {
        "questions": str(args.questions),
        "count": len(questions),
        "adapter": version,
        "settings": {"context_tokens": args.context_tokens, "top_k": args.top_k, "max_new_tokens": args.max_new_tokens},
        "seconds": round(time.perf_counter() - started, 1),
        "summary": summary,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=ROOT / "examples" / "questions.jsonl")
    parser.add_argument("--adapter", help="adapter version (default: the active one)")
    parser.add_argument("--context-tokens", type=int, default=1024)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, help="write the full JSON result here")
    args = parser.parse_args()
    result = run(args)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
