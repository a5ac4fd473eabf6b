"""Fine-tuning the local LLM on the knowledge base: RAFT-style data, LoRA training, evaluation, versioned adapters.

Importing this package is cheap; torch, peft and transformers load when training starts.
"""
