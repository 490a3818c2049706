"""Campaign reports: one HTML page per campaign under `$VASMART_HOME/reports/campaigns/<campaign>/`.

Three charts (matplotlib PNGs beside the page) and their numbers as tables: the list size over time
(TARGET and HOLDOUT per run date), the suppression funnel of the latest run (each reason's count), and the
uplift per run with its 95% interval (from `marts.fct_campaign_response`, when the mart has been built).
Counts and rates only: no pseudonym, no number.
"""

from __future__ import annotations

import html
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from vasmart.config import Settings
from vasmart.warehouse import connect


class ReportError(RuntimeError):
    """A report that cannot be made (the message names the campaign or the table)."""


def _sizes_chart(sizes: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    dates = [d.strftime("%m-%d") for d in sizes["run_date"]]
    ax.bar(dates, sizes["target_count"], label="TARGET (contacted)", color="#2b6cb0")
    ax.bar(dates, sizes["holdout_count"], bottom=sizes["target_count"], label="HOLDOUT", color="#a0aec0")
    ax.set_ylabel("users")
    ax.set_title("List size by run date")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _funnel_chart(funnel: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = list(funnel["step"])[::-1]
    ax.barh(labels, list(funnel["remaining_count"])[::-1], color="#2b6cb0", label="remaining")
    ax.barh(labels, list(funnel["removed_count"])[::-1], left=list(funnel["remaining_count"])[::-1],
            color="#e53e3e", label="removed at this step")
    ax.set_xlabel("users")
    ax.set_title("Suppression funnel of the latest run")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _uplift_chart(response: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    dates = [d.strftime("%m-%d") for d in response["run_date"]]
    low = response["uplift"] - response["uplift_ci_low"]
    high = response["uplift_ci_high"] - response["uplift"]
    ax.errorbar(dates, response["uplift"], yerr=[low, high], fmt="o", color="#2b6cb0", capsize=4,
                label="uplift, 95% interval")
    ax.axhline(0, color="#718096", linewidth=0.8)
    ax.set_ylabel("TARGET rate - HOLDOUT rate")
    ax.set_title("Uplift by run date")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, classes="numbers", float_format=lambda v: f"{v:.4f}")


def _response(con: duckdb.DuckDBPyConnection, campaign: str) -> pd.DataFrame | None:
    try:
        return con.execute("select * from marts.fct_campaign_response where campaign = ? order by run_date",
                           [campaign]).df()
    except duckdb.CatalogException:
        return None


def write_report(con: duckdb.DuckDBPyConnection, campaign: str, directory: Path) -> Path:
    """Write one campaign's report (HTML and PNGs) into `directory`; returns the HTML path."""
    runs = con.execute("""
        select run_date, title, goal, purpose, target_count, holdout_count, eligible_count, holdout_share,
               holdout_seed, conversion_kind, response_window_days
        from campaigns.campaign_run where campaign = ? order by run_date
    """, [campaign]).df()
    if runs.empty:
        raise ReportError(f"campaign {campaign!r} has no list in the warehouse")
    latest = runs["run_date"].iloc[-1]
    funnel = con.execute("""
        select step, removed_count, remaining_count from campaigns.suppression_count
        where campaign = ? and run_date = ? order by step_order
    """, [campaign, latest]).df()
    directory.mkdir(parents=True, exist_ok=True)
    _sizes_chart(runs, directory / "list_size.png")
    _funnel_chart(funnel, directory / "funnel.png")
    response = _response(con, campaign)
    title = html.escape(str(runs["title"].iloc[-1]))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        (f"<title>{title}</title><style>body{{font-family:sans-serif;max-width:920px;margin:2em auto}}"
        "table.numbers td,table.numbers th{padding:2px 10px;text-align:right}</style></head><body>"),
        f"<h1>{title} <small>({html.escape(campaign)})</small></h1>",
        f"<p>{html.escape(str(runs['goal'].iloc[-1]))}</p>",
        (f"<p>Purpose: {html.escape(str(runs['purpose'].iloc[-1]))}; holdout share "
        f"{runs['holdout_share'].iloc[-1]:.0%}; response measured as "
        f"{html.escape(str(runs['conversion_kind'].iloc[-1]))} within {runs['response_window_days'].iloc[-1]} days "
        f"of the contact.</p>"),
        "<h2>List size over time</h2><img src='list_size.png' alt='list size by run date'>",
        _table(runs[["run_date", "eligible_count", "target_count", "holdout_count", "holdout_seed"]]),
        f"<h2>Suppression funnel ({latest:%Y-%m-%d})</h2><img src='funnel.png' alt='suppression funnel'>",
        _table(funnel),
        "<h2>Response and uplift</h2>",
    ]
    if response is None or response.empty:
        parts.append("<p>No response measured yet (a control list, or marts.fct_campaign_response not built).</p>")
    else:
        _uplift_chart(response, directory / "uplift.png")
        parts += ["<img src='uplift.png' alt='uplift by run date'>", _table(response[[
            "run_date", "window_end_date", "is_window_closed", "target_user_count", "target_converted_count",
            "holdout_user_count", "holdout_converted_count", "target_conversion_rate", "holdout_conversion_rate",
            "uplift", "uplift_ci_low", "uplift_ci_high"]])]
    parts.append("</body></html>")
    path = directory / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def write_reports(settings: Settings, campaigns: list[str] | None = None) -> list[Path]:
    """Reports of the named campaigns (default: every campaign with a list) under reports/campaigns/."""
    con = connect(settings, read_only=True)
    try:
        known = [r[0] for r in con.execute("select distinct campaign from campaigns.campaign_run order by 1").fetchall()]
        names = campaigns or known
        missing = sorted(set(names) - set(known))
        if missing:
            raise ReportError(f"campaign {missing[0]!r} has no list in the warehouse")
        root = settings.reports / "campaigns"
        return [write_report(con, name, root / name) for name in names]
    finally:
        con.close()
