"""LoRA fine-tuning with peft on the transformers ``Trainer``.

Why ``Trainer`` rather than a hand-written loop: it already does what the job
needs and is well tested: seeding (model init, data order), periodic evaluation on
the held-out split, early stopping (``EarlyStoppingCallback`` on validation loss),
reloading the best checkpoint at the end, resuming from the last checkpoint of an
interrupted run, a progress bar, and CUDA when present. The only Lore-specific
part is the data: each example is the served prompt (rendered with the model's
chat template) followed by the target reply, with labels -100 on the prompt, so
the loss counts the answer tokens only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from transformers import (
    DataCollatorForSeq2Seq,
    EarlyStoppingCallback,
    PrinterCallback,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)
from transformers.trainer_utils import get_last_checkpoint

from generation.backends.local import LocalLLM
from generation.finetune.data import Example

log = logging.getLogger(__name__)
IGNORE_INDEX = -100


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; recorded in the adapter's manifest."""

    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    # LoRA on the last N transformer layers only (0: all). Backpropagation stops at
    # the lowest trained layer, so the frozen layers below cost a forward pass and
    # keep no activations: several times faster on CPU, and the answer format
    # (short span, cite the source number, or abstain) is learnt in the top layers.
    layers: int = 8
    learning_rate: float = 1e-3
    epochs: float = 3.0
    batch_size: int = 4
    eval_steps: int = 20
    patience: int = 2
    max_steps: int = -1  # > 0 caps the run (tests, quick trials)
    seed: int = 13
    logging_steps: int = 5

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "target_modules": list(self.target_modules)}

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class TrainResult:
    steps: int
    seconds: float
    train_loss: list[tuple[int, float]] = field(default_factory=list)  # (step, loss) as logged
    eval_loss: list[tuple[int, float]] = field(default_factory=list)
    best_eval_loss: float | None = None
    stopped_early: bool = False
    resumed_from: str | None = None
    device: str = "cpu"

    def summary(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "seconds": round(self.seconds, 1),
            "first_train_loss": self.train_loss[0][1] if self.train_loss else None,
            "last_train_loss": self.train_loss[-1][1] if self.train_loss else None,
            "best_eval_loss": self.best_eval_loss,
            "eval_loss": self.eval_loss,
            "stopped_early": self.stopped_early,
            "resumed_from": self.resumed_from,
            "device": self.device,
        }


class _AnswerOnlyTrainer(Trainer):
    """Computes the vocabulary logits only at the answer positions.

    The prompt is hundreds of tokens and the answer a dozen; with a 49k-token
    vocabulary the output layer over every prompt position is a large share of
    each step on CPU and every one of those logits is masked out of the loss
    anyway. Batches are left-padded, so all answers end at the last column and
    the last ``keep`` positions hold every labelled token.
    """

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[override]
        labels = inputs.pop("labels")
        labelled = (labels != IGNORE_INDEX).any(dim=0).nonzero()
        first = int(labelled[0]) if len(labelled) else labels.shape[1] - 1
        # Position p predicts token p + 1: keep one position before the first label.
        keep = labels.shape[1] - first + 1
        outputs = model(**inputs, logits_to_keep=keep)
        logits = outputs.logits[:, :-1, :].float()
        targets = labels[:, labels.shape[1] - keep + 1 :].to(logits.device)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        count = num_items_in_batch if num_items_in_batch is not None else (targets != IGNORE_INDEX).sum()
        loss = loss / count
        return (loss, outputs) if return_outputs else loss


class _Tokenized(Dataset):
    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.rows[index]


def encode_example(llm: LocalLLM, example: Example) -> dict[str, list[int]]:
    """Prompt ids (labels masked) + target ids + end-of-turn (labels kept): loss on the answer only."""
    tokenizer = llm.tokenizer
    prompt_ids = tokenizer(llm.render(example.messages), add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(example.target, add_special_tokens=False)["input_ids"]
    # Ending on the turn's stop token teaches the model to stop after the short answer.
    target_ids = target_ids + [llm.stop_token_id]
    return {
        "input_ids": prompt_ids + target_ids,
        "attention_mask": [1] * (len(prompt_ids) + len(target_ids)),
        "labels": [IGNORE_INDEX] * len(prompt_ids) + target_ids,
    }


def _top_layers(model: Any, count: int) -> list[int] | None:
    total = getattr(model.config, "num_hidden_layers", None)
    if count <= 0 or not total or count >= total:
        return None
    return list(range(total - count, total))


def _length_grouping() -> dict[str, Any]:
    # Similar lengths in a batch: less padding, which is most of the cost on CPU.
    # transformers 5 renamed the switch.
    if "train_sampling_strategy" in TrainingArguments.__dataclass_fields__:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


def _pad_ready(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # padding is masked out of attention and loss
    # Left padding lines the answers up at the end of the batch (see _AnswerOnlyTrainer).
    tokenizer.padding_side = "left"
    return tokenizer


def train_adapter(
    llm: LocalLLM,
    train: list[Example],
    validation: list[Example],
    config: TrainConfig,
    *,
    output_dir: Path,
    work_dir: Path,
    progress: bool = True,
) -> TrainResult:
    """Train a LoRA adapter on ``llm`` (modified in place) and save it to ``output_dir``.

    Checkpoints go to ``work_dir``; a run that finds checkpoints there resumes from
    the last one (same data and config give the same ``work_dir``, see ``TrainConfig.key``).
    ``work_dir`` is removed after the adapter is saved.
    """
    from peft import LoraConfig, TaskType, get_peft_model

    if not train:
        raise ValueError("no training examples")
    torch.manual_seed(config.seed)
    model = get_peft_model(
        llm.model,
        LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=list(config.target_modules),
            layers_to_transform=_top_layers(llm.model, config.layers),
        ),
    )
    tokenizer = _pad_ready(llm.tokenizer)
    train_set = _Tokenized([encode_example(llm, e) for e in train])
    eval_set = _Tokenized([encode_example(llm, e) for e in validation]) if validation else None

    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    total = config.max_steps if config.max_steps > 0 else math.ceil(steps_per_epoch * config.epochs)
    eval_steps = max(1, min(config.eval_steps, total))
    on_cuda = llm.device.type == "cuda"
    args = TrainingArguments(
        output_dir=str(work_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        warmup_steps=max(1, total // 20),
        lr_scheduler_type="linear",
        # A short run still logs a training curve (at least four points).
        logging_steps=max(1, min(config.logging_steps, total // 4)),
        eval_strategy="steps" if eval_set else "no",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=2,
        load_best_model_at_end=eval_set is not None,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        seed=config.seed,
        data_seed=config.seed,
        **_length_grouping(),
        bf16=on_cuda and torch.cuda.is_bf16_supported(),
        use_cpu=not on_cuda and llm.device.type == "cpu",
        report_to=[],
        disable_tqdm=not progress,
        remove_unused_columns=False,
        prediction_loss_only=True,  # validation needs the loss only, not gathered logits
        dataloader_num_workers=0,
        save_only_model=False,
    )
    callbacks = [EarlyStoppingCallback(early_stopping_patience=config.patience)] if eval_set else []
    trainer = _AnswerOnlyTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX),
        callbacks=callbacks,
    )
    if not progress:
        # Without a progress bar Trainer prints every log dict to stdout; the CLI's --json owns stdout.
        trainer.remove_callback(PrinterCallback)
    last = get_last_checkpoint(str(work_dir)) if work_dir.is_dir() else None
    if last:
        log.info("resuming fine-tuning from %s", last)
    started = time.perf_counter()
    outcome = trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - started

    history = trainer.state.log_history
    result = TrainResult(
        steps=outcome.global_step,
        seconds=seconds,
        train_loss=[(h["step"], h["loss"]) for h in history if "loss" in h],
        eval_loss=[(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h],
        best_eval_loss=trainer.state.best_metric,
        stopped_early=outcome.global_step < total,
        resumed_from=last,
        device=str(llm.device),
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output_dir))
    shutil.rmtree(work_dir, ignore_errors=True)
    model.eval()
    return result


def answer_loss(llm: LocalLLM, examples: list[Example]) -> float:
    """Mean cross-entropy of the target tokens given the served prompt: what training minimises."""
    total, count = 0.0, 0
    with torch.inference_mode():
        for example in examples:
            row = encode_example(llm, example)
            ids = torch.tensor([row["input_ids"]], device=llm.device)
            labels = torch.tensor([row["labels"]], device=llm.device)
            answer_tokens = int((labels[:, 1:] != IGNORE_INDEX).sum())
            total += float(llm.model(input_ids=ids, labels=labels).loss) * answer_tokens
            count += answer_tokens
    return total / max(count, 1)
