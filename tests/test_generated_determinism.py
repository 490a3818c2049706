"""Acceptance: the same arguments give byte-identical files; another seed gives other files."""

from __future__ import annotations

from landing_reader import read_bytes_tree


def test_same_seed_gives_byte_identical_landing_and_truth(small_runs):
    a, b, _ = small_runs
    for sub in ("landing", "truth"):
        ta, tb = read_bytes_tree(a.out / sub), read_bytes_tree(b.out / sub)
        assert ta, f"{sub}/ is empty"
        assert sorted(ta) == sorted(tb), sorted(set(ta) ^ set(tb))[:10]
        differ = [k for k in ta if ta[k] != tb[k]]
        assert not differ, (
            f"{len(differ)} of {len(ta)} files under {sub}/ differ between two identical runs: {differ[:10]}"
        )


def test_another_seed_gives_different_files(small_runs):
    a, _, c = small_runs
    ta, tc = read_bytes_tree(a.out / "landing"), read_bytes_tree(c.out / "landing")
    users = [k for k in ta if "/BOSS_USER_" in k]
    assert users and all(k in tc and ta[k] != tc[k] for k in users), "BOSS_USER must differ with another seed"
    events = [k for k in ta if "/BOSS_VAS_ORDER_" in k or "/CDR_VOICE_" in k]
    assert events and all(ta[k] != tc.get(k) for k in events)
    truth_a, truth_c = read_bytes_tree(a.out / "truth"), read_bytes_tree(c.out / "truth")
    assert any(truth_a[k] != truth_c.get(k) for k in truth_a)


def test_small_delivery_is_unsplit_by_default(small_runs):
    a = small_runs[0]
    assert a.n_parts == 1
    names = {p.name for b in a.landing.batches for p in a.landing.batch_dir(b).iterdir()}
    assert names and not any(n.endswith("_002.dat.gz") for n in names)
