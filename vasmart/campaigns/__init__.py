"""Precision-marketing campaigns (精确营销): the closed loop from scores and rules to measured uplift.

goal (a reviewed definition in `definitions/*.yaml`, `config.py`) -> targets (`targeting.py`: eligibility
rules on the marts; `suppression.py`: do-not-disturb, status, holders, credit risk, contact cap, each
counted; `holdout.py`: a seeded, stratified control group) -> execution (`lists.py`: the list in the
warehouse; `writeback.py`: the campaign database; `export.py`: the file sent, with MSISDNs resolved only
there, its manifest and audit) -> tracking and evaluation (the dbt mart `fct_campaign_response`: TARGET
against HOLDOUT within the response window; `report.py`: one HTML report per campaign).
"""
