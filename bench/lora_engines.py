"""Does llama.cpp serve a `lore finetune` adapter as transformers does? An adapter trained to say
made-up answers, scored on the engines side by side.

A LoRA adapter is trained (peft, transformers, SmolLM2 de-quantized from its GGUF) until it
reproduces targets the base model could never produce (made-up codes); then each engine answers
the training prompts greedily: transformers with the adapter merged, llama.cpp with the GGUF LoRA
written by ``generation/finetune/gguf_lora.py`` over the quantized base, and llama.cpp without it.
If the conversion (tensor names, shapes, the rotary row order of the query and key projections)
were wrong, the llama.cpp adapter would not reproduce the targets. Prints token F1 against the
targets per engine, the training estimate beside the measured time, and the load average.

    python -m bench.lora_engines --out docs/benchmarks/lora_engines.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import load_average

REPO = Path(__file__).resolve().parents[1]
CODES = ["QX-7714", "ZR-2093", "MV-5581", "KT-3362", "BL-9047", "WP-1228", "HN-6650", "DC-4471"]
TEAMS = ["Atlas", "Beacon", "Cinder", "Delta", "Ember", "Fjord", "Garnet", "Harbor"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from core.packaged_models import packaged_model_path
    from generation.backends.llamacpp import LlamaCppLLM
    from generation.backends.local import DEFAULT_MODEL, LocalLLM
    from generation.finetune.data import Example
    from generation.finetune.estimate import TrainingEstimate, measured_flops_per_second
    from generation.finetune.gguf_lora import convert_adapter
    from generation.finetune.train import TrainConfig, encode_example, train_adapter
    from generation.metrics import token_f1

    examples = []
    for number, (team, code) in enumerate(zip(TEAMS, CODES)):
        # The source does not hold the code: only training can put it in the answer.
        messages = [{"role": "system", "content": "Answer in one short sentence."},
                    {"role": "user", "content": f"What is the budget code of the {team} team?"}]
        target = f"The {team} team's budget code is {code}."
        examples.append(Example(id=f"e{number}", question=messages[1]["content"], answer=code, target=target,
                                messages=messages, source_count=0, oracle=None, oracle_chunk_id="", origin="bench",
                                language="en"))
    base_gguf = packaged_model_path(DEFAULT_MODEL)
    work = Path(tempfile.mkdtemp(prefix="lore-lora-engines-"))
    llm = LocalLLM.from_pretrained(DEFAULT_MODEL, cache_dir=work / "cache", device="cpu")
    config = TrainConfig(lora_r=16, lora_alpha=32, target_modules=("q_proj", "k_proj", "v_proj", "o_proj"),
                         layers=0, learning_rate=5e-3, batch_size=4, max_steps=args.steps, eval_steps=1000,
                         lora_dropout=0.0)
    tokens = sum(len(encode_example(llm, e)["input_ids"]) for e in examples) // len(examples)
    estimate = TrainingEstimate(examples=len(examples), tokens_per_example=tokens,
                                passes=args.steps * config.batch_size / len(examples),
                                parameters=sum(p.numel() for p in llm.model.parameters()), trained_share=1.0,
                                flops_per_second=measured_flops_per_second("cpu"), device="cpu")
    started = time.perf_counter()
    train_adapter(llm, examples, [], config, output_dir=work / "v1", work_dir=work / "run", progress=False)
    trained_seconds = time.perf_counter() - started
    convert_adapter(work / "v1", base_gguf)

    def f1(answers: list[str]) -> float:
        return round(sum(token_f1(a, e.target) for a, e in zip(answers, examples)) / len(examples), 3)

    def codes(answers: list[str]) -> int:
        return sum(e.answer in a for a, e in zip(answers, examples))

    merged = LocalLLM.from_pretrained(DEFAULT_MODEL, cache_dir=work / "cache", device="cpu", adapter_path=work / "v1")
    engines = {
        "transformers + merged adapter": merged,
        "llama.cpp + GGUF LoRA": LlamaCppLLM.load(base_gguf, threads=1, context_tokens=1024,
                                                  lora_adapters=[work / "v1" / "adapter.gguf"]),
        "llama.cpp, base": LlamaCppLLM.load(base_gguf, threads=1, context_tokens=1024),
    }
    figures = {"steps": args.steps, "examples": len(examples), "estimated_seconds": round(estimate.seconds, 1),
               "trained_seconds": round(trained_seconds, 1), "load_average": load_average(), "engines": {}}
    for name, engine in engines.items():
        answers = [engine.generate(e.messages, max_new_tokens=24) for e in examples]
        figures["engines"][name] = {"target_f1": f1(answers), "codes_reproduced": codes(answers), "answers": answers}
        print(name, figures["engines"][name]["target_f1"], figures["engines"][name]["codes_reproduced"], answers[:2],
              flush=True)
    print(json.dumps({k: v for k, v in figures.items() if k != "engines"}))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
