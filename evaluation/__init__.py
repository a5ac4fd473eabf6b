"""``lore eval``: retrieval and answer quality on a question set, per search mode and generator, with baselines."""

from evaluation.datasets import FORMATS, EvalDataset, EvalItem, load_dataset
from evaluation.runner import EvalOptions, EvalReport, evaluate, run, variant

__all__ = ["FORMATS", "EvalDataset", "EvalItem", "EvalOptions", "EvalReport", "evaluate", "load_dataset", "run", "variant"]
