"""The model registry: one versioned directory per training run, a champion pointer and the decisions.

    $VASMART_HOME/models/<model>/<version>/
        model files          what scoring loads (LightGBM text, scorecard JSON, calibration, ...)
        features.json        the feature list (numeric, categorical with levels)
        training.json        training window, parameters, seed, features table
        metrics.json         validation metrics (model and baselines)
        validation.parquet   validation predictions and labels, by pseudonym (for evaluation)
        decision.json        champion/challenger decision with its numbers
        model_card.md + *.png
    $VASMART_HOME/models/<model>/champion.json      {"version": ...}
    $VASMART_HOME/models/<model>/decisions.jsonl    every decision, one JSON line each

The version is `<as-of month>-<digest>`: the digest covers the model files, features and parameters, so
the same data and seed give the same version (training again changes nothing), and a different model can
never overwrite another. A directory is written aside and renamed into place, so it is complete or absent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models_ml.compiled import compile_models
from models_ml.config import ModelSettings
from models_ml.training import TrainedModel, dumps

MODEL_FILES_INDEX = "files.json"


class RegistryError(RuntimeError):
    """No such model or version, or a version directory that is incomplete."""


@dataclass(frozen=True)
class Decision:
    """Whether a new version became champion, and the numbers it was decided on."""

    model: str
    version: str
    previous_champion: str | None
    promoted: bool
    metric: str
    challenger_value: float
    champion_value: float | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def model_dir(settings: ModelSettings, name: str) -> Path:
    return settings.models_dir / name


def champion_version(settings: ModelSettings, name: str) -> str | None:
    """The champion's version, or None before the first promotion."""
    pointer = model_dir(settings, name) / "champion.json"
    if not pointer.exists():
        return None
    return json.loads(pointer.read_text())["version"]


def version_path(settings: ModelSettings, name: str, version: str) -> Path:
    path = model_dir(settings, name) / version
    if not (path / MODEL_FILES_INDEX).exists():
        raise RegistryError(f"model {name} has no complete version {version} under {model_dir(settings, name)}")
    return path


def versions(settings: ModelSettings, name: str) -> list[str]:
    """Complete versions of a model, oldest as-of month first."""
    root = model_dir(settings, name)
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MODEL_FILES_INDEX).exists())


def digest(trained: TrainedModel) -> str:
    """Hash of what defines the model: its files, feature list and parameters."""
    h = hashlib.sha256()
    for name in sorted(trained.files):
        h.update(name.encode())
        h.update(hashlib.sha256(trained.files[name]).digest())
    h.update(trained.spec.to_json().encode())
    h.update(dumps(trained.params))
    return h.hexdigest()[:12]


def version_of(trained: TrainedModel, label_month: str) -> str:
    return f"{label_month}-{digest(trained)}"


def write_version(settings: ModelSettings, trained: TrainedModel, label_month: str) -> tuple[str, Path, bool]:
    """Write the run's version directory (aside, then renamed in); returns (version, path, newly written)."""
    version = version_of(trained, label_month)
    root = model_dir(settings, trained.name)
    final = root / version
    if (final / MODEL_FILES_INDEX).exists():
        return version, final, False
    root.mkdir(parents=True, exist_ok=True)
    aside = root / f".{version}.tmp-{os.getpid()}"
    if aside.exists():
        shutil.rmtree(aside)
    aside.mkdir()
    for file_name, data in trained.files.items():
        (aside / file_name).write_bytes(data)
    (aside / "features.json").write_text(trained.spec.to_json() + "\n")
    (aside / "training.json").write_bytes(dumps({
        "model": trained.name, "version": version, "window": trained.window, "params": trained.params,
        "seed": trained.seed, "features_table": settings.features_table,
        "history_table": settings.history_table,
        "as_of": trained.as_of.strftime("%Y-%m") if trained.as_of else None,
        "features": trained.spec.columns,
    }))
    (aside / "metrics.json").write_bytes(dumps(trained.metrics))
    trained.validation.to_parquet(aside / "validation.parquet", index=False)
    compile_models(aside)  # nightly scoring then loads compiled code, never compiles
    (aside / MODEL_FILES_INDEX).write_bytes(dumps(sorted(trained.files)))
    if final.exists():  # an incomplete directory left by a crash
        shutil.rmtree(final)
    aside.rename(final)
    return version, final, True


def decide(settings: ModelSettings, trained: TrainedModel, version: str) -> Decision:
    """Champion/challenger: the new version is promoted only if it beats the champion on its validation month."""
    current = champion_version(settings, trained.name)
    value = float(trained.primary_value)
    if current is None:
        return Decision(trained.name, version, None, True, trained.primary_metric, value, None,
                        "no champion yet")
    if current == version:
        return Decision(trained.name, version, current, False, trained.primary_metric, value,
                        trained.champion_value, "this version is already the champion")
    if trained.champion_value is None:
        return Decision(trained.name, version, current, True, trained.primary_metric, value, None,
                        "the champion cannot score this run's validation data (features changed)")
    if value > trained.champion_value:
        return Decision(trained.name, version, current, True, trained.primary_metric, value,
                        float(trained.champion_value), "beats the champion on the validation data")
    return Decision(trained.name, version, current, False, trained.primary_metric, value,
                    float(trained.champion_value), "does not beat the champion on the validation data")


def record_decision(settings: ModelSettings, decision: Decision, path: Path) -> None:
    """Write the decision beside the version, append it to the model's log, move the champion pointer."""
    entry = {**decision.as_dict(), "decided_at": dt.datetime.now().isoformat(timespec="seconds")}
    (path / "decision.json").write_bytes(dumps(entry))
    root = model_dir(settings, decision.model)
    with open(root / "decisions.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(entry, sort_keys=True) + "\n")
    if decision.promoted:
        tmp = root / ".champion.json.tmp"
        tmp.write_text(json.dumps({"version": decision.version}) + "\n")
        os.replace(tmp, root / "champion.json")
