"""Answer generation: LLM backends, prompt assembly within a token budget, and cited answers.

Nothing heavy is imported here; backends load torch/transformers or httpx only when built.
"""
