"""Summaries of a delivery, read back from its control files (what the source systems say they sent)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

CONTROL_FIELDS = ("file_name", "size_bytes", "record_count", "md5_hex", "period_start", "period_end", "created_at")


def read_control_files(landing: Path) -> list[dict]:
    """Every line of every control file under landing/<batch>/, as dicts with batch and interface added."""
    landing = Path(landing)
    if not landing.is_dir():
        raise FileNotFoundError(f"no landing directory at {landing}")
    rows = []
    for chk in sorted(landing.glob("*/*.chk")):
        interface = chk.name.rsplit("_", 1)[0]
        for number, line in enumerate(chk.read_text(encoding="utf-8").splitlines(), start=1):
            values = line.split("|")
            if len(values) != len(CONTROL_FIELDS):
                raise ValueError(f"{chk}: line {number} has {len(values)} fields, expected {len(CONTROL_FIELDS)}")
            row = dict(zip(CONTROL_FIELDS, values))
            row.update(batch=chk.parent.name, interface=interface,
                       size_bytes=int(row["size_bytes"]), record_count=int(row["record_count"]))
            rows.append(row)
    if not rows:
        raise FileNotFoundError(f"no control files under {landing}")
    return rows


def print_generation(result, out: Path) -> None:
    """Print what a generation run delivered, per batch, from the control files it wrote."""
    rows = read_control_files(out / "landing")
    per_batch: dict[str, dict] = {}
    for r in rows:
        b = per_batch.setdefault(r["batch"], {"files": 0, "records": 0, "bytes": 0, "interfaces": set()})
        b["files"] += 1
        b["records"] += r["record_count"]
        b["bytes"] += r["size_bytes"]
        b["interfaces"].add(r["interface"])
    table = Table(title=f"Generated under {out}")
    for col, justify in (("batch", "left"), ("kind", "left"), ("interfaces", "right"), ("files", "right"),
                         ("records", "right"), ("MB (gz)", "right")):
        table.add_column(col, justify=justify)
    kinds = {b.name: ("history" if b.is_history else "daily") for b in result.timeline.batches}
    for name in sorted(per_batch):
        b = per_batch[name]
        table.add_row(name, kinds.get(name, "?"), str(len(b["interfaces"])), str(b["files"]), f"{b['records']:,}",
                      f"{b['bytes'] / 1e6:,.1f}")
    console = Console()
    console.print(table)
    truth = ", ".join(p.name for p in result.truth_files[:3]) + (" ..." if len(result.truth_files) > 3 else "")
    console.print(f"{len(result.truth_files)} truth files ({truth}); generated in {result.seconds:.1f} s")
