"""Versioned LoRA adapters under ``<data_dir>/adapters/``: one folder per version, a manifest, an ``active`` pointer.

::

    adapters/
      v1/  adapter_config.json  adapter_model.safetensors  adapter.gguf  manifest.json
      v2/  ...
      active            <- the text "v2"

The pointer is a small file replaced atomically, so a reader never sees half a name.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigurationError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
ACTIVE = "active"
_VERSION = re.compile(r"^v(\d+)$")


@dataclass
class Manifest:
    """What made an adapter: enough to reproduce it and to refuse it on the wrong base model."""

    version: str
    base_model: str
    data_hash: str
    created_at: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # counts by split and origin
    metrics: dict[str, Any] = field(default_factory=dict)
    # The engine that serves it: "llamacpp" (adapter.gguf beside the peft files) or "transformers".
    engine: str = "transformers"

    def save(self, directory: Path) -> None:
        (directory / MANIFEST).write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        try:
            return cls(**json.loads((directory / MANIFEST).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigurationError(f"{directory / MANIFEST} is missing or malformed: {exc}") from exc


class AdapterRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def versions(self) -> list[str]:
        """Saved versions, oldest first."""
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir() if p.is_dir() and _VERSION.match(p.name) and (p / MANIFEST).is_file()]
        return sorted(found, key=lambda name: int(_VERSION.match(name).group(1)))

    def next_version(self) -> str:
        numbers = [int(_VERSION.match(p.name).group(1)) for p in self.root.glob("v*") if _VERSION.match(p.name)]
        return f"v{max(numbers, default=0) + 1}"

    def path(self, version: str) -> Path:
        if not _VERSION.match(version):
            raise ConfigurationError(f"adapter version {version!r} is not of the form v<N>")
        return self.root / version

    def manifest(self, version: str) -> Manifest:
        return Manifest.load(self.path(version))

    def active(self) -> str | None:
        pointer = self.root / ACTIVE
        if not pointer.is_file():
            return None
        version = pointer.read_text(encoding="utf-8").strip()
        if version not in self.versions():
            log.warning("active adapter %r is not in %s; ignoring it", version, self.root)
            return None
        return version

    def activate(self, version: str) -> None:
        if version not in self.versions():
            have = ", ".join(self.versions()) or "none"
            raise ConfigurationError(f"no adapter version {version!r} in {self.root} (have: {have})")
        self._write_pointer(version)

    def deactivate(self) -> None:
        (self.root / ACTIVE).unlink(missing_ok=True)

    def active_path(self, base_model: str) -> Path | None:
        """The active adapter's folder when it was trained on ``base_model``; else None (with a warning)."""
        version = self.active()
        if version is None:
            return None
        manifest = self.manifest(version)
        if manifest.base_model != base_model:
            log.warning(
                "active adapter %s was trained on %s, not the configured %s; answering without it",
                version, manifest.base_model, base_model,
            )
            return None
        return self.path(version)

    def _write_pointer(self, version: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(prefix=".active.", dir=self.root)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(version + "\n")
        os.replace(scratch, self.root / ACTIVE)
