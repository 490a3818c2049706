"""Session fixtures for the acceptance tests of `vasmart generate`.

The real CLI runs as a subprocess (never imported): one main delivery (about 4,000 users, 12 history months,
5 daily batches, split into parts) and three small deliveries for determinism (same seed twice, another seed
once). The runs start together on first use, two at a time, and every parsed file is cached for the session.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from landing_reader import (
    OPEN_END,
    Landing,
    expected_batches,
    load_spec,
    month_last,
    query,
)

pytest_plugins = ["pipeline_home"]

DEFAULT_PART_USERS = 250_000
GENERATE_TIMEOUT_S = 1200


@dataclass
class GenRun:
    """One `vasmart generate` invocation and what it wrote."""

    name: str
    out: Path
    users: int
    months: int
    days: int
    end_date: str
    seed: int
    part_users: int | None = None
    env_extra: dict = field(default_factory=dict)
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    elapsed_s: float = 0.0

    @property
    def argv(self) -> list[str]:
        args = [
            "generate",
            "--out",
            str(self.out),
            "--users",
            str(self.users),
            "--months",
            str(self.months),
            "--days",
            str(self.days),
            "--end-date",
            self.end_date,
            "--seed",
            str(self.seed),
        ]
        if self.part_users is not None:
            args += ["--part-users", str(self.part_users)]
        return args

    @property
    def n_parts(self) -> int:
        return math.ceil(self.users / (self.part_users or DEFAULT_PART_USERS))

    @property
    def history(self) -> list[str]:
        return expected_batches(self.end_date, self.months, self.days)[0]

    @property
    def daily(self) -> list[str]:
        return expected_batches(self.end_date, self.months, self.days)[1]

    @property
    def landing_dir(self) -> Path:
        return self.out / "landing"

    @property
    def truth_dir(self) -> Path:
        return self.out / "truth"

    @cached_property
    def landing(self) -> Landing:
        return Landing(self.landing_dir, load_spec())

    def describe(self) -> str:
        return (
            f"vasmart {' '.join(self.argv)} -> exit {self.returncode} in {self.elapsed_s:.1f}s\n"
            f"--- stderr (tail) ---\n{self.stderr[-3000:]}"
        )


def vasmart_executable() -> list[str]:
    exe = Path(sys.executable).parent / "vasmart"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("vasmart")
    return [found] if found else [sys.executable, "-c", "from vasmart.cli import app; app()"]


def _run(run: GenRun) -> GenRun:
    env = dict(os.environ)
    env.update(run.env_extra)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            vasmart_executable() + run.argv,
            capture_output=True,
            text=True,
            env=env,
            timeout=GENERATE_TIMEOUT_S,
            check=False,
            cwd=run.out.parent,
        )
        run.returncode, run.stdout, run.stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        run.returncode, run.stderr = -9, f"timeout after {GENERATE_TIMEOUT_S}s: {e}"
    except OSError as e:
        run.returncode, run.stderr = -1, f"could not start vasmart: {e}"
    run.elapsed_s = time.perf_counter() - t0
    return run


class Generations:
    """Starts every generator run at once (two at a time) and hands each out when it has finished."""

    def __init__(self, base: Path):
        self.runs = {
            # ~4,000 users, 12 history months, 5 daily batches 20260529..20260602: May 2026 is fully covered by
            # daily CDR batches (the 20260529 batch covers 0501-0529) and its month end (20260531) is delivered.
            "main": GenRun(
                "main",
                base / "main",
                users=4000,
                months=12,
                days=5,
                end_date="20260602",
                seed=20260602,
                part_users=1500,
            ),
            # small deliveries for determinism and the default (unsplit) layout; same seed, other hash seed
            "small_a": GenRun(
                "small_a",
                base / "small_a",
                users=800,
                months=3,
                days=2,
                end_date="20260315",
                seed=7,
                env_extra={"PYTHONHASHSEED": "1"},
            ),
            "small_b": GenRun(
                "small_b",
                base / "small_b",
                users=800,
                months=3,
                days=2,
                end_date="20260315",
                seed=7,
                env_extra={"PYTHONHASHSEED": "2"},
            ),
            "small_c": GenRun(
                "small_c", base / "small_c", users=800, months=3, days=2, end_date="20260315", seed=8
            ),
        }
        for r in self.runs.values():
            r.out.parent.mkdir(parents=True, exist_ok=True)
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.futures: dict[str, Future] = {"main": self.pool.submit(_run, self.runs["main"])}
        small = self.pool.submit(lambda: [_run(self.runs[n]) for n in ("small_a", "small_b", "small_c")])
        for n in ("small_a", "small_b", "small_c"):
            self.futures[n] = small

    def get(self, name: str) -> GenRun:
        self.futures[name].result()
        return self.runs[name]


@pytest.fixture(scope="session")
def generations(tmp_path_factory) -> Generations:
    gens = Generations(tmp_path_factory.mktemp("generated"))
    yield gens
    gens.pool.shutdown(wait=True)


def _ok(run: GenRun) -> GenRun:
    if run.returncode != 0:
        pytest.fail(f"generator failed: {run.describe()}")
    if not run.landing_dir.is_dir():
        pytest.fail(f"generator wrote no landing/ directory: {run.describe()}")
    return run


@pytest.fixture(scope="session")
def main_run_raw(generations) -> GenRun:
    return generations.get("main")


@pytest.fixture(scope="session")
def main_run(main_run_raw) -> GenRun:
    return _ok(main_run_raw)


@pytest.fixture(scope="session")
def small_runs(generations) -> tuple[GenRun, GenRun, GenRun]:
    return tuple(_ok(generations.get(n)) for n in ("small_a", "small_b", "small_c"))


@pytest.fixture(scope="session", params=["main", "small_a"])
def any_run(request, generations) -> GenRun:
    """The delivery-structure tests run on the split main delivery and on an unsplit small one."""
    return _ok(generations.get(request.param))


@pytest.fixture(scope="session")
def spec():
    return load_spec()


@pytest.fixture(scope="session")
def landing(main_run) -> Landing:
    return main_run.landing


# ----------------------------------------------------------------------------------------------- derived views
# Everything below is derived from the landing files only, with the definitions of the interface spec.


@pytest.fixture(scope="session")
def last_batch(main_run) -> str:
    return main_run.daily[-1]


@pytest.fixture(scope="session")
def month_end_batches(landing) -> dict[str, str]:
    """Month (YYYYMM) -> its month-end batch date, for every month-end batch delivered."""
    return {b[:6]: b for b in landing.batches if b == month_last(b[:6])}


@pytest.fixture(scope="session")
def ref(landing, last_batch):
    """Reference tables of the last batch as DataFrames (strings)."""
    return {
        name: landing.frame(last_batch, name)
        for name in ("REF_REGION", "REF_PLAN", "REF_SERVICE", "REF_TAC", "REF_STATUS_CODE")
    }


@pytest.fixture(scope="session")
def boss_user_all(landing) -> pa.Table:
    """BOSS_USER rows of every batch, with `_batch`."""
    return landing.all_batches("BOSS_USER")


@pytest.fixture(scope="session")
def users(boss_user_all) -> pd.DataFrame:
    """One row per user_id from the latest snapshot that lists it, with the period the msisdn is held.

    held_from = join_date; held_to = status_date when the user's latest status is CANCELLED, else open.
    """
    return query(
        f"""
        with ranked as (
            select *, row_number() over (partition by user_id order by _batch desc) as rn
            from u
        ), first_seen as (
            select user_id, min(_batch) as first_batch, max(_batch) as last_batch,
                   count(distinct msisdn) as n_msisdn, count(distinct join_date) as n_join_date
            from u group by user_id
        )
        select cast(r.user_id as bigint) as user_id, r.msisdn, r.join_date, r.status, r.status_date,
               r.cancel_reason, cast(r.is_rejoin as int) as is_rejoin, r.region_code, r.brand_code,
               r.plan_code, r.pay_type,
               r.join_date as held_from,
               case when r.status = 'CANCELLED' then r.status_date else '{OPEN_END}' end as held_to,
               f.first_batch, f.last_batch, f.n_msisdn, f.n_join_date
        from ranked r join first_seen f using (user_id)
        where r.rn = 1
        """,
        u=boss_user_all,
    )


@pytest.fixture(scope="session")
def services(ref) -> pd.DataFrame:
    return ref["REF_SERVICE"]


@pytest.fixture(scope="session")
def orders(landing) -> pd.DataFrame:
    """Every BOSS_VAS_ORDER row of every batch, typed, in op_time order (orders before cancels on ties)."""
    df = query(
        """
        select cast(order_id as bigint) as order_id, cast(user_id as bigint) as user_id, msisdn, service_code,
               action, action_reason, channel, op_time, strptime(op_time, '%Y%m%d%H%M%S') as ts, _batch
        from o
        order by ts, action, order_id
        """,
        o=landing.all_batches("BOSS_VAS_ORDER"),
    )
    return df


# Modules with the longest set-ups and tests, started first. `make test` runs pytest-xdist with
# `--dist loadscope --no-loadscope-reorder`: a module's tests stay on one worker (its module fixtures are
# made once) and modules are handed out in this order, so no worker ends the session alone with a long one.
LONGEST_FIRST = (
    "tests/test_run.py",
    "tests/test_failures.py",
    "tests/test_campaigns_closed_loop.py",
    "tests/test_dbt_foundation.py",
    "tests/test_marts_customer_view.py",
    "tests/test_models_pipeline.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: others keep order
