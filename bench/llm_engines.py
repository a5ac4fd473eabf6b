"""The local LLM on its two engines, side by side in one process: llama.cpp serving the GGUF as it
is against transformers running the de-quantised copy. Time to first token and decode speed on
the same prompt, plus llama.cpp at 1 and 2 threads.

    python -m bench.llm_engines [--model NAME] [--repeat 3] [--out docs/benchmarks/llm_engines.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import load_average

REPO = Path(__file__).resolve().parents[1]

# A prompt the size Lore's answerer builds (a few sources and the question), in its own format.
SOURCES = "\n\n".join(
    f"[{n}] (handbook/page-{n}.md) " + text for n, text in enumerate([
        "The Platform team runs the build and deploy pipeline. Dana Reyes leads the team; on-call rotates weekly.",
        "Expense reports are filed within 30 days of the purchase. Receipts over 75 dollars must be attached.",
        "New staff get a laptop on their first day. The help desk sets up accounts and two-factor tokens.",
        "Security reviews happen before any service handles personal data. The review board meets on Tuesdays.",
    ], 1)
)
MESSAGES = [
    {"role": "system", "content": "Answer the question from the sources only, citing them as [n]. "
                                  "If the sources do not hold the answer, say so."},
    {"role": "user", "content": f"Sources:\n\n{SOURCES}\n\nQuestion: Who leads the Platform team, and how does on-call work?"},
]


def _messages(run: int) -> list[dict[str, str]]:
    # A different first line each run: llama.cpp reuses the KV cache of a prompt it has seen, and a
    # new question brings new sources, so only the system turn may be cached, as in real use.
    system, user = MESSAGES
    return [system, {"role": "user", "content": f"(request {run})\n{user['content']}"}]


def _time(backend, max_new_tokens: int, run: int) -> dict[str, float]:
    started = time.perf_counter()
    first = None
    text = ""
    for piece in backend.stream(_messages(run), max_new_tokens=max_new_tokens):
        if first is None:
            first = time.perf_counter() - started
        text += piece
    total = time.perf_counter() - started
    tokens = max(1, backend.count_tokens(text))
    decode = (total - (first or 0)) / max(1, tokens - 1)
    return {"ttft_s": round(first or total, 3), "total_s": round(total, 3), "tokens": tokens,
            "decode_tokens_per_s": round(1 / decode, 1) if decode > 0 else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--skip-transformers", action="store_true", help="Only llama.cpp (large models).")
    parser.add_argument("--busy", type=int, default=0, help="CPU-bound processes to run beside (a busy machine).")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from core.settings import Settings
    from generation.backends import gguf_file_for
    from generation.backends.llamacpp import LlamaCppLLM
    from generation.backends.local import LocalLLM

    shared = Settings().shared_model_dir
    gguf = gguf_file_for(args.model, shared)
    if gguf is None:
        raise SystemExit(f"{args.model} is not a GGUF model here")
    engines = {}
    loads = {}
    for threads in (1, 2):
        started = time.perf_counter()
        engines[f"llamacpp-{threads}t"] = LlamaCppLLM.load(gguf, threads=threads)
        loads[f"llamacpp-{threads}t"] = round(time.perf_counter() - started, 2)
    with tempfile.TemporaryDirectory() as cache:
        if not args.skip_transformers:
            started = time.perf_counter()
            engines["transformers"] = LocalLLM.from_pretrained(args.model, cache_dir=Path(cache), device="cpu")
            loads["transformers"] = round(time.perf_counter() - started, 2)
        prompt_tokens = engines["llamacpp-1t"].count_tokens(engines["llamacpp-1t"].render(MESSAGES))
        runs: dict[str, list[dict]] = {name: [] for name in engines}
        for name, backend in engines.items():  # warm each once
            _time(backend, 4, -1)
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
        try:
            for number in range(args.repeat):
                for name, backend in engines.items():  # alternated, so drifting load hits all alike
                    run = _time(backend, args.max_new_tokens, number)
                    run["load_average"] = load_average()
                    runs[name].append(run)
                    print(name, run, flush=True)
        finally:
            for hog in hogs:
                hog.kill()
    summary = {
        name: {"ttft_s_median": statistics.median(r["ttft_s"] for r in rs),
               "decode_tokens_per_s_median": statistics.median(r["decode_tokens_per_s"] or 0 for r in rs),
               "total_s_median": statistics.median(r["total_s"] for r in rs), "load_s": loads[name]}
        for name, rs in runs.items()
    }
    if "transformers" in summary:
        base = summary["transformers"]
        for name in summary:
            summary[name]["decode_speedup_vs_transformers"] = round(
                summary[name]["decode_tokens_per_s_median"] / max(1e-9, base["decode_tokens_per_s_median"]), 2)
            summary[name]["ttft_speedup_vs_transformers"] = round(base["ttft_s_median"] / max(1e-9, summary[name]["ttft_s_median"]), 2)
    figures = {"model": args.model, "busy_processes": args.busy, "gguf": gguf.name, "prompt_tokens": prompt_tokens, "cores": os.cpu_count(),
               "summary": summary, "runs": runs}
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
