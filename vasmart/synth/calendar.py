"""The delivery timeline: history month batches, daily batches, and day/time encodings.

Days are integers counted from 1970-01-01; times are integer seconds from 1970-01-01 00:00:00
in Asia/Shanghai local time (no time-zone arithmetic is needed: every source system speaks local time).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

EPOCH = dt.date(1970, 1, 1)
DAY_SECONDS = 86_400


def day_of(date: dt.date) -> int:
    """Day number of a date."""
    return (date - EPOCH).days


def date_of(day: int) -> dt.date:
    """Date of a day number."""
    return EPOCH + dt.timedelta(days=int(day))


def parse_yyyymmdd(text: str) -> dt.date:
    """Parse a YYYYMMDD string, with a readable error."""
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError as exc:
        raise ValueError(f"not a YYYYMMDD date: {text!r}") from exc


def month_start(date: dt.date) -> dt.date:
    """First day of the date's month."""
    return date.replace(day=1)


def month_end(date: dt.date) -> dt.date:
    """Last day of the date's month."""
    nxt = (date.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


def add_months(date: dt.date, months: int) -> dt.date:
    """First day of the month `months` after the date's month."""
    index = date.year * 12 + date.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def yyyymm(date: dt.date) -> str:
    """Month label YYYYMM."""
    return f"{date.year:04d}{date.month:02d}"


def month_last_day(day: int) -> int:
    """Day number of the last day of the day's month."""
    return day_of(month_end(date_of(day)))


def add_months_day(day: int, months: int) -> int:
    """Day number of the first day of the month `months` after the day's month."""
    return day_of(add_months(date_of(day), months))


@dataclass(frozen=True)
class Month:
    """One calendar month of the simulation."""

    index: int  # 0 for the first history month
    first_day: int
    last_day: int  # inclusive
    label: str  # YYYYMM
    is_history: bool

    @property
    def days(self) -> int:
        """Number of days in the month."""
        return self.last_day - self.first_day + 1


@dataclass(frozen=True)
class Batch:
    """One delivered batch: a directory landing/<name>/ covering [period_start, period_end]."""

    name: str  # YYYYMMDD of period_end
    period_start: int  # day number
    period_end: int  # day number, inclusive
    is_history: bool

    @property
    def is_month_end(self) -> bool:
        """True when the batch date is a month's last day (the monthly interfaces travel with it)."""
        return date_of(self.period_end + 1).day == 1


@dataclass(frozen=True)
class Timeline:
    """History months, daily batches and the months they span."""

    months: tuple[Month, ...]
    batches: tuple[Batch, ...]
    first_day: int
    end_day: int

    def batch_of_day(self, day: int) -> Batch:
        """The batch whose coverage holds the day."""
        for batch in self.batches:
            if batch.period_start <= day <= batch.period_end:
                return batch
        raise KeyError(f"day {date_of(day)} is outside every batch")

    def month_of_label(self, label: str) -> Month:
        """The month with the label YYYYMM."""
        for month in self.months:
            if month.label == label:
                return month
        raise KeyError(label)


def build_timeline(end_date: dt.date, history_months: int, daily_batches: int) -> Timeline:
    """History batches for the `history_months` months before the first daily batch's month, then daily batches.

    The daily batches are the `daily_batches` days ending at `end_date`; the first one covers from the
    first of its month (the day after the last history batch).
    """
    if history_months < 1:
        raise ValueError("at least one history month is needed")
    if daily_batches < 1:
        raise ValueError("at least one daily batch is needed")
    first_daily = end_date - dt.timedelta(days=daily_batches - 1)
    history_first = add_months(month_start(first_daily), -history_months)
    months: list[Month] = []
    batches: list[Batch] = []
    cursor = history_first
    while cursor <= end_date:
        is_history = cursor < month_start(first_daily)
        last = min(month_end(cursor), end_date)
        months.append(Month(len(months), day_of(cursor), day_of(last), yyyymm(cursor), is_history))
        if is_history:
            batches.append(Batch(month_end(cursor).strftime("%Y%m%d"), day_of(cursor), day_of(last), True))
        cursor = add_months(cursor, 1)
    start = day_of(month_start(first_daily))
    for day in range(day_of(first_daily), day_of(end_date) + 1):
        batches.append(Batch(date_of(day).strftime("%Y%m%d"), start, day, False))
        start = day + 1
    return Timeline(tuple(months), tuple(batches), day_of(history_first), day_of(end_date))


class DayCodes:
    """Vectorised YYYYMMDD and YYYYMMDDHHMISS encodings for a range of days."""

    def __init__(self, first_day: int, last_day: int):
        self.first_day = first_day
        days = np.arange(first_day, last_day + 1, dtype="int64")
        dates = days.astype("datetime64[D]")
        years = dates.astype("datetime64[Y]").astype("int64") + 1970
        months = dates.astype("datetime64[M]").astype("int64") % 12 + 1
        dom = (dates - dates.astype("datetime64[M]")).astype("int64") + 1
        self.ymd = years * 10_000 + months * 100 + dom

    def date_codes(self, days: np.ndarray) -> np.ndarray:
        """YYYYMMDD integers for day numbers."""
        return self.ymd[np.asarray(days, dtype="int64") - self.first_day]

    def timestamp_codes(self, seconds: np.ndarray) -> np.ndarray:
        """YYYYMMDDHHMISS integers for local epoch seconds."""
        seconds = np.asarray(seconds, dtype="int64")
        days, rest = np.divmod(seconds, DAY_SECONDS)
        hours, rest = np.divmod(rest, 3600)
        minutes, secs = np.divmod(rest, 60)
        return self.date_codes(days) * 1_000_000 + hours * 10_000 + minutes * 100 + secs
