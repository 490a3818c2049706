"""Acceptance: the generated deliveries follow spec section 1 (batches, data files, control files) and section 3
(which interfaces arrive in which batch)."""

from __future__ import annotations

import datetime as dt
import re

from landing_reader import (
    CHK_FIELDS,
    CHK_NAME_RE,
    DATA_NAME_RE,
    batch_period,
    is_month_end,
    month_first,
    month_last,
    parse_date,
)

HISTORY_EVENTS = {"BOSS_VAS_ORDER", "IMEI_OBS", "CRM_COMPLAINT", "VAS_DELIVERY"}
CDR = {"CDR_VOICE", "CDR_SMS", "CDR_GPRS"}


def expected_interfaces(spec, batch: str, is_history: bool) -> set[str]:
    snapshots = {n for n, i in spec.items() if i.kind == "snapshot"}
    events = {n for n, i in spec.items() if i.kind == "events"}
    monthly = {n for n, i in spec.items() if i.kind == "monthly"}
    out = set(snapshots)
    out |= HISTORY_EVENTS if is_history else events
    if is_month_end(batch):
        out |= monthly
    return out


def test_generate_exits_zero(main_run_raw, small_runs):
    for run in (main_run_raw, *small_runs):
        assert run.returncode == 0, run.describe()
        assert run.landing_dir.is_dir() and run.truth_dir.is_dir(), run.describe()
    print(
        f"\ngeneration time: main {main_run_raw.elapsed_s:.1f}s, "
        + ", ".join(f"{r.name} {r.elapsed_s:.1f}s" for r in small_runs)
    )


def test_batch_directories_are_history_months_then_days(any_run):
    assert any_run.landing.batches == any_run.history + any_run.daily
    assert all(is_month_end(b) for b in any_run.history)
    # the first daily batch starts the day after the last history batch
    assert month_first(any_run.daily[0][:6]) > any_run.history[-1]
    assert (parse_date(month_first(any_run.daily[0][:6])) - parse_date(any_run.history[-1])).days == 1


def test_each_batch_has_a_control_file_for_exactly_the_expected_interfaces(any_run, spec):
    problems = []
    for b in any_run.landing.batches:
        want = expected_interfaces(spec, b, b in any_run.history)
        got = any_run.landing.interfaces_in(b)
        if got != want:
            problems.append(f"{b}: missing {sorted(want - got)}, unexpected {sorted(got - want)}")
    assert not problems, "\n".join(problems)


def test_monthly_interfaces_only_at_month_end_and_cdrs_only_daily(any_run, spec):
    land = any_run.landing
    for name in ("BOSS_BILL", "BASS_USAGE", "BASS_VAS_USAGE"):
        assert set(land.batches_with(name)) == {b for b in land.batches if is_month_end(b)}, name
    for name in CDR:
        assert land.batches_with(name) == any_run.daily, name


def test_every_file_is_a_named_data_or_control_file_of_its_batch(any_run, spec):
    problems = []
    for b in any_run.landing.batches:
        for p in sorted(any_run.landing.batch_dir(b).iterdir()):
            m = DATA_NAME_RE.match(p.name) or CHK_NAME_RE.match(p.name)
            if not p.is_file() or not m:
                problems.append(
                    f"{b}/{p.name}: not <INTERFACE>_<YYYYMMDD>_<NNN>.dat.gz or <INTERFACE>_<YYYYMMDD>.chk"
                )
            elif m["date"] != b:
                problems.append(f"{b}/{p.name}: date in name is not the batch date")
            elif m["interface"] not in spec:
                problems.append(f"{b}/{p.name}: unknown interface")
    assert not problems, "\n".join(problems[:30])


def test_data_files_and_control_file_entries_match_one_to_one(any_run):
    problems = []
    for b in any_run.landing.batches:
        on_disk = {p.name for p in any_run.landing.batch_dir(b).iterdir() if p.name.endswith(".dat.gz")}
        listed = []
        for name in any_run.landing.interfaces_in(b):
            for e in any_run.landing.chk(b, name):
                listed.append(e.file_name)
                if (
                    not DATA_NAME_RE.match(e.file_name)
                    or DATA_NAME_RE.match(e.file_name)["interface"] != name
                ):
                    problems.append(f"{b}: {name} control file lists {e.file_name}")
        if len(listed) != len(set(listed)):
            problems.append(f"{b}: a data file is listed twice")
        if set(listed) - on_disk:
            problems.append(f"{b}: listed but missing: {sorted(set(listed) - on_disk)}")
        if on_disk - set(listed):
            problems.append(
                f"{b}: data files not listed in any control file: {sorted(on_disk - set(listed))}"
            )
    assert not problems, "\n".join(problems[:30])


def test_control_file_lines_have_the_seven_fields(any_run):
    for b in any_run.landing.batches:
        for name in any_run.landing.interfaces_in(b):
            raw = any_run.landing.chk_path(b, name).read_bytes().decode("utf-8")
            assert raw.endswith("\n") and "\r" not in raw, f"{b}/{name}: line ends"
            for line in raw[:-1].split("\n"):
                parts = line.split("|")
                assert len(parts) == len(CHK_FIELDS), f"{b}/{name}: {line!r}"
                assert re.fullmatch(r"[0-9]+", parts[1]) and re.fullmatch(r"[0-9]+", parts[2]), line
                assert re.fullmatch(r"[0-9a-f]{32}", parts[3]), (
                    f"md5_hex not 32 lower-case hex digits: {line!r}"
                )


def test_size_md5_and_record_count_are_exact(any_run):
    problems = []
    for b in any_run.landing.batches:
        for name in sorted(any_run.landing.interfaces_in(b)):
            for e, st in zip(any_run.landing.chk(b, name), any_run.landing.stats(b, name), strict=True):
                if (e.size_bytes, e.md5_hex) != (st.size_bytes, st.md5_hex):
                    problems.append(
                        f"{b}/{e.file_name}: control size/md5 {e.size_bytes}/{e.md5_hex}, "
                        f"file {st.size_bytes}/{st.md5_hex}"
                    )
                if e.record_count != st.n_lines:
                    problems.append(f"{b}/{e.file_name}: record_count {e.record_count}, {st.n_lines} lines")
    assert not problems, "\n".join(problems[:30])


def test_control_periods_follow_the_interface_kind(any_run, spec):
    land = any_run.landing
    problems = []
    batches = land.batches
    for i, b in enumerate(batches):
        prev = batches[i - 1] if i else None
        for name in land.interfaces_in(b):
            kind = spec[name].kind
            if kind == "snapshot":
                want = (b, b)
            elif kind == "monthly":
                want = (month_first(b[:6]), month_last(b[:6]))
            else:  # events: the batch's coverage (a whole month for history, from the previous batch for daily)
                want = batch_period(b, prev)
            for e in land.chk(b, name):
                if (e.period_start, e.period_end) != want:
                    problems.append(
                        f"{b}/{e.file_name} ({kind}): period {e.period_start}-{e.period_end}, "
                        f"expected {want[0]}-{want[1]}"
                    )
    assert not problems, "\n".join(problems[:30])


def test_first_daily_batch_covers_from_the_first_of_its_month(any_run):
    first = any_run.daily[0]
    for name in ("CDR_VOICE", "BOSS_VAS_ORDER"):
        assert any_run.landing.period(first, name) == (month_first(first[:6]), first)


def test_created_at_is_a_timestamp_after_the_covered_period(any_run):
    problems = []
    for b in any_run.landing.batches:
        for name in any_run.landing.interfaces_in(b):
            for e in any_run.landing.chk(b, name):
                ok = re.fullmatch(r"[0-9]{14}", e.created_at)
                try:
                    dt.datetime.strptime(e.created_at, "%Y%m%d%H%M%S")
                except ValueError:
                    ok = False
                if not ok or e.created_at[:8] <= e.period_end:
                    problems.append(
                        f"{b}/{e.file_name}: created_at {e.created_at!r}, period_end {e.period_end}"
                    )
    assert not problems, "\n".join(problems[:30])


def test_control_file_is_written_after_its_data_files(any_run):
    problems = []
    for b in any_run.landing.batches:
        d = any_run.landing.batch_dir(b)
        for name in any_run.landing.interfaces_in(b):
            chk_mtime = any_run.landing.chk_path(b, name).stat().st_mtime_ns
            for e in any_run.landing.chk(b, name):
                data_mtime = (d / e.file_name).stat().st_mtime_ns
                if data_mtime > chk_mtime:
                    problems.append(f"{b}/{e.file_name}: data mtime {data_mtime} > control mtime {chk_mtime}")
    assert not problems, "\n".join(problems[:30])


def test_per_subscriber_interfaces_are_split_into_parts(any_run, spec):
    """One data file per part of at most --part-users users (_001, _002, ...); reference data in one file."""
    problems = []
    for b in any_run.landing.batches:
        for name in any_run.landing.interfaces_in(b):
            n = any_run.n_parts if spec[name].is_per_subscriber else 1
            want = [f"{name}_{b}_{k:03d}.dat.gz" for k in range(1, n + 1)]
            got = [e.file_name for e in any_run.landing.chk(b, name)]
            if got != want:
                problems.append(f"{b}/{name}: files {got}, expected {want}")
    assert not problems, "\n".join(problems[:30])


def test_split_parts_hold_users(main_run):
    """With --part-users 1500 and 4,000 users every BOSS_USER part holds users, none more than once."""
    assert main_run.n_parts == 3
    land = main_run.landing
    for b in (main_run.history[0], main_run.daily[-1]):
        df = land.frame(b, "BOSS_USER")
        per_part = df.groupby("_part")["user_id"].nunique()
        assert sorted(per_part.index) == [1, 2, 3], per_part
        assert (per_part > 0).all(), per_part
        assert df["user_id"].is_unique
