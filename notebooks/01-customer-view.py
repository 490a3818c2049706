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
# # The customer view (客户视图)
#
# A tour of the customer marts in the published `analytics.duckdb`: who the subscribers are (`dim_subscriber`),
# how they use voice, SMS, data and value-added services month by month (`fct_subscriber_month`), and the wide
# month-end view that targeting and the models read (`customer_view`).
#
# The database is `$VASMART_ANALYTICS_DB`, by default `$VASMART_HOME/analytics.duckdb` (`vasmart publish` writes
# it; `VASMART_HOME` defaults to `./var`). It holds pseudonymised marts only: no number, name or IMEI.

# %%
import os
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import pandas as pd

DB_PATH = Path(os.environ.get("VASMART_ANALYTICS_DB")
               or Path(os.environ.get("VASMART_HOME", "var")) / "analytics.duckdb")
con = duckdb.connect(str(DB_PATH), read_only=True)


def q(sql: str) -> pd.DataFrame:
    """A query on the published marts as a DataFrame."""
    return con.execute(sql).df()


print(f"reading {DB_PATH}")

# %% [markdown]
# ## The months
# One row per subscriber and month: history months are closed and their usage is BASS's monthly summary; the
# month whose daily batches are still arriving is open (`is_month_complete` false) and its usage comes from the
# call detail so far.

# %%
months = q("""
    select month_start_date, any_value(as_of_date) as as_of_date, any_value(is_month_complete) as complete,
           any_value(usage_source) as usage_source, count(*) as subscribers,
           count(*) filter (where is_active_in_month) as active,
           count(*) filter (where user_status = 'NORMAL') as normal
    from marts.customer_view group by 1 order by 1""")
print(f"customer_view rows: {int(months['subscribers'].sum())}")
months

# %%
fig, ax = plt.subplots(figsize=(9, 3.5))
ax.bar(months["month_start_date"].astype(str), months["active"], color=months["complete"].map({True: "tab:blue",
                                                                                              False: "tab:orange"}))
ax.set_title("Active subscribers per month (orange: month in progress)")
ax.tick_params(axis="x", rotation=60)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Basic attributes: brand, age band, tenure

# %%
latest = months["month_start_date"].max()
complete = months.loc[months["complete"], "month_start_date"].max()
basic = q(f"""
    select brand_code, age_band, count(*) as subscribers, avg(tenure_months) as mean_tenure_months,
           avg(is_capital::int) as capital_share, avg(is_dnd::int) as dnd_share
    from marts.customer_view
    where month_start_date = DATE '{complete.date()}' and user_status = 'NORMAL'
    group by all order by all""")
pivot = basic.pivot_table(index="age_band", columns="brand_code", values="subscribers", fill_value=0)
pivot.plot.bar(stacked=True, figsize=(8, 3.5), title=f"Subscribers by age band and brand, {complete:%Y-%m}")
plt.tight_layout()
plt.show()
basic.groupby("brand_code")[["mean_tenure_months", "capital_share", "dnd_share"]].mean()

# %% [markdown]
# ## Voice: minutes, outgoing share, off-net share, roaming
# Off-net is a call whose other party is another operator's mobile number, classified from real number-prefix
# data (libphonenumber); it exists for months with call detail, i.e. the month in progress.

# %%
voice = q("""
    select month_start_date, median(voice_minutes) as median_minutes,
           quantile_cont(voice_minutes, 0.9) as p90_minutes, avg(outgoing_call_share) as outgoing_share
    from marts.fct_subscriber_month group by 1 order by 1""")
ax = voice.plot(x="month_start_date", y=["median_minutes", "p90_minutes"], figsize=(9, 3.5),
                title="Voice minutes per subscriber (the last month is month to date)")
ax.set_xlabel("")
plt.tight_layout()
plt.show()

detail = q(f"""
    select off_net_call_share, fixed_line_call_share, roaming_call_share, brand_code
    from marts.customer_view
    where month_start_date = DATE '{latest.date()}' and has_voice_detail and off_net_call_share is not null""")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
detail["off_net_call_share"].plot.hist(bins=30, ax=axes[0], title="Off-net share of calls (month in progress)")
detail.groupby("brand_code")[["off_net_call_share", "fixed_line_call_share", "roaming_call_share"]].mean().plot.bar(
    ax=axes[1], title="Mean shares by brand")
plt.tight_layout()
plt.show()
print(f"subscribers with call detail this month: {len(detail)}; "
      f"mean off-net share {detail['off_net_call_share'].mean():.3f}")

# %% [markdown]
# ## Handset: best radio technology, MMS capability, recent changes

# %%
handset = q(f"""
    select coalesce(max_rat, 'unknown') as max_rat, has_mms, count(*) as subscribers,
           avg(has_recent_handset_change::int) as recent_change_share, avg(handset_age_months) as mean_age_months
    from marts.customer_view where month_start_date = DATE '{complete.date()}'
    group by all order by all""")
handset.pivot_table(index="max_rat", columns="has_mms", values="subscribers", fill_value=0).plot.bar(
    figsize=(7, 3.5), title="Handsets in use by best RAT and MMS capability")
plt.tight_layout()
plt.show()
handset

# %% [markdown]
# ## Data services: package use and overflow, VAS held and used, pushes

# %%
data = q(f"""
    select plan_code, gprs_quota_mb, count(*) as subscribers, median(gprs_mb) as median_mb,
           avg(is_gprs_overflow::int) as overflow_rate, avg(gprs_overflow_mb) as mean_overflow_mb
    from marts.customer_view
    where month_start_date = DATE '{complete.date()}' and is_active_in_month
    group by all order by gprs_quota_mb, plan_code""")
data.set_index("plan_code")["overflow_rate"].plot.bar(figsize=(8, 3.5),
                                                     title="Share of subscribers beyond their data package")
plt.tight_layout()
plt.show()
data

# %%
categories = ["news", "sports", "finance", "entertainment", "music", "games", "life", "education"]
use = q(f"""
    select month_start_date, sum(held_newspaper_count) as newspapers_held,
           {", ".join(f"sum({c}_use_count) as {c}" for c in categories)},
           sum(vas_delivery_failed_count) / nullif(sum(vas_delivery_count), 0) as push_failure_rate
    from marts.fct_subscriber_month group by 1 order by 1""")
shares = use.set_index("month_start_date")[categories]
shares = shares.div(shares.sum(axis=1), axis=0)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
shares.plot.area(ax=axes[0], title="VAS use by content category (share)", legend=False)
axes[0].legend(fontsize=7, ncol=2)
use.plot(x="month_start_date", y="newspapers_held", ax=axes[1], title="Mobile newspapers held at month end")
plt.tight_layout()
plt.show()

pushes = q(f"""
    select has_mms, sum(vas_delivery_terminal_failed_count) / nullif(sum(vas_delivery_count), 0)
               as handset_failure_rate
    from marts.customer_view where month_start_date = DATE '{complete.date()}' group by 1""")
pushes

# %% [markdown]
# ## Three-month averages and trends
# A trend compares the month's daily rate with the two months before it (0.2 = a fifth more per day).

# %%
trends = q(f"""
    select voice_calls_trend, gprs_mb_trend, vas_use_count_trend
    from marts.customer_view where month_start_date = DATE '{complete.date()}'""")
trends.clip(-1, 2).plot.hist(bins=40, alpha=0.5, figsize=(8, 3.5), title=f"Usage trends, {complete:%Y-%m}")
plt.tight_layout()
plt.show()
trends.describe()

# %% [markdown]
# ## Joining the labels
# The propensity labels join the view on `month_start_date = population_month`: the newspaper order rate of the
# next month by the number of VAS services held at month end.

# %%
labels = q("""
    select least(v.held_vas_count, 3) as held_vas, count(*) as population,
           avg(l.has_stable_newspaper_order::int) as stable_order_rate
    from marts.fct_propensity_labels l
    join marts.customer_view v
      on v.user_pseudonym = l.user_pseudonym and v.month_start_date = l.population_month
    where l.is_label_observable
    group by 1 order by 1""")
labels.set_index("held_vas")["stable_order_rate"].plot.bar(figsize=(6, 3),
                                                           title="Stable newspaper orders next month")
plt.tight_layout()
plt.show()
labels
