"""Campaign definitions: the six reviewed files load, and anything outside the schema fails with a one-line
error naming the file and the field (in particular, no key can switch off the do-not-disturb suppression)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from vasmart.campaigns.config import DEFINITIONS_DIR, CampaignConfigError, load_definitions, parse_definition

SHIPPED = {"newspaper_acquisition": "newspaper_propensity", "handset_recommendation": "handset_upgrade",
           "gprs_migration": "gprs_overflow", "mms_recapture": "mms_recapture", "credit_control": "credit_control",
           "arrears_collection": "arrears_collection"}


def test_the_six_reviewed_campaigns_load_in_priority_order():
    definitions = load_definitions()
    assert {d.name: d.rule for d in definitions} == SHIPPED
    assert [d.priority for d in definitions] == sorted(d.priority for d in definitions)
    for d in definitions:
        assert d.goal and d.title and d.valid_from <= d.valid_to
        assert "CANCELLED" not in d.statuses
        assert len(d.sha256) == 64
        if d.purpose == "control":
            assert d.contact_cap is None and d.conversion == "none"
        else:
            assert d.contact_cap is not None and d.contact_cap.max_contacts == 2 and d.contact_cap.window_days == 30
            assert d.holdout_share == pytest.approx(0.10)
    by_name = {d.name: d for d in definitions}
    assert by_name["newspaper_acquisition"].params == {"require_mms": True}
    assert by_name["arrears_collection"].statuses == ("NORMAL", "SUSPENDED")
    assert by_name["credit_control"].params == {}  # grades and exit come from models_ml.credit_control


def test_the_credit_control_rule_takes_no_parameters_of_its_own(tmp_path):
    """Entry grades and the exit after months paid on time are set once, for the models and the campaigns."""
    shutil.copy(DEFINITIONS_DIR / "credit_control.yaml", tmp_path / "credit_control.yaml")
    path = tmp_path / "credit_control.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["eligibility"]["exit_after_on_time_bills"] = 2
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CampaignConfigError, match="eligibility: unknown key 'exit_after_on_time_bills'"):
        parse_definition(path)


def _write(tmp_path: Path, name: str, changes: dict, drop: tuple[str, ...] = ()) -> Path:
    data = yaml.safe_load((DEFINITIONS_DIR / "newspaper_acquisition.yaml").read_text(encoding="utf-8"))
    for key in drop:
        data.pop(key)
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split(".")
        for p in parents:
            target = target.setdefault(p, {})
        target[last] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(("changes", "drop", "message"), [
    ({"suppress_dnd": False}, (), "newspaper_acquisition.yaml: unknown key 'suppress_dnd'"),
    ({"eligibility.include_dnd": True}, (), "newspaper_acquisition.yaml: eligibility: unknown key 'include_dnd'"),
    ({"statuses": ["NORMAL", "CANCELLED"]}, (), "statuses: 'CANCELLED': a campaign may reach NORMAL or SUSPENDED"),
    ({"holdout.share": 0.9}, (), "holdout.share: 0.9 is outside [0, 0.5]"),
    ({"target.top_n": 0}, (), "target.top_n: must be at least 1"),
    ({"target.top_n": "many"}, (), "target.top_n: must be int, not str"),
    ({"eligibility.lookback_days": 30}, (), "rule newspaper_propensity takes no parameter 'lookback_days'"),
    ({"eligibility.rule": "everyone"}, (), "eligibility.rule: 'everyone' is not one of"),
    ({"purpose": "spam"}, (), "purpose: 'spam' is not one of promotion, service, control"),
    ({"valid_to": "2025-01-01"}, (), "valid_to: 2025-01-01 is before valid_from 2026-01-01"),
    ({"response.match": None}, (), "response.match: stable_vas_order needs match"),
    ({"channel.prefer": ["SMS"]}, (), "channel.prefer: 'SMS': only capabilities of the handset"),
    ({}, ("goal",), "newspaper_acquisition.yaml: goal: is required"),
    ({"name": "other"}, (), "name: 'other' differs from the file name"),
])
def test_a_definition_outside_the_schema_fails_naming_file_and_field(tmp_path, changes, drop, message):
    path = _write(tmp_path, "newspaper_acquisition", changes, drop)
    with pytest.raises(CampaignConfigError) as caught:
        parse_definition(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_control_list_takes_no_contact_cap(tmp_path):
    shutil.copy(DEFINITIONS_DIR / "credit_control.yaml", tmp_path / "credit_control.yaml")
    path = tmp_path / "credit_control.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["contact_cap"] = {"max_contacts": 5}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CampaignConfigError, match="credit_control.yaml: contact_cap: a control list contacts nobody"):
        parse_definition(path)


def test_invalid_yaml_and_an_empty_directory_are_reported(tmp_path):
    (tmp_path / "broken.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    with pytest.raises(CampaignConfigError, match="broken.yaml: not valid YAML"):
        parse_definition(tmp_path / "broken.yaml")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CampaignConfigError, match="no campaign definitions"):
        load_definitions(empty)


def test_validity_and_criteria_record_the_definition():
    d = next(d for d in load_definitions() if d.name == "gprs_migration")
    assert d.is_valid_on(dt.date(2026, 11, 20)) and not d.is_valid_on(dt.date(2028, 1, 1))
    criteria = d.criteria()
    assert criteria["eligibility"] == {"rule": "gprs_overflow", "min_overflow_mb": 5.0}
    assert criteria["holdout"] == {"share": 0.1, "score_bands": 10}
    assert criteria["always_suppressed"] == ["do_not_disturb", "cancelled"]
    assert criteria["definition_sha256"] == d.sha256
