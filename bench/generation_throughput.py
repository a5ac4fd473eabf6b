"""Generation speed of the local model: time to first token and tokens/s, base vs merged LoRA adapter.

Both models run in this process on the same prompts, interleaved, and the result
is reported as ratios (fine-tuned / base), so machine load cancels out. The merged
adapter should cost nothing: its deltas are folded into the base weights.

    python -m bench.generation_throughput --cache-dir /tmp/lore-models [--adapter DIR] [--runs 3]

Without ``--adapter`` a LoRA adapter with random (non-zero) weights on the
default target modules is made in a temporary folder, so the bench needs no
trained adapter.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from generation.backends.local import DEFAULT_MODEL, LocalLLM  # noqa: E402
from generation.prompts import TEMPLATES  # noqa: E402

PASSAGE = (
    "Employees in the United States get 22 days of paid time off each year, accrued monthly. Up to five unused "
    "days can be carried into the next year and must be used by 31 March. Requests for more than three consecutive "
    "working days are submitted at least ten working days in advance. "
)
QUESTIONS = [
    "How many days of paid time off do employees get, and how do they accrue?",
    "Until when can carried-over days be used?",
    "How far in advance must a long absence be requested?",
]


def messages(question: str) -> list[dict[str, str]]:
    content = f"Sources:\n\n[1] handbook-leave-policy.md\n{PASSAGE * 2}\n\nQuestion: {question}"
    return [{"role": "system", "content": TEMPLATES["en"].system}, {"role": "user", "content": content}]


def random_adapter(model_name: str, cache_dir: Path, target: Path) -> Path:
    from peft import LoraConfig, get_peft_model

    base = LocalLLM.from_pretrained(model_name, cache_dir=cache_dir, device="cpu")
    torch.manual_seed(0)
    peft_model = get_peft_model(
        base.model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(str(target))
    return target


def measure(llm: LocalLLM, question: str, max_new_tokens: int) -> tuple[float, float, int]:
    """(seconds to first piece, tokens/s after it, tokens) for one streamed greedy answer."""
    started = time.perf_counter()
    first = None
    pieces = []
    for piece in llm.stream(messages(question), max_new_tokens=max_new_tokens, temperature=0.0):
        if first is None:
            first = time.perf_counter() - started
        pieces.append(piece)
    total = time.perf_counter() - started
    tokens = llm.count_tokens("".join(pieces))
    rate = (tokens - 1) / (total - first) if first is not None and tokens > 1 and total > first else 0.0
    return first or total, rate, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--cache-dir", type=Path, default=Path(".lore/models"))
    parser.add_argument("--adapter", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        adapter = args.adapter or random_adapter(args.model, args.cache_dir, Path(scratch) / "adapter")
        models = {
            "base": LocalLLM.from_pretrained(args.model, cache_dir=args.cache_dir, device="cpu"),
            "merged_adapter": LocalLLM.from_pretrained(args.model, cache_dir=args.cache_dir, adapter_path=adapter, device="cpu"),
        }
        for llm in models.values():  # warm-up: first call pays one-off allocation costs
            measure(llm, QUESTIONS[0], 4)
        samples: dict[str, dict[str, list[float]]] = {n: {"ttft": [], "rate": []} for n in models}
        for _ in range(args.runs):
            for question in QUESTIONS:
                for name, llm in models.items():  # interleaved: load changes hit both alike
                    ttft, rate, _ = measure(llm, question, args.max_new_tokens)
                    samples[name]["ttft"].append(ttft)
                    if rate:
                        samples[name]["rate"].append(rate)
    result = {
        name: {
            "time_to_first_token_s": round(statistics.median(s["ttft"]), 3),
            "tokens_per_second": round(statistics.median(s["rate"]), 1) if s["rate"] else None,
        }
        for name, s in samples.items()
    }
    base, merged = result["base"], result["merged_adapter"]
    result["ratios_merged_over_base"] = {
        "time_to_first_token": round(merged["time_to_first_token_s"] / base["time_to_first_token_s"], 3),
        "tokens_per_second": round(merged["tokens_per_second"] / base["tokens_per_second"], 3)
        if merged["tokens_per_second"] and base["tokens_per_second"]
        else None,
    }
    result["torch_threads"] = torch.get_num_threads()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
