"""Paths and settings, resolved once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where vasmart keeps its runtime state (`VASMART_HOME`, default `./var`)."""

    home: Path

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from the environment."""
        return cls(home=Path(os.environ.get("VASMART_HOME", "var")).resolve())

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def truth(self) -> Path:
        return self.home / "truth"

    @property
    def reports(self) -> Path:
        return self.home / "reports"
