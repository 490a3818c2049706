# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Model report
#
# The three champion models of the registry (`$VASMART_HOME/models`): 手机报 propensity, content preference
# and negative credit of new users. For each: its validation numbers beside the baselines, the charts a
# campaign or risk analyst reads (gains, calibration, ranking quality, grades, stability), the
# champion/challenger decisions, and the latest nightly scores in `marts.fct_model_scores`.
# When the generator's ground truth is present (`$VASMART_HOME/truth`, demo and test data only) and the
# pseudonym key is set, the last section compares each model with the oracle.

# %%
import json
import os
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from models_ml import metrics
from models_ml.config import CATEGORIES, MODEL_NAMES, SCORES_TABLE, ModelSettings
from models_ml.registry import champion_version, version_path

settings = ModelSettings.from_env()
champions = {name: champion_version(settings, name) for name in MODEL_NAMES}
missing = [name for name, version in champions.items() if version is None]
assert not missing, f"no champion for {', '.join(missing)} under {settings.models_dir}: run vasmart train"
paths = {name: version_path(settings, name, version) for name, version in champions.items()}
metric_files = {name: json.loads((path / "metrics.json").read_text()) for name, path in paths.items()}
validation = {name: pd.read_parquet(path / "validation.parquet") for name, path in paths.items()}
pd.DataFrame([{"model": n, "champion": v, "features": len(json.loads((paths[n] / "training.json").read_text())["features"])}
              for n, v in champions.items()])

# %% [markdown]
# ## Champion / challenger decisions
# Every training run is a version; a version becomes champion only if it beats the champion on its
# validation data.

# %%
decisions = pd.concat(
    [pd.read_json(settings.models_dir / n / "decisions.jsonl", lines=True) for n in MODEL_NAMES], ignore_index=True)
decisions[["model", "version", "promoted", "metric", "challenger_value", "champion_value", "reason"]]

# %% [markdown]
# ## 手机报 propensity
# LightGBM (Platt-calibrated) against logistic regression on the same features and the campaign team's rule
# (MMS handset + active SMS user + news use), on the latest validation month.

# %%
prop = validation["propensity"]
y = prop["label"].to_numpy()
scores = {"LightGBM": prop["score"], "logistic regression": prop["logistic_regression"], "rule": prop["rule"]}
summary = pd.DataFrame({name: {"AUC": metrics.auc(y, s), "PR-AUC": metrics.pr_auc(y, s),
                               "top-decile lift": metrics.lift(y, s, 0.1)} for name, s in scores.items()}).T
summary["Brier"] = [metrics.brier(y, prop["score"]), metrics.brier(y, prop["logistic_regression"]), np.nan]
summary

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for name, s in scores.items():
    gains = metrics.gains_table(y, s)
    ax1.plot([0, *(gains["decile"] / 10)], [0, *gains["cumulative_gain"]], marker="o", label=name)
ax1.plot([0, 1], [0, 1], "k--", label="random")
ax1.set(xlabel="share of users contacted", ylabel="share of stable orders captured", title="Cumulative gains")
ax1.legend()
for name, column in (("calibrated", "score"), ("before calibration", "score_uncalibrated")):
    curve = metrics.calibration_curve(y, prop[column])
    ax2.plot(curve["predicted"], curve["observed"], "o-", label=name)
top = prop["score"].quantile(0.999)
ax2.plot([0, top], [0, top], "k:", label="perfect")
ax2.set(xlabel="mean predicted probability", ylabel="observed rate", title="Calibration by decile")
ax2.legend()
plt.show()

# %%
metrics.gains_table(y, prop["score"]).round(3)

# %% [markdown]
# ## Content preference
# NDCG@3 and hit@1 of the category ranking against the realised shares of month M+1, beside global
# popularity and the user's own past shares.

# %%
content = metric_files["content"]
rows = {"model": content["model"], **{k: v for k, v in content["baselines"].items() if v}}
ranking = pd.DataFrame(rows).T[["ndcg_at_3", "hit_at_1", "users"]]
ranking

# %%
cont = validation["content"]
realised = cont[[f"share_{c.lower()}" for c in CATEGORIES]].mean().to_numpy()
predicted = cont[[f"predicted_{c.lower()}" for c in CATEGORIES]].mean().to_numpy()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ranking[["ndcg_at_3", "hit_at_1"]].astype(float).plot.bar(ax=ax1, rot=0, title="Ranking quality")
ax1.set_ylim(0, 1)
x = np.arange(len(CATEGORIES))
ax2.bar(x - 0.2, realised, 0.4, label="realised (M+1)")
ax2.bar(x + 0.2, predicted, 0.4, label="predicted")
ax2.set_xticks(x, CATEGORIES, rotation=45)
ax2.set_title("Mean share by category")
ax2.legend()
plt.show()

# %% [markdown]
# ## Negative credit of new users
# Per segment (re-joiner x capital): the scorecard and the monotone LightGBM on the validation cohorts,
# the champion picked by KS, then the risk grades and the score's population stability.

# %%
credit = metric_files["credit"]
segments = pd.DataFrame([
    {"segment": s, "trained on": v["trained_on"], "users": v["users"], "bads": v["bads"],
     "scorecard KS": v["scorecard"]["ks"], "LightGBM KS": v["lgbm"]["ks"], "champion": v["champion"],
     "KS": v["ks"], "AUC": v["auc"], "Gini": v["gini"]} for s, v in credit["segments"].items()])
segments

# %%
grades = pd.DataFrame(credit["grades"])
psi = pd.DataFrame(credit["psi"]["score"])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.bar(grades["grade"], grades["bad_rate"], color="#c44e52")
ax1.set(title=f"Bad rate by grade (monotone: {credit['grades_monotone']})", ylabel="bad rate")
ax2.plot(psi["to"], psi["psi"], "o-")
ax2.axhline(0.10, color="orange", linestyle="--", label="0.10")
ax2.axhline(0.25, color="red", linestyle="--", label="0.25")
ax2.set(title="Score PSI, cohort over cohort", ylabel="PSI")
ax2.tick_params(axis="x", rotation=45)
ax2.legend()
plt.show()
grades

# %% [markdown]
# ## Latest nightly scores (`marts.fct_model_scores`)

# %%
if settings.warehouse.exists():
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        tables = con.execute("select table_schema || '.' || table_name from information_schema.tables").fetchall()
        if (SCORES_TABLE,) in tables:
            latest = con.execute(f"""
                select model_name, model_version, batch_date, feature_month, count(*) as users,
                       avg(score) as mean_score, count(distinct grade) as grades,
                       count(distinct top_category) as top_categories
                from {SCORES_TABLE}
                where batch_date = (select max(batch_date) from {SCORES_TABLE})
                group by all order by model_name""").df()
            display(latest)  # noqa: F821 - the notebook's display()

# %% [markdown]
# ## Against the oracle (generator ground truth)
# The oracle is the same metric computed from the truth's own probabilities on the same users and realised
# labels: the ceiling. Needs `$VASMART_HOME/truth` and `VASMART_PSEUDONYM_KEY`.

# %%
truth_dir = Path(os.environ.get("VASMART_TRUTH", settings.truth_dir))
if truth_dir.is_dir() and os.environ.get("VASMART_PSEUDONYM_KEY"):
    from models_ml.evaluate import evaluate, pseudonym_key

    oracle = pd.DataFrame([r.as_dict() for r in evaluate(settings, truth_dir, pseudonym_key())])
    display(oracle[["model", "metric", "segment", "users", "value", "oracle", "ratio"]].round(4))  # noqa: F821
else:
    print("no truth directory or pseudonym key: the oracle comparison is skipped")
