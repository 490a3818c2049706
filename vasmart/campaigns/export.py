"""`vasmart export`: the file a campaign manager sends, its manifest and the export audit.

The list (pseudonyms) is read from the warehouse; MSISDNs are resolved here and only here, from the
restricted MSISDN holdings (the number each user holds now), and written only into the export file. Before
that, every do-not-disturb user is dropped again, as is any user without a current number; both counts go
to the manifest. The manifest (`<file>.manifest.json`) holds the file's sha256, row counts by group, the
campaign's criteria as run, the data date, who exported and when — pseudonyms and counts, never a number —
and one row per export is appended to `audit.campaign_export`.

Only TARGET rows are exported unless `include_holdout` is asked for: the held-out users must not be
contacted, and a file that goes to a sending platform is the easiest way to contact them by mistake.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vasmart.campaigns.lists import do_not_disturb
from vasmart.config import Settings
from vasmart.warehouse import connect

FORMATS = ("csv", "xlsx", "parquet")
USER_ENV = "VASMART_USER"
FILE_COLUMNS = ["msisdn", "user_pseudonym", "campaign", "run_date", "rank", "score", "group", "channel", "offer",
                "reason_codes"]


class ExportError(RuntimeError):
    """An export that cannot be made (the message names the campaign, the run date or the format)."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    file: Path
    manifest: Path
    sha256: str
    rows: int
    manifest_data: dict

    def summary(self) -> str:
        """One line for the console."""
        m = self.manifest_data
        return (f"{m['campaign']} {m['run_date']}: {self.rows} rows ({m['rows_in_file']['TARGET']} TARGET, "
                f"{m['rows_in_file']['HOLDOUT']} HOLDOUT) -> {self.file} (sha256 {self.sha256[:12]}…), "
                f"manifest {self.manifest.name}")


def exported_by() -> str:
    """Who exports: VASMART_USER, else the login name."""
    return os.environ.get(USER_ENV) or getpass.getuser()


def sha256_of(path: Path) -> str:
    """The file's sha256 (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "csv":
        frame.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    else:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(frame["campaign"].iat[0][:31] if len(frame) else "list")
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            sheet.append([v.isoformat() if isinstance(v, dt.date) else v for v in row])
        book.save(tmp)
    os.replace(tmp, path)


def export_list(settings: Settings, campaign: str, fmt: str, run_date: dt.date | None = None,
                include_holdout: bool = False, out_dir: Path | None = None) -> ExportResult:
    """Export a campaign's list of a run date (default: its latest run) with MSISDNs, plus manifest and audit."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    con = connect(settings)
    try:
        runs = con.execute("select run_date, criteria, title from campaigns.campaign_run where campaign = ? "
                           "order by run_date desc", [campaign]).fetchall()
        if not runs:
            raise ExportError(f"campaign {campaign!r} has no list in the warehouse: run `vasmart campaigns` first")
        chosen = [r for r in runs if run_date is None or r[0] == run_date]
        if not chosen:
            raise ExportError(f"campaign {campaign!r} has no list of {run_date:%Y%m%d} (latest: {runs[0][0]:%Y%m%d})")
        day, criteria, title = chosen[0]
        groups = ["TARGET", "HOLDOUT"] if include_holdout else ["TARGET"]
        rows = con.execute("""
            select t.campaign, t.run_date, t.user_pseudonym, t.score, t.rank, t.reason_codes, t.channel, t.offer,
                   t."group", u.user_id
            from campaigns.target_list t
            left join intermediate.int_campaign_users u on t.user_pseudonym = u.user_pseudonym
            where t.campaign = ? and t.run_date = ? and list_contains(?, t."group")
            order by t.rank
        """, [campaign, day, groups]).df()
        list_counts = dict(con.execute('select "group", count(*) from campaigns.target_list where campaign = ? '
                                       'and run_date = ? group by 1', [campaign, day]).fetchall())
        dnd = rows["user_pseudonym"].isin(do_not_disturb(con))
        rows = rows[~dnd]
        numbers = con.execute("""
            select user_id, msisdn from restricted.int_msisdn_assignments_historized
            where valid_to is null and list_contains(?, user_id)
        """, [[int(x) for x in rows["user_id"].dropna()]]).df()
        numbers = numbers.drop_duplicates("user_id", keep=False)  # a user with two open numbers is ambiguous
        rows = rows.merge(numbers, on="user_id", how="left")
        unresolved = int(rows["msisdn"].isna().sum())
        rows = rows[rows["msisdn"].notna()]
        frame = rows[FILE_COLUMNS].reset_index(drop=True)

        directory = out_dir or settings.home / "exports" / campaign
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{campaign}_{day:%Y%m%d}.{fmt}"
        _write(frame, path, fmt)
        digest = sha256_of(path)
        now = dt.datetime.now().replace(microsecond=0)
        export_id = uuid.uuid4().hex
        in_file = frame["group"].value_counts()
        manifest = {
            "export_id": export_id,
            "campaign": campaign,
            "title": title,
            "run_date": day.isoformat(),
            "data_date": day.isoformat(),
            "format": fmt,
            "file": path.name,
            "file_sha256": digest,
            "file_bytes": path.stat().st_size,
            "rows": len(frame),
            "rows_in_file": {"TARGET": int(in_file.get("TARGET", 0)), "HOLDOUT": int(in_file.get("HOLDOUT", 0))},
            "rows_in_list": {"TARGET": int(list_counts.get("TARGET", 0)), "HOLDOUT": int(list_counts.get("HOLDOUT", 0))},
            "dropped_at_export": {"do_not_disturb": int(dnd.sum()), "no_current_number": unresolved},
            "includes_holdout": include_holdout,
            "criteria": json.loads(criteria) if criteria else None,
            "exported_by": exported_by(),
            "exported_at": now.isoformat(),
        }
        manifest_path = path.with_name(path.name + ".manifest.json")
        tmp = manifest_path.with_name(manifest_path.name + ".tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, manifest_path)
        con.execute("insert into audit.campaign_export values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            export_id, campaign, day, fmt, str(path), digest, str(manifest_path), len(frame),
            manifest["rows_in_file"]["TARGET"], manifest["rows_in_file"]["HOLDOUT"],
            int(dnd.sum()) + unresolved, manifest["exported_by"], now])
    finally:
        con.close()
    return ExportResult(path, manifest_path, digest, len(frame), manifest)
