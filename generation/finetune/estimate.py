"""How long `lore finetune` will take here, said before training starts.

Training cost is dominated by matrix products: per token, a forward pass over every layer (about
2 FLOPs per parameter) and a backward pass through the LoRA layers only (about 4 per parameter of
those layers; backpropagation stops at the lowest trained layer). The machine's speed is measured
on the spot with a short fp32 matrix product, and ``EFFICIENCY`` is the share of that speed a
training step reaches, calibrated on a measured run (``python -m bench.lora_engines``: SmolLM2-135M,
LoRA on every layer, 40 steps of 4 short examples, estimated 360 s at 0.35, trained in 160 s on 2
cores with another benchmark beside it). One run on one machine: the figure says hours or minutes,
not seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# Share of the measured matmul FLOP/s a CPU training step reaches (padding, attention, optimizer, Python).
EFFICIENCY = 0.8
# Above this a CPU run is called out and the small model offered.
LONG_RUN_SECONDS = 3600.0


@dataclass(frozen=True)
class TrainingEstimate:
    examples: int
    tokens_per_example: int
    passes: float  # epochs, or steps × batch / examples when capped
    parameters: int
    trained_share: float  # share of the layers that carry LoRA
    flops_per_second: float
    device: str

    @property
    def seconds(self) -> float:
        tokens = self.examples * self.passes * self.tokens_per_example
        flops = tokens * self.parameters * (2.0 + 4.0 * self.trained_share)
        return flops / (self.flops_per_second * (1.0 if self.device != "cpu" else EFFICIENCY))

    @property
    def long(self) -> bool:
        return self.device == "cpu" and self.seconds > LONG_RUN_SECONDS

    def describe(self, model: str) -> str:
        return (f"{self.examples} examples × ~{self.tokens_per_example} tokens × {self.passes:.1f} passes on {model} "
                f"({self.parameters / 1e6:.0f}M parameters, LoRA on {self.trained_share:.0%} of the layers): "
                f"about {_duration(self.seconds)} on this {self.device.upper() if self.device != 'cpu' else 'CPU'}")


def measured_flops_per_second(device: str = "cpu", size: int = 768, repeats: int = 6) -> float:
    """fp32 matrix-product speed of ``device`` now (a fraction of a second to measure)."""
    import torch

    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    (a @ b).sum().item()  # warm up (and, on a GPU, initialise the kernels)
    started = time.perf_counter()
    for _ in range(repeats):
        c = a @ b
    c.sum().item()
    return 2 * size**3 * repeats / max(time.perf_counter() - started, 1e-9)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
