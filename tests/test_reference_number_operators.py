"""The number-prefix -> operator seed (dbt_project/seeds/number_prefix_operators.csv) against phonenumbers.

The seed is derived from libphonenumber by `python -m vasmart.reference.number_operators`: deriving it again
must give the same file, and the prefix table must classify numbers as phonenumbers does number by number —
random numbers of every covered shape, and the other parties the generator writes into the CDRs.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys

import numpy as np
import pytest

from vasmart.reference import number_operators as no
from vasmart.synth.identity import contact_numbers


@pytest.fixture(scope="module")
def seed() -> list[no.PrefixRange]:
    return no.read_seed()


def test_regenerating_the_seed_gives_the_same_file(tmp_path):
    fresh = tmp_path / "fresh.csv"
    run = subprocess.run([sys.executable, "-m", "vasmart.reference.number_operators", "--out", str(fresh)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    assert fresh.read_text(encoding="utf-8") == no.SEED_PATH.read_text(encoding="utf-8")


def test_the_check_command_fails_on_a_stale_seed(tmp_path):
    stale = tmp_path / "number_prefix_operators.csv"
    stale.write_text(no.SEED_PATH.read_text(encoding="utf-8").replace("CUCC", "CTCC", 1), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "vasmart.reference.number_operators", "--out", str(stale), "--check"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 1 and "differs" in run.stderr


def test_ranges_are_disjoint_short_and_known(seed):
    assert 100 < len(seed) < 5000
    assert all(len(r.number_prefix) <= no.MAX_PREFIX_DIGITS and r.number_prefix.isdigit() for r in seed)
    for length in {r.number_length for r in seed}:
        prefixes = sorted(r.number_prefix for r in seed if r.number_length == length)
        for shorter, longer in itertools.pairwise(prefixes):
            assert not longer.startswith(shorter), (length, shorter, longer)
    assert {r.number_class for r in seed} == {"CMCC", "CUCC", "CTCC", "CBN", "FIXED_LINE"}
    assert {r.line_type for r in seed} == {"MOBILE", "FIXED_LINE"}


def test_the_table_agrees_with_phonenumbers_on_random_numbers(seed):
    rng = random.Random(20261120)
    numbers = []
    for _ in range(20_000):
        first = rng.choice("01")
        length = 11 if first == "1" else rng.choice((10, 11, 12))
        numbers.append(first + "".join(rng.choice("0123456789") for _ in range(length - 1)))
    numbers += ["10658000123", "1065800012", "008613800138000", "00861380013800", "12345", "", "13800138000x"]
    wrong = [(n, no.classify_number(n), no.classify_with_ranges(n, seed)) for n in numbers
             if no.classify_number(n) != no.classify_with_ranges(n, seed)]
    assert not wrong, wrong[:20]
    classes = {no.classify_number(n) for n in numbers}
    assert classes == {"CMCC", "CUCC", "CTCC", "CBN", "FIXED_LINE", "UNKNOWN"}


def test_the_table_agrees_with_phonenumbers_on_the_generators_other_parties(seed):
    owners = np.arange(3000, dtype="uint64") * 7919
    slots = np.arange(3000, dtype="uint64") % 56
    numbers = contact_numbers(owners, slots).to_pylist()
    wrong = [n for n in numbers if no.classify_number(n) != no.classify_with_ranges(n, seed)]
    assert not wrong, wrong[:20]
    kinds = {no.classify_number(n) for n in numbers}
    assert {"CMCC", "CUCC", "CTCC", "FIXED_LINE", "UNKNOWN"} <= kinds  # off-net, fixed lines and unknowns occur
