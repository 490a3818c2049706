"""A trained home for the model suites: a copy of the shared built home, trained and scored once per session.

`trained_home()` copies the shared pipeline home, creates the features table the models read
(`model_features_dev.FEATURES_TABLE`), then runs the real commands `vasmart train` and
`vasmart score --batch 20261120`. pytest-xdist workers share it through a file lock, like the shared home.
Tests read it; a test that trains or scores again works on `copy_of_trained_home()`.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock
from model_features_dev import FEATURES_TABLE, build_dev_features
from pipeline_home import BuiltHome, copy_of_built_home
from vasmart_cli import run_vasmart

from models_ml.config import ModelSettings

BATCH = "20261120"
DONE = "trained.json"


@dataclass(frozen=True)
class TrainedHome:
    """A home with trained champions and the scores of batch 20261120."""

    home: Path
    key: str
    train_output: str
    score_output: str

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def settings(self) -> ModelSettings:
        return ModelSettings(home=self.home, features_table=FEATURES_TABLE)

    def cli(self, *args: str, timeout: int = 1200):
        """Run `vasmart ARGS` on this home (train and score read the features table named here)."""
        named = "--features-table" in args or not args or args[0] not in ("train", "score")
        extra = () if named else ("--features-table", FEATURES_TABLE)
        return run_vasmart(self.home, *args, *extra, key=self.key, timeout=timeout)


def _prepare(shared: BuiltHome, home: Path) -> dict:
    copy = copy_of_built_home(shared, home)
    started = time.perf_counter()
    build_dev_features(copy.warehouse, shared.key)
    trained = TrainedHome(home, shared.key, "", "")
    train = trained.cli("train")
    assert train.returncode == 0, train.stderr[-3000:] + train.stdout[-3000:]
    score = trained.cli("score", "--batch", BATCH)
    assert score.returncode == 0, score.stderr[-3000:] + score.stdout[-3000:]
    return {"train": train.stdout, "score": score.stdout, "seconds": time.perf_counter() - started}


def trained_home(tmp_path_factory: pytest.TempPathFactory, shared: BuiltHome) -> TrainedHome:
    """The session's trained home (made by the first worker that asks; the others wait)."""
    root = tmp_path_factory.getbasetemp()
    if root.name.startswith("popen-gw"):
        root = root.parent
    home = root / "models_trained"
    with FileLock(str(root / "models_trained.lock")):
        done = root / DONE
        if not done.exists():
            if home.exists():
                shutil.rmtree(home)
            done.write_text(json.dumps(_prepare(shared, home)))
    record = json.loads((root / DONE).read_text())
    return TrainedHome(home, shared.key, record["train"], record["score"])


def copy_of_trained_home(trained: TrainedHome, dest: Path) -> TrainedHome:
    """A private copy (warehouse, models, truth, ...) for tests that train or score again."""
    shutil.copytree(trained.home, dest, symlinks=True, ignore=shutil.ignore_patterns("*.lock", "*.wal"))
    return TrainedHome(dest, trained.key, trained.train_output, trained.score_output)
