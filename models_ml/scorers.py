"""Loading a trained model (the champion unless a version is named) from the registry."""

from __future__ import annotations

from pathlib import Path

from models_ml.config import ModelSettings
from models_ml.content import ContentScorer
from models_ml.credit import CreditScorer
from models_ml.propensity import PropensityScorer
from models_ml.registry import RegistryError, champion_version, version_path

SCORERS = {"propensity": PropensityScorer, "content": ContentScorer, "credit": CreditScorer}


def load_scorer(settings: ModelSettings, name: str, version: str | None = None):
    """The model `name` at `version` (default: the champion); RegistryError when there is none."""
    version, path = scorer_path(settings, name, version)
    return SCORERS[name](path, version, settings.num_threads)


def scorer_path(settings: ModelSettings, name: str, version: str | None = None) -> tuple[str, Path]:
    """The version (default: the champion) of model `name` and its directory; RegistryError when there is none."""
    if name not in SCORERS:
        raise RegistryError(f"unknown model {name!r}: one of {', '.join(SCORERS)}")
    version = version or champion_version(settings, name)
    if version is None:
        raise RegistryError(f"model {name} has no champion yet: run vasmart train")
    return version, version_path(settings, name, version)
