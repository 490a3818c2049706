"""Model cards: `model_card.md` with PNG charts in each version directory.

What the model is for, its data window, its numbers against the baselines on the validation month, how
the champion/challenger decision went, and charts: gains and calibration (propensity), ranking quality
per category (content), per-segment results, grades and stability (credit), and the top features by mean
|SHAP| (or information value for scorecards).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from models_ml.registry import Decision
from models_ml.training import TrainedModel

PURPOSE = {
    "propensity": "P(the user places a stable 手机报 (mobile newspaper) order in month M+1), from the customer "
                  "view at the end of month M; for NORMAL users holding no 手机报. Picks campaign targets.",
    "content": "A ranking of the eight content categories for month M+1 for every active user; the top "
               "category picks the 手机报 edition a campaign offers.",
    "credit": "P(bad: 30+ days overdue with 10 yuan or more in arrears in a bill of J+2..J+5) for users who "
              "joined in month J, at the start of J+2; grades A-E, D and E enter OCS credit control.",
}


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return path.name


def _table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a Markdown table."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.{digits}f}"
        return "" if v is None else str(v)
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _importance_chart(table: pd.DataFrame, title: str, path: Path, value: str = "mean_abs_shap") -> str:
    column = value if value in table else "gain_share"
    fig, ax = plt.subplots(figsize=(6, 0.32 * max(len(table), 3) + 1))
    ax.barh(table["feature"][::-1], table[column][::-1], color="#4c72b0")
    ax.set_xlabel("mean |SHAP| (log-odds)" if column == "mean_abs_shap" else column)
    ax.set_title(title)
    return _save(fig, path)


def _propensity(trained: TrainedModel, out: Path) -> list[str]:
    card, m = trained.card, trained.metrics
    lines = ["## Validation month " + m["validation_month"], ""]
    rows = [{"model": name, **{k: r.get(k) for k in ("auc", "pr_auc", "top_decile_lift", "brier", "ks")}}
            for name, r in [("LightGBM (calibrated)", m["model"]), *m["baselines"].items()]]
    lines += [_table(pd.DataFrame(rows)), "",
              f"Brier score before calibration: {m['model']['brier_uncalibrated']:.4f}; after: {m['model']['brier']:.4f}.",
              ""]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for name, table in [("LightGBM", card["gains"]), *card["gains_baselines"].items()]:
        a1.plot([0, *(table["decile"] / 10)], [0, *table["cumulative_gain"]], marker="o", label=name)
    a1.plot([0, 1], [0, 1], "k--", label="random")
    a1.set_xlabel("share of users contacted (by score)")
    a1.set_ylabel("share of stable orders captured")
    a1.set_title("Cumulative gains")
    a1.legend()
    a2.bar(card["gains"]["decile"], card["gains"]["lift"], color="#4c72b0")
    a2.axhline(1.0, color="k", linestyle="--")
    a2.set_xlabel("score decile (1 = highest)")
    a2.set_ylabel("lift")
    a2.set_title("Lift by decile")
    lines += [f"![gains]({_save(fig, out / 'gains.png')})", "", "### Gains table (LightGBM)", "",
              _table(card["gains"]), ""]
    fig, ax = plt.subplots(figsize=(5, 4.5))
    top = max(card["calibration"]["predicted"].max(), card["calibration"]["observed"].max(),
              card["calibration_uncalibrated"]["predicted"].max()) * 1.05
    ax.plot(card["calibration_uncalibrated"]["predicted"], card["calibration_uncalibrated"]["observed"], "s--",
            label="before calibration")
    ax.plot(card["calibration"]["predicted"], card["calibration"]["observed"], "o-", label="calibrated (Platt)")
    ax.plot([0, top], [0, top], "k:", label="perfect")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration (deciles of the score)")
    ax.legend()
    lines += [f"![calibration]({_save(fig, out / 'calibration.png')})", "", "## Top features", "",
              f"![features]({_importance_chart(card['importance'], 'Top features', out / 'features.png')})", ""]
    return lines


def _content(trained: TrainedModel, out: Path) -> list[str]:
    card, m = trained.card, trained.metrics
    lines = ["## Validation month " + m["validation_month"], ""]
    rows = [{"ranking": "LightGBM per category", **m["model"]}]
    for name, r in m["baselines"].items():
        rows.append({"ranking": name, **(r or {"ndcg_at_3": None, "hit_at_1": None, "users": None})})
    lines += [_table(pd.DataFrame(rows)), ""]
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    x = list(range(len(rows)))
    ax.bar([i - 0.2 for i in x], [r["ndcg_at_3"] or 0 for r in rows], 0.4, color="#4c72b0", label="NDCG@3")
    ax.bar([i + 0.2 for i in x], [r["hit_at_1"] or 0 for r in rows], 0.4, color="#dd8452", label="hit@1")
    ax.set_xticks(x, [r["ranking"].replace("_", " ") for r in rows])
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Ranking quality against realised shares of M+1")
    lines += [f"![ranking]({_save(fig, out / 'ranking.png')})", "", "### Per category", "",
              _table(card["per_category"]), "", "## Top features (NEWS model)", "",
              f"![features]({_importance_chart(card['importance']['NEWS'], 'NEWS share model', out / 'features.png')})",
              ""]
    return lines


def _credit(trained: TrainedModel, out: Path) -> list[str]:
    card, m = trained.card, trained.metrics
    lines = ["## Validation cohorts " + ", ".join(m["validation_cohorts"]), ""]
    seg_rows = []
    for segment, s in card["segments"].items():
        seg_rows.append({"segment": segment, "trained on": s["trained_on"], "users": s["users"], "bads": s["bads"],
                         "scorecard KS": s["scorecard"]["ks"], "LightGBM KS": s["lgbm"]["ks"],
                         "champion": s["champion"], "KS": s["ks"], "AUC": s["auc"], "Gini": s["gini"]})
    lines += ["### Per segment", "", _table(pd.DataFrame(seg_rows)), "",
              f"Mean KS over segments: {m['ks_mean']:.3f}.", "", "### Risk grades", "",
              _table(card["grades"]),
              "", (f"Bad rate strictly increasing from A to E: **{'yes' if m['grades_monotone'] else 'no'}**. "
                   "Grades D and E enter OCS credit control."), ""]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.bar(card["grades"]["grade"], card["grades"]["bad_rate"], color="#c44e52")
    a1.set_title("Bad rate by grade (validation cohorts)")
    a1.set_ylabel("bad rate")
    cal = card["calibration"]
    top = max(cal["predicted"].max(), cal["observed"].max()) * 1.05
    a2.plot(cal["predicted"], cal["observed"], "o-")
    a2.plot([0, top], [0, top], "k:")
    a2.set_xlabel("mean predicted P(bad)")
    a2.set_ylabel("observed bad rate")
    a2.set_title("Calibration")
    lines += [f"![grades]({_save(fig, out / 'grades.png')})", "", "### Population stability (PSI)", "",
              "Bands: below 0.10 stable, 0.10-0.25 moderate shift, 0.25 and above significant shift.", "",
              _table(card["stability"]["score"]), "", "Features that moved most into the latest cohort:", "",
              _table(card["stability"]["features_latest"].head(10)), ""]
    for key, imp in card["importance"].items():
        lines += [f"## Models trained on {key}", "", "Scorecard variables (information value, coefficient):", "",
                  _table(imp["scorecard"]) if len(imp["scorecard"]) else "(no informative variable)", "",
                  f"![features {key}]({_importance_chart(imp['lgbm'], f'LightGBM ({key})', out / f'features_{key.lower()}.png')})",
                  ""]
    return lines


def write_model_card(path: Path, trained: TrainedModel, version: str, decision: Decision,
                     features_table: str) -> Path:
    """Write `model_card.md` and its charts into the version directory `path`."""
    window = ", ".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in trained.window.items()
                       if k in ("train", "early_stopping", "calibration", "validation"))
    lines = [
        f"# Model card: {trained.name} {version}", "",
        PURPOSE[trained.name], "",
        (f"- Features: {len(trained.spec.columns)} columns of `{features_table}` "
         f"({len(trained.spec.categorical)} categorical); labels from the label marts (spec section 6)."),
        f"- Months: {window}.",
        f"- Seed {trained.seed}; parameters and the full window in `training.json`; numbers in `metrics.json`.",
        f"- Decision: {'promoted to champion' if decision.promoted else 'not promoted'} ({decision.reason}); "
        f"{decision.metric} {decision.challenger_value:.4f}"
        + (f" against the champion's {decision.champion_value:.4f}" if decision.champion_value is not None else "")
        + ".", "",
    ]
    body = {"propensity": _propensity, "content": _content, "credit": _credit}[trained.name](trained, path)
    target = path / "model_card.md"
    target.write_text("\n".join(lines + body) + "\n", encoding="utf-8")
    return target
