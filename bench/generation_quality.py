"""Answer quality of the base model vs a fine-tuned adapter, on evaluation questions the training never saw.

For every question the real retrieval runs once and both models answer from the
same passages (greedy, the serving settings), so the difference is the adapter's
alone. Question sets:

- ``examples``: ``examples/questions.jsonl`` (hand-written, about the sample corpus);
- ``cmrc``: the CMRC 2018 trial questions of the paragraphs in the knowledge base;
- ``qmsum``: the QMSum specific queries of the meetings in the knowledge base;
- ``unanswerable``: CMRC questions of paragraphs and QMSum queries of a meeting
  that were *not* ingested: the right reply is the abstention sentence.

``--train-qmsum`` meetings are ingested too but never asked, and ``--write-training FILE``
writes question/answer lines for ``lore finetune --data`` from material no evaluated
question comes from: the QMSum specific queries of those meetings and the CMRC questions
of the ingested paragraphs after the first ``--eval-paragraphs`` (the evaluated questions
are the first ``--limit`` of each set, from those first paragraphs).

Scores (generation.metrics): token F1 and exact match against the gold answer
(best of several for CMRC), citation accuracy (the answer cites a passage of
the gold document), abstention rate. The knowledge base in ``--data-dir`` is
built first when empty: ``examples/``, the first ``--cmrc-paragraphs`` CMRC 2018
paragraphs and the ``--qmsum`` meetings from the shared data folder.

    python -m bench.generation_quality --data-dir /tmp/kb --out docs/generation_quality.json
    python -m bench.generation_quality --data-dir /tmp/kb --cmrc-paragraphs 80 --train-qmsum train_ES2002a \
        --write-training /tmp/train.jsonl        # then: lore finetune --data /tmp/train.jsonl
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
from evaluation.retrieval import shared_data_dir, write_cmrc_corpus  # noqa: E402
from retrieval.query import Query

ROOT = Path(__file__).resolve().parents[1]
QMSUM_MEETINGS = ("train_ES2005a", "train_IS1004a")
QMSUM_UNANSWERABLE = "train_Bed004"  # a research-group meeting: nothing like it in the knowledge base


def load_questions(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        row["answers"] = row.get("answers") or [row["answer"]]
    return rows


def cmrc_questions(paragraph_files: list[Path], trial: Path) -> list[dict]:
    wanted = {p.stem for p in paragraph_files}
    payload = json.loads(trial.read_text(encoding="utf-8"))
    return [
        {"id": qa["id"], "question": qa["question"], "answers": [a["text"] for a in qa["answers"]],
         "source": f"{paragraph['id']}.txt"}
        for article in payload["data"] for paragraph in article["paragraphs"] if paragraph["id"] in wanted
        for qa in paragraph["qas"]
    ]


def qmsum_questions(meeting: Path) -> list[dict]:
    payload = json.loads(meeting.read_text(encoding="utf-8"))
    return [
        {"id": f"{meeting.stem}/{i}", "question": q["query"], "answers": [q["answer"]], "source": meeting.name}
        for i, q in enumerate(payload.get("specific_query_list", []))
    ]


def question_sets(args: argparse.Namespace, corpus: Path) -> tuple[list[Path], dict[str, list[dict]]]:
    """The files to ingest and the question sets over them."""
    data = shared_data_dir(ROOT)
    trial = data / "cmrc2018" / "trial.json"
    paragraphs = corpus / "cmrc-all"
    write_cmrc_corpus(trial, paragraphs)
    every = sorted(paragraphs.glob("*.txt"))
    chosen, unseen = every[: args.cmrc_paragraphs], every[args.cmrc_paragraphs :]
    ingested = corpus / "cmrc"
    ingested.mkdir(parents=True, exist_ok=True)
    for path in chosen:
        (ingested / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    meetings = [data / "qmsum" / f"{name}.json" for name in args.qmsum]
    training_meetings = [data / "qmsum" / f"{name}.json" for name in args.train_qmsum]
    limit = args.limit
    asked = [ingested / p.name for p in chosen[: args.eval_paragraphs]]
    sets = {
        "examples": load_questions(args.questions)[:limit],
        "cmrc": cmrc_questions(asked, trial)[:limit],
        "qmsum": [q for m in meetings for q in qmsum_questions(m)][:limit],
        "unanswerable": (cmrc_questions(unseen, trial)[: args.unanswerable]
                         + qmsum_questions(data / "qmsum" / f"{QMSUM_UNANSWERABLE}.json")[: args.unanswerable]),
    }
    if args.write_training:
        training = cmrc_questions([ingested / p.name for p in chosen[args.eval_paragraphs :]], trial)
        training += [q for m in training_meetings for q in qmsum_questions(m)]
        args.write_training.write_text("".join(
            json.dumps({"question": q["question"], "answer": q["answers"][0], "source": q["source"]}, ensure_ascii=False)
            + "\n" for q in training), encoding="utf-8")
    return [ROOT / "examples", ingested, *meetings, *training_meetings], sets


def cites_source(answer, source: str) -> float:
    return float(any(Path(c.source).as_posix().endswith(source) for c in answer.citations))


def summarise(rows: list[dict]) -> dict[str, float]:
    return {
        "f1": round(mean(r["f1"] for r in rows), 4),
        "exact_match": round(mean(r["em"] for r in rows), 4),
        "citation_accuracy": round(mean(r["cites_gold"] for r in rows), 4),
        "abstention_rate": round(mean(r["abstained"] for r in rows), 4),
    }


def result_of(args: argparse.Namespace, settings: Settings, version: str | None, sets: dict, rows: dict, seconds: float) -> dict:
    return {
        "adapter": version if "fine-tuned" in args.models else None,
        "settings": {"context_tokens": settings.context_tokens, "top_k": settings.top_k,
                     "max_new_tokens": settings.max_new_tokens, "answer_min_relevance": settings.answer_min_relevance},
        "counts": {name: len(q) for name, q in sets.items()},
        "seconds": round(seconds, 1),
        "summary": {s: {name: summarise(r) for name, r in by_model.items() if r} for s, by_model in rows.items()},
        "rows": rows,
    }


def run(args: argparse.Namespace) -> dict:
    settings = Settings(data_dir=args.data_dir)
    corpus = args.data_dir.parent / f"{args.data_dir.name}-corpus"
    files, sets = question_sets(args, corpus)
    sets = {name: rows for name, rows in sets.items() if name in args.sets}
    with LoreService.from_settings(settings) as service:
        if not service.documents():
            report = service.ingest(files)
            assert not report.failed, report.failed
        version = args.adapter or service.adapters.active()
        if version is None and "fine-tuned" in args.models:
            raise SystemExit("no adapter: train one with `lore finetune` or pass --adapter")
        adapter = (args.adapter_dir or service.adapters.path(version)) if "fine-tuned" in args.models else None
        models = {
            name: LocalLLM.from_pretrained(
                settings.llm_model, cache_dir=settings.model_cache_dir, adapter_path=adapter if name == "fine-tuned" else None
            )
            for name in args.models
        }
        answerers = {name: Answerer.from_settings(llm, settings) for name, llm in models.items()}
        rows: dict[str, dict[str, list[dict]]] = {s: {name: [] for name in models} for s in sets}
        started = time.perf_counter()
        for set_name, questions in sets.items():
            for q in questions:
                found = service.search(Query(text=q["question"], k=settings.top_k))
                for name, answerer in answerers.items():
                    answer = answerer.answer(q["question"], found.passages, found.facts)
                    rows[set_name][name].append({
                        "id": q.get("id"),
                        "prediction": answer.text,
                        "f1": best_of(token_f1, answer.text, q["answers"]),
                        "em": best_of(exact_match, answer.text, q["answers"]),
                        "cites_gold": cites_source(answer, q["source"]),
                        "abstained": float(is_abstention(answer.text)),
                    })
                if args.out:  # after every question: a run cut short still leaves its answers
                    args.out.write_text(json.dumps(result_of(args, settings, version, sets, rows, time.perf_counter() - started),
                                                   indent=2, ensure_ascii=False))
                if args.verbose:
                    print(set_name, q["question"], "|", q["answers"][0][:60], "|",
                          " || ".join(r[-1]["prediction"][:80] for r in rows[set_name].values()), flush=True)
    return result_of(args, settings, version, sets, rows, time.perf_counter() - started)


def combine(paths: list[Path]) -> dict:
    """One result from runs that each scored some models or sets; questions answered by every model only."""
    parts = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    rows: dict[str, dict[str, list[dict]]] = {}
    for part in parts:
        if part["settings"] != parts[0]["settings"]:
            raise SystemExit(f"cannot combine: different settings in {paths}")
        for set_name, by_model in part["rows"].items():
            for model, model_rows in by_model.items():
                rows.setdefault(set_name, {}).setdefault(model, []).extend(model_rows)
    for set_name, by_model in rows.items():
        common = set.intersection(*({r["id"] for r in model_rows} for model_rows in by_model.values()))
        for model in by_model:
            by_model[model] = [r for r in by_model[model] if r["id"] in common]
    return {
        "adapter": next((p["adapter"] for p in parts if p["adapter"]), None),
        "settings": parts[0]["settings"],
        "counts": {s: len(next(iter(by_model.values()))) for s, by_model in rows.items()},
        "seconds": sum(p["seconds"] for p in parts),
        "summary": {s: {m: summarise(r) for m, r in by_model.items()} for s, by_model in rows.items()},
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=ROOT / "examples" / "questions.jsonl")
    parser.add_argument("--sets", nargs="+", default=["examples", "cmrc", "qmsum", "unanswerable"])
    parser.add_argument("--cmrc-paragraphs", type=int, default=16, help="CMRC 2018 paragraphs in the knowledge base")
    parser.add_argument("--qmsum", nargs="+", default=list(QMSUM_MEETINGS), help="QMSum meetings in the knowledge base")
    parser.add_argument("--eval-paragraphs", type=int, default=16, help="CMRC paragraphs whose questions are asked")
    parser.add_argument("--train-qmsum", nargs="*", default=[], help="QMSum meetings ingested but never asked")
    parser.add_argument("--write-training", type=Path, help="write training question/answer JSONL (see above), then go on")
    parser.add_argument("--unanswerable", type=int, default=8, help="CMRC and QMSum questions each with no answer in it")
    parser.add_argument("--adapter", help="adapter version (default: the active one)")
    parser.add_argument("--adapter-dir", type=Path, help="adapter folder (e.g. a training checkpoint) instead of a version")
    parser.add_argument("--limit", type=int, help="questions per set at most")
    parser.add_argument("--models", nargs="+", choices=["base", "fine-tuned"], default=["base", "fine-tuned"],
                        help="run only some models (e.g. in two processes), then --combine the outputs")
    parser.add_argument("--combine", type=Path, nargs="+", help="merge earlier --out files of one model each, run nothing")
    parser.add_argument("--out", type=Path, help="write the full JSON result here")
    parser.add_argument("--verbose", action="store_true", help="print each question with both answers")
    args = parser.parse_args()
    result = combine(args.combine) if args.combine else run(args)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
