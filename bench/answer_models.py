"""Answer quality of local models side by side on one knowledge base and one question set.

Retrieval runs once per question; every model answers from the same passages and facts, with
the serving settings (greedy, the same prompt). Per model: share answered right (at least 3 in 4
of the gold answer's normalised words in the answer; token F1 beside it), share citing, share citing the gold source,
abstentions and which rule fired, and the median time per answer.

    python -m bench.answer_models --data-dir /tmp/kb --questions examples/questions.jsonl \
        --model HuggingFaceTB/SmolLM2-135M-Instruct --model Qwen2.5-Coder-1.5B-Instruct
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from bench import load_average

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="An ingested knowledge base (its graph server running).")
    parser.add_argument("--questions", type=Path, default=REPO / "examples" / "questions.jsonl")
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from api.bootstrap import build
    from api.service import LoreService
    from core.settings import Settings
    from generation.answerer import Answerer
    from generation.backends import load_backend
    from generation.metrics import answer_tokens, normalize_answer, token_f1

    def gold_recall(prediction: str, gold: str) -> float:
        expected, got = answer_tokens(gold), set(answer_tokens(prediction))
        return sum(t in got for t in expected) / len(expected) if expected else 0.0

    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    settings = Settings(data_dir=args.data_dir, max_new_tokens=args.max_new_tokens)
    service = LoreService(build(settings)).open()
    try:
        retrieved = []
        for q in questions:
            result = service.search(q["question"])
            retrieved.append((q, result.passages, result.facts))
        figures: dict[str, dict] = {}
        for model in args.model:
            backend = load_backend(settings.model_copy(update={"llm_model": model}))
            answerer = Answerer.from_settings(backend, settings.model_copy(update={"llm_model": model}))
            rows = []
            for q, passages, facts in retrieved:
                started = time.perf_counter()
                answer = answerer.answer(q["question"], passages, facts)
                seconds = time.perf_counter() - started
                gold_source = q.get("source")
                rows.append({
                    "id": q.get("id"), "answer": answer.text, "seconds": round(seconds, 2),
                    # Right: the gold answer's words (SQuAD-normalised) in the answer, all of them
                    # or at least 3 in 4 (gold answers carry qualifiers a correct reply may drop).
                    "right": bool(q.get("answer")) and not answer.abstained and (
                        normalize_answer(q["answer"]) in normalize_answer(answer.text)
                        or gold_recall(answer.text, q["answer"]) >= 0.75),
                    "f1": round(token_f1(answer.text, q["answer"]), 3) if q.get("answer") else None,
                    "cites": bool(answer.citations),
                    "cites_gold": bool(gold_source) and any(c.source.endswith(gold_source) for c in answer.citations),
                    "abstained": answer.abstained, "rule": answer.abstention_rule,
                })
                print(model, rows[-1], flush=True)
            answerable = [r for r, (q, _, _) in zip(rows, retrieved) if q.get("answer")]
            figures[model] = {
                "questions": len(rows), "answerable": len(answerable),
                "right": sum(r["right"] for r in answerable), "cites": sum(r["cites"] for r in rows),
                "f1_mean": round(statistics.mean(r["f1"] for r in answerable), 3) if answerable else None,
                "cites_gold": sum(r["cites_gold"] for r in answerable),
                "abstained": sum(r["abstained"] for r in rows),
                "abstention_rules": dict(Counter(r["rule"] for r in rows if r["rule"])),
                "seconds_median": statistics.median(r["seconds"] for r in rows),
                "load_average": load_average(), "rows": rows,
            }
            summary = {k: v for k, v in figures[model].items() if k != "rows"}
            print(model, json.dumps(summary), flush=True)
    finally:
        service.close()
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
