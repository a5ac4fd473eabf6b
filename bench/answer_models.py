"""Answer quality and latency of local models side by side on one knowledge base and one question set.

Retrieval runs once per question; every configuration (model × prompt units) answers from the same
passages and facts with the serving settings (greedy, streamed). Per configuration:

* **right**: share of answerable questions whose answer holds the gold answer or one of its
  aliases (SQuAD-normalised, all of its words or at least 3 in 4); token F1 beside it;
* **cites**: share of answers (not abstentions) with a citation;
* **citation precision**: share of citations that point into the gold document, and share whose
  cited text holds the gold answer; beside it, share holding it jointly (the answer's cited
  sentences together hold the gold answer and this one holds a part of it no other cited one
  does: sentence-level citations split a two-part answer); **citation recall**: share of answerable questions answered
  with a citation into the gold document;
* **abstention accuracy** on unanswerable questions and the **false-abstention** rate on
  answerable ones, with the rule that fired;
* time to first token and whole answer (p50, p95), prompt tokens, load average beside them.

    python -m bench.answer_models --data-dir /tmp/kb --questions bench/sets/handbook18f_questions.jsonl \\
        --model HuggingFaceTB/SmolLM2-135M-Instruct --model Qwen2.5-Coder-1.5B-Instruct --units sentences passages@512

    # base vs a fine-tuned adapter of the same data directory, same passages, one process:
    python -m bench.answer_models --data-dir /tmp/kb --questions ... --model HuggingFaceTB/SmolLM2-135M-Instruct --adapter v1
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


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="An ingested knowledge base (its graph server running).")
    parser.add_argument("--questions", type=Path, default=REPO / "examples" / "questions.jsonl")
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--units", nargs="+", default=["sentences"],
                        help="Prompt configurations: sentences or passages, each optionally @TOKENS for its prompt "
                             "budget (passages@512 is the prompt before sentence selection).")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="Default: the configured LORE_MAX_NEW_TOKENS.")
    parser.add_argument("--context-tokens", type=int, default=None, help="Default: the configured LORE_CONTEXT_TOKENS.")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N questions.")
    parser.add_argument("--graph-facts", choices=("with", "without", "both"), default="with",
                        help="Answer with the graph facts retrieval found, without them, or both on the same passages "
                             "(the graph ablation).")
    parser.add_argument("--adapter", action="append", default=[],
                        help="A `lore finetune` version of the data directory (v3) or an adapter path: every model "
                             "answers as it is and with each adapter, in this process (base vs adapter).")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from api.bootstrap import build
    from api.service import LoreService
    from core.settings import Settings
    from core.types import Answer
    from generation.answerer import Answerer
    from generation.backends import load_backend
    from generation.metrics import answer_tokens, normalize_answer, token_f1

    def holds(text: str, gold: str) -> bool:
        # All of the gold answer's words, or 3 in 4 of them with every number among them
        # ("6 hours per pay period" does not hold "8 hours per pay period").
        expected, got = answer_tokens(gold), set(answer_tokens(text))
        recall = sum(t in got for t in expected) / len(expected) if expected else 0.0
        numbers = all(t in got for t in expected if any(ch.isdigit() for ch in t))
        return normalize_answer(gold) in normalize_answer(text) or (recall >= 0.75 and numbers)

    def holding_jointly(cited: list[str], golds: list[str]) -> int:
        # Sentence-level citations split a two-part answer ("up to 5 days [1]; used by 31 March [2]"):
        # a cited sentence holds its part when the cited sentences together hold the gold answer and
        # it holds one of the gold's words no other cited sentence holds, or holds the answer alone.
        for gold in golds:
            if not cited or not holds(" ".join(cited), gold):
                continue
            words = [set(answer_tokens(text)) & set(answer_tokens(gold)) for text in cited]
            return sum(holds(text, gold) or bool(mine - set().union(*(w for j, w in enumerate(words) if j != i)))
                       for i, (text, mine) in enumerate(zip(cited, words)))
        return sum(any(holds(text, g) for g in golds) for text in cited)

    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    questions = questions[: args.limit] if args.limit else questions
    overrides = {k: v for k, v in {"max_new_tokens": args.max_new_tokens, "context_tokens": args.context_tokens}.items()
                 if v is not None}
    settings = Settings(data_dir=args.data_dir, **overrides)
    service = LoreService(build(settings)).open()
    figures: dict[str, dict] = {"settings": {"max_new_tokens": settings.max_new_tokens,
                                             "context_tokens": settings.context_tokens,
                                             "questions": str(args.questions.relative_to(REPO)
                                                              if args.questions.is_relative_to(REPO) else args.questions)}}
    try:
        retrieved = [(q, *_search(service, q["question"])) for q in questions]
        runs = [(model, adapter) for model in args.model for adapter in [None, *args.adapter]]
        for model, adapter in runs:
            adapter_path = None if adapter is None else (
                Path(adapter) if Path(adapter).exists() else service.adapters.path(adapter))
            model_settings = settings.model_copy(update={"llm_model": model, "adapter_path": adapter_path})
            backend = load_backend(model_settings)
            for configuration in args.units:
                units, _, budget = configuration.partition("@")
                update = {"answer_units": units, **({"context_tokens": int(budget)} if budget else {})}
                answerer = Answerer.from_settings(backend, model_settings.model_copy(update=update),
                                                  embedder=service.parts.embedder)
                for with_facts in {"with": (True,), "without": (False,), "both": (True, False)}[args.graph_facts]:
                    rows = []
                    for q, passages, facts, unseen in retrieved:
                        started = time.perf_counter()
                        answer = next(p for p in answerer.stream(q["question"], passages, facts if with_facts else [],
                                                                 unseen_terms=unseen)
                                      if isinstance(p, Answer))
                        seconds = time.perf_counter() - started
                        golds = [q["answer"], *q.get("aliases", [])] if q.get("answer") else []
                        gold_source = q.get("source")
                        in_gold = [bool(gold_source) and c.source.endswith(gold_source) for c in answer.citations]
                        rows.append({
                            "id": q.get("id"), "answer": answer.text, "seconds": round(seconds, 2),
                            "first_token": round(answer.timings.get("first_token", seconds), 2),
                            "prompt_tokens": int(answer.timings.get("prompt_tokens", 0)),
                            "answerable": bool(golds),
                            "right": bool(golds) and not answer.abstained and any(holds(answer.text, g) for g in golds),
                            "f1": round(max(token_f1(answer.text, g) for g in golds), 3) if golds else None,
                            "citations": len(answer.citations),
                            "citations_in_gold": sum(in_gold),
                            "citations_holding": sum(any(holds(answer.passages[c.number - 1].text, g) for g in golds)
                                                     for c in answer.citations),
                            "citations_holding_jointly": holding_jointly(
                                [answer.passages[c.number - 1].text for c in answer.citations], golds),
                            "abstained": answer.abstained, "rule": answer.abstention_rule,
                            "facts_given": len(facts) if with_facts else 0,
                        })
                        print(model, adapter or "", configuration, json.dumps(rows[-1], ensure_ascii=False), flush=True)
                    key = (f"{model}{f' + {adapter}' if adapter else ''} [{units}@{answerer.context_tokens}]"
                           + ("" if with_facts else " [no graph facts]"))
                    figures[key] = {**_summary(rows), "load_average": load_average(), "rows": rows}
                    print(key, json.dumps({k: v for k, v in figures[key].items() if k != "rows"}), flush=True)
    finally:
        service.close()
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    return 0


def _search(service, question: str):
    result = service.search_for_answer(question)
    return result.passages, result.facts, result.unseen_terms


def _summary(rows: list[dict]) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    answered = [r for r in rows if not r["abstained"]]
    citations = sum(r["citations"] for r in answerable if not r["abstained"])
    share = lambda part, whole: round(part / whole, 3) if whole else None  # noqa: E731
    return {
        "questions": len(rows), "answerable": len(answerable), "unanswerable": len(unanswerable),
        "right": sum(r["right"] for r in answerable), "right_share": share(sum(r["right"] for r in answerable), len(answerable)),
        "f1_mean": round(statistics.mean(r["f1"] for r in answerable), 3) if answerable else None,
        "cite_share": share(sum(r["citations"] > 0 for r in answered), len(answered)),
        "citation_precision_document": share(sum(r["citations_in_gold"] for r in answerable if not r["abstained"]), citations),
        "citation_precision_holds_answer": share(sum(r["citations_holding"] for r in answerable if not r["abstained"]), citations),
        "citation_precision_holds_answer_jointly": share(
            sum(r["citations_holding_jointly"] for r in answerable if not r["abstained"]), citations),
        "citation_recall": share(sum(r["citations_in_gold"] > 0 and not r["abstained"] for r in answerable), len(answerable)),
        "abstention_accuracy": share(sum(r["abstained"] for r in unanswerable), len(unanswerable)),
        "false_abstention_rate": share(sum(r["abstained"] for r in answerable), len(answerable)),
        "abstention_rules": dict(Counter(r["rule"] for r in rows if r["rule"])),
        "first_token_p50": _percentile([r["first_token"] for r in rows if not r["rule"] or r["rule"] == "model-declined"], 0.5),
        "seconds_p50": _percentile([r["seconds"] for r in rows], 0.5),
        "seconds_p95": _percentile([r["seconds"] for r in rows], 0.95),
        "prompt_tokens_median": statistics.median(r["prompt_tokens"] for r in rows),
    }


if __name__ == "__main__":
    raise SystemExit(main())
