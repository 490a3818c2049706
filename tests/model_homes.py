"""Homes with trained models for the model and campaign suites, made once per session from the shared built home.

- `trained_home()`: a copy of the shared pipeline home (`pipeline_home`) on which the real commands
  `vasmart train` (features from `marts.customer_view`, labels from the label marts) and
  `vasmart score --batch 20261120` ran.
- `scored_home()`: a copy of the trained home whose credit champion also scored the month-end batches of
  July, August and September 2026, as the nightly run scores every batch: the credit grades of four new-user
  cohorts (2026-06 .. 2026-09) and the propensity and content scores of batch 20261120, for the campaigns.

pytest-xdist workers share each home through a file lock, like the shared built home: the first worker that
asks makes it, the others wait. Tests read them; a test that trains, scores or runs campaigns works on a copy
(`copy_of_trained_home()`).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock
from pipeline_home import BuiltHome, copy_of_built_home
from vasmart_cli import run_vasmart

from models_ml.config import DEFAULT_FEATURES_TABLE, ModelSettings

BATCH = "20261120"
# Month-end batches whose credit scoring the campaign suites also need (each scores the cohort that joined
# the month before).
EARLIER_CREDIT_BATCHES = ("20260731", "20260831", "20260930")
FEATURES_TABLE = DEFAULT_FEATURES_TABLE


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

    @property
    def built(self) -> BuiltHome:
        """The same home seen as a built pipeline home (for the campaign suites' helpers)."""
        return BuiltHome(self.home, self.key, {})

    def cli(self, *args: str, timeout: int = 1200):
        """Run `vasmart ARGS` on this home with its pseudonym key."""
        return run_vasmart(self.home, *args, key=self.key, timeout=timeout)


def _checked(result, what: str):
    assert result.returncode == 0, f"{what}: " + result.stderr[-3000:] + result.stdout[-3000:]
    return result


def _shared(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], dict]) -> tuple[Path, dict]:
    """Home `name` in the session's shared base directory, made by `make(home)` once across workers."""
    root = tmp_path_factory.getbasetemp()
    if root.name.startswith("popen-gw"):  # under xdist each worker has its own base; share their parent
        root = root.parent
    home = root / name
    done = root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            if home.exists():
                shutil.rmtree(home)  # a run that failed earlier in the session starts over
            done.write_text(json.dumps(make(home)))
    return home, json.loads(done.read_text())


def trained_home(tmp_path_factory: pytest.TempPathFactory, shared: BuiltHome) -> TrainedHome:
    """The session's trained home (made by the first worker that asks; the others wait)."""
    def make(home: Path) -> dict:
        copy_of_built_home(shared, home)
        started = time.perf_counter()
        trained = TrainedHome(home, shared.key, "", "")
        train = _checked(trained.cli("train"), "vasmart train")
        score = _checked(trained.cli("score", "--batch", BATCH), "vasmart score")
        return {"train": train.stdout, "score": score.stdout, "seconds": time.perf_counter() - started}

    home, record = _shared(tmp_path_factory, "models_trained", make)
    return TrainedHome(home, shared.key, record["train"], record["score"])


def scored_home(tmp_path_factory: pytest.TempPathFactory, shared: BuiltHome) -> TrainedHome:
    """The trained home with credit grades of the earlier month-end batches too (read-only; copy to write)."""
    trained = trained_home(tmp_path_factory, shared)

    def make(home: Path) -> dict:
        scored = copy_of_trained_home(trained, home)
        outputs = [_checked(scored.cli("score", "--batch", batch, "--model", "credit"), f"vasmart score {batch}").stdout
                   for batch in EARLIER_CREDIT_BATCHES]
        return {"score": "".join(outputs)}

    home, record = _shared(tmp_path_factory, "models_scored", make)
    return TrainedHome(home, shared.key, trained.train_output, trained.score_output + record["score"])


def copy_of_trained_home(trained: TrainedHome, dest: Path) -> TrainedHome:
    """A private copy (warehouse, models, truth, ...) for tests that train, score or run campaigns."""
    shutil.copytree(trained.home, dest, symlinks=True, ignore=shutil.ignore_patterns("*.lock", "*.wal"))
    return TrainedHome(dest, trained.key, trained.train_output, trained.score_output)
