"""Checks of vasmart.synth.reference against independent sources: phonenumbers' public API, the shipped
Osmocom CSV read here with the csv module, and the interface spec (vasmart/resources/interfaces.yaml)."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import subprocess
import sys
import unicodedata
from datetime import date
from pathlib import Path

import pandas as pd
import phonenumbers
import pytest
import yaml
from phonenumbers import carrier, geocoder

from vasmart.synth import reference

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = ROOT / "vasmart" / "resources" / "interfaces.yaml"
SHIPPED_TACDB = ROOT / "vasmart" / "synth" / "data" / "osmocom_tacdb.csv"
SHARED_TACDB = Path("/work/shared/reference/osmocom_tacdb.csv")

# Prefectures of Xinjiang in phonenumbers' data, with their telephone area codes (from the task brief).
XINJIANG_CODES = {
    "0991",
    "0990",
    "0995",
    "0902",
    "0994",
    "0909",
    "0996",
    "0997",
    "0908",
    "0998",
    "0903",
    "0999",
    "0901",
    "0906",
    "0993",
}
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def spec_fields() -> dict[str, dict[str, dict]]:
    """interface -> field name -> field definition, from the spec copy in the package."""
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return {name: {f["name"]: f for f in iface["fields"]} for name, iface in spec["interfaces"].items()}


def allowed(spec_fields, interface: str, field: str) -> set[str]:
    return {str(v) for v in spec_fields[interface][field]["values"]}


@pytest.fixture(scope="module")
def xinjiang():
    return reference.regions()


@pytest.fixture(scope="module")
def tacs() -> pd.DataFrame:
    return reference.tac_catalogue()


@pytest.fixture(scope="module")
def raw_tacdb() -> dict[str, tuple[str, str]]:
    """First (vendor, model) per stripped TAC value of the shipped file, read independently of the module."""
    with SHIPPED_TACDB.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[1][:3] == ["tac", "name", "name"], "second line must be the header"
    first: dict[str, tuple[str, str]] = {}
    for row in rows[2:]:
        first.setdefault(row[0].strip(), (row[1].strip(), row[2].strip()))
    return first


@pytest.fixture(scope="module")
def services() -> pd.DataFrame:
    return reference.service_catalogue()


@pytest.fixture(scope="module")
def plans() -> pd.DataFrame:
    return reference.plan_catalogue()


def _number(segment: int, suffix: str) -> phonenumbers.PhoneNumber:
    return phonenumbers.parse(f"+86{segment}{suffix}")


def _is_date(text) -> bool:
    """True for a real calendar date written YYYYMMDD."""
    if not isinstance(text, str) or not re.fullmatch(r"\d{8}", text):
        return False
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------- regions


def test_xinjiang_has_its_fifteen_prefectures_and_one_capital(xinjiang):
    assert {r.code for r in xinjiang} == XINJIANG_CODES
    assert len(xinjiang) == 15
    assert len({r.name_zh for r in xinjiang}) == 15 and len({r.name_en for r in xinjiang}) == 15
    capitals = [r for r in xinjiang if r.is_capital]
    assert [(r.code, r.name_zh, r.name_en) for r in capitals] == [("0991", "乌鲁木齐市", "Urumqi")]
    assert all(not r.name_zh.startswith("新疆") and HAN.search(r.name_zh) for r in xinjiang)


def test_weights_sum_to_one_with_the_capital_over_represented(xinjiang):
    weights = {r.code: r.weight for r in xinjiang}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(w > 0 for w in weights.values())
    assert 0.15 <= weights["0991"] <= 0.30
    assert weights["0991"] == max(weights.values())
    assert weights["0998"] > weights["0990"]  # Kashi (about 4 million people) outweighs Karamay (0.4 million)


def test_every_segment_geocodes_to_its_prefecture_and_is_china_mobile(xinjiang):
    checked = 0
    for region in xinjiang:
        assert region.segments, region.code
        assert list(region.segments) == sorted(set(region.segments))
        for segment in region.segments:
            assert 1_000_000 <= segment <= 1_999_999
            for suffix in ("0000", "9999"):  # both ends of the 10,000 numbers of the segment
                number = _number(segment, suffix)
                assert geocoder.description_for_number(number, "zh") == "新疆" + region.name_zh, segment
                assert carrier.name_for_number(number, "en") == "China Mobile", segment
                checked += 1
    assert checked >= 2 * 1500


def test_segments_do_not_overlap_and_cover_known_numbers(xinjiang):
    owner = {}
    for region in xinjiang:
        for segment in region.segments:
            assert segment not in owner, f"{segment} in {owner.get(segment)} and {region.code}"
            owner[segment] = region.code
    assert owner[1389912] == "0998"  # a China Mobile Kashi segment
    assert 1300096 not in owner  # Urumqi, but China Unicom
    assert 1339910 not in owner  # China Telecom
    assert all(len(r.segments) >= 20 for r in xinjiang)


def test_area_codes_match_landline_geocoding(xinjiang):
    for region in xinjiang:
        landline = phonenumbers.parse(f"+86{region.code[1:]}1234567")
        assert geocoder.description_for_number(landline, "zh").endswith(region.name_zh), region.code


def test_other_provinces_are_refused():
    with pytest.raises(ValueError, match="Guangdong"):
        reference.regions("Guangdong")
    assert reference.regions("xinjiang") == reference.regions()


# ---------------------------------------------------------------------------------------------- handsets


def test_shipped_tacdb_keeps_its_attribution():
    first_line = SHIPPED_TACDB.read_text(encoding="utf-8").splitlines()[0]
    assert "CC-BY-SA" in first_line and "Harald Welte" in first_line
    if SHARED_TACDB.exists():
        assert SHIPPED_TACDB.read_bytes() == SHARED_TACDB.read_bytes()


def test_tac_columns_and_types(tacs, spec_fields):
    assert list(tacs.columns) == [*spec_fields["REF_TAC"], "tier"]
    assert tacs["tac"].map(lambda t: isinstance(t, str) and re.fullmatch(r"\d{8}", t) is not None).all()
    assert tacs["tac"].is_unique
    assert str(tacs["release_year"].dtype) == "Int64"
    assert set(tacs["mms"].unique()) == {0, 1} and set(tacs["wap"].unique()) == {0, 1}
    assert set(tacs["max_rat"]) == allowed(spec_fields, "REF_TAC", "max_rat")
    assert set(tacs["tier"].unique()) == {0, 1, 2}
    assert (tacs[["vendor", "model"]] != "").all().all()


def test_every_tac_comes_from_the_shipped_csv(tacs, raw_tacdb):
    valid = {t for t in raw_tacdb if re.fullmatch(r"\d{8}", t)}
    assert set(tacs["tac"]) == valid  # all valid TACs, nothing else
    assert len(valid) > 24_000

    def fold(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()

    for tac, vendor, model in zip(tacs["tac"], tacs["vendor"], tacs["model"]):
        raw_vendor, raw_model = raw_tacdb[tac]
        assert fold(vendor) == fold(raw_vendor), tac
        assert fold(model) == fold(raw_model), tac


def test_tac_capabilities_are_plausible(tacs):
    no_mms = tacs["mms"] == 0
    assert 0.15 <= no_mms.mean() <= 0.25
    assert tacs.loc[no_mms, "max_rat"].isin(["2G", "3G"]).mean() >= 0.9
    assert (tacs.loc[tacs["mms"] == 1, "wap"] == 1).all()  # MMS is fetched over WAP
    assert (tacs.loc[tacs["tier"] == 2, "wap"] == 1).all()
    assert (tacs.loc[tacs["tier"] == 1, "mms"] == 1).all()
    assert tacs.groupby("tier").size().min() >= 1000  # every tier is a usable pool

    years = tacs["release_year"]
    assert 0.02 <= years.isna().mean() <= 0.30
    assert years.dropna().between(2000, 2016).all()
    assert (years[tacs["max_rat"] == "4G"].dropna() >= 2010).all()
    fac_era = ~tacs["tac"].str[:2].isin(["35", "01", "86", "91", "99"])  # pre-2004 TAC+FAC allocations
    assert fac_era.mean() > 0.25
    assert (tacs.loc[fac_era & (tacs["tier"] < 2), "max_rat"] == "2G").all()  # unless a smartphone model
    assert (years[fac_era].dropna() <= 2004).mean() > 0.99


def test_known_handsets_get_the_expected_capabilities(tacs):
    text = (tacs["vendor"] + " " + tacs["model"]).str.lower()
    iphones = tacs[text.str.contains(r"iphone ?[5-7]")]
    assert len(iphones) > 100
    assert (iphones[["mms", "wap", "tier"]] == [1, 1, 2]).all().all()
    assert (iphones["max_rat"] == "4G").all()
    assert (tacs.loc[text.str.contains(r"iphone 4s"), "release_year"].dropna() == 2011).all()
    modems = tacs[text.str.contains("modem|aircard|usb")]
    assert len(modems) >= 20
    assert (modems[["mms", "wap", "tier"]] == 0).all().all()
    ipads = tacs[text.str.contains("ipad")]
    assert len(ipads) > 10 and (ipads["mms"] == 0).all() and (ipads["wap"] == 1).all()
    classics = tacs[(tacs["vendor"] == "Nokia") & tacs["model"].isin(["3310", "3210", "5110", "6110"])]
    assert len(classics) > 500
    assert (classics[["mms", "tier"]] == 0).all().all() and (classics["max_rat"] == "2G").all()
    assert classics["release_year"].dropna().between(2000, 2001).all()
    newer = tacs[(tacs["vendor"] == "Nokia") & tacs["model"].isin(["3110 classic", "6210 Navigator"])]
    assert len(newer) > 10 and newer["mms"].mean() > 0.8  # 2007-2008 models of the same numbers


# ---------------------------------------------------------------------------------------------- plans


def test_plans_match_the_spec(plans, spec_fields):
    assert list(plans.columns) == [*spec_fields["REF_PLAN"], "tier"]
    assert 12 <= len(plans) <= 16 and plans["plan_code"].is_unique
    assert set(plans["brand_code"]) == allowed(spec_fields, "REF_PLAN", "brand_code")
    assert set(plans["pay_type"]) <= allowed(spec_fields, "REF_PLAN", "pay_type")
    for column in ("monthly_fee_fen", "gprs_quota_mb", "tier"):
        assert pd.api.types.is_integer_dtype(plans[column]), column
    assert (plans["monthly_fee_fen"] >= 1000).all()
    assert (plans["gprs_quota_mb"] >= 0).all() and (plans["gprs_quota_mb"] == 0).any()
    assert {0, 30, 100, 300, 1024} <= set(plans["gprs_quota_mb"])


def test_plans_form_a_ladder_within_each_brand(plans):
    brand_zh = {"GOTONE": "全球通", "MZONE": "动感地带", "EASYOWN": "神州行"}
    for brand, group in plans.groupby("brand_code"):
        assert group["plan_name"].str.startswith(brand_zh[brand]).all(), brand
        ladder = group.sort_values("tier")
        assert list(ladder["tier"]) == list(range(len(group))), brand
        assert ladder["monthly_fee_fen"].is_monotonic_increasing, brand
        assert ladder["gprs_quota_mb"].is_monotonic_increasing, brand
        assert ladder["gprs_quota_mb"].nunique() >= 3, brand  # a next data-package tier exists
    pay = plans.groupby("brand_code")["pay_type"].agg(lambda s: (s == "POST").mean())
    assert pay["GOTONE"] > 0.5 and pay["MZONE"] == 0 and pay["EASYOWN"] == 0


# ---------------------------------------------------------------------------------------------- services


def test_services_match_the_spec(services, spec_fields):
    fields = spec_fields["REF_SERVICE"]
    assert list(services.columns)[: len(fields)] == list(fields)
    assert {"push_per_week", "access_number", "popularity"} <= set(services.columns)
    assert 25 <= len(services) <= 40 and services["service_code"].is_unique
    for column in ("product_line", "category", "media", "fee_type"):
        assert set(services[column]) <= allowed(spec_fields, "REF_SERVICE", column), column
    assert set(services["category"]) == set(reference.CATEGORIES)
    assert services["service_code"].str.fullmatch(r"[A-Z0-9]{2,8}").all()
    assert services["sp_code"].str.fullmatch(r"\d{6}").all()
    assert services["service_name"].str.contains(HAN).all()
    assert set(services["is_sticky"]) == {0, 1}
    for column in ("fee_fen", "is_sticky", "push_per_week"):
        assert pd.api.types.is_integer_dtype(services[column]), column
    assert ((services["fee_type"] == "01") == (services["fee_fen"] == 0)).all()
    assert (services["fee_fen"] >= 0).all() and (services["popularity"] > 0).all()
    assert (
        services["access_number"].str.fullmatch(r"106\d{5,9}").all() and services["access_number"].is_unique
    )


def test_service_dates(services):
    assert services["online_date"].map(_is_date).all()
    assert services["online_date"].str[:4].astype(int).between(2008, 2014).all()
    offline = services["offline_date"].dropna()
    assert 1 <= len(offline) <= 2
    assert offline.map(_is_date).all()
    assert (offline > services.loc[offline.index, "online_date"]).all()
    assert services["offline_date"].map(lambda d: d is None or isinstance(d, str)).all()


def test_every_category_has_two_services(services):
    counts = services["category"].value_counts()
    assert all(counts.get(c, 0) >= 2 for c in reference.CATEGORIES), counts.to_dict()


def test_pushes_go_only_to_pushable_monthly_services(services, spec_fields):
    pushed = services[services["push_per_week"] > 0]
    assert set(pushed["media"]) <= allowed(spec_fields, "VAS_DELIVERY", "media")  # no IVR pushes
    assert (pushed["fee_type"].isin(["01", "03"])).all()
    assert (services.loc[services["fee_type"] == "02", "push_per_week"] == 0).all()
    assert services["push_per_week"].between(0, 14).all()
    assert (services.loc[services["is_sticky"] == 1, "fee_type"] == "03").all()


def test_required_services_exist(services):
    def has(**conditions) -> pd.DataFrame:
        mask = pd.Series(True, index=services.index)
        for column, value in conditions.items():
            mask &= services[column] == value
        return services[mask]

    papers = has(product_line="MOBILE_NEWSPAPER")
    assert len(papers) >= 5
    assert (papers[["media", "fee_type"]] == ["MMS", "03"]).all().all()
    assert (papers["is_sticky"] == 1).all() and (papers["push_per_week"] == 7).all()
    assert {"NEWS", "SPORTS", "FINANCE", "ENTERTAINMENT", "LIFE"} <= set(papers["category"])
    assert papers["service_name"].str.contains("手机报").all()
    assert len(has(product_line="CRBT", category="MUSIC", media="IVR", fee_type="03", is_sticky=1)) >= 1
    assert (
        len(
            has(
                product_line="WEATHER",
                category="LIFE",
                media="SMS",
                fee_type="03",
                is_sticky=1,
                push_per_week=7,
            )
        )
        >= 1
    )
    assert len(has(product_line="INFO", category="FINANCE", media="SMS", fee_type="03", push_per_week=5)) >= 1
    assert (
        len(has(product_line="INFO", category="EDUCATION", media="SMS", fee_type="03", push_per_week=7)) >= 1
    )
    assert len(has(product_line="MUSIC", media="WAP", fee_type="03")) >= 1
    assert len(has(product_line="MUSIC", media="WAP", fee_type="02")) >= 1
    assert len(has(product_line="GAMES", media="WAP", fee_type="02")) >= 1
    assert len(has(product_line="GAMES", fee_type="03")) >= 1
    assert len(has(category="ENTERTAINMENT", media="SMS", fee_type="03")) >= 1
    free = services[services["fee_type"] == "01"]
    assert len(free) >= 1 and free["category"].isin(["LIFE", "OTHER"]).all()


# ---------------------------------------------------------------------------------------------- status codes


def test_status_codes(spec_fields):
    codes = reference.status_codes()
    assert list(codes.columns) == list(spec_fields["REF_STATUS_CODE"])
    assert codes["status_code"].is_unique
    assert set(codes["status_class"]) == allowed(spec_fields, "REF_STATUS_CODE", "status_class")
    per_class = codes["status_class"].value_counts()
    assert per_class["SUCCESS"] == 1
    assert codes.loc[codes["status_class"] == "SUCCESS", "status_code"].tolist() == ["DELIVRD"]
    assert per_class.drop("SUCCESS").between(2, 4).all(), per_class.to_dict()
    assert codes["status_code"].str.fullmatch(r"[A-Z]{7}|[A-Z]{2}:\d{4}").all()
    assert (codes["description"].str.len() > 0).all()


# ---------------------------------------------------------------------------------------------- names


def test_name_pools():
    surnames, given, minority = reference.name_pools()
    assert 90 <= len(surnames) <= 120 and len(set(surnames)) == len(surnames)
    assert 180 <= len(given) <= 240 and len(set(given)) == len(given)
    assert 130 <= len(minority) <= 180 and len(set(minority)) == len(minority)
    assert all(1 <= len(s) <= 2 for s in surnames) and all(1 <= len(g) <= 2 for g in given)
    assert all(HAN.fullmatch(c) for name in surnames + given for c in name)
    for name in minority:
        own, _, father = name.partition("·")
        assert own and father and "·" not in father and own != father, name
        assert all(HAN.fullmatch(c) for c in own + father), name
    assert "买买提·艾力" in minority
    surnames.clear()  # callers get their own lists
    assert len(reference.name_pools()[0]) >= 90


# ---------------------------------------------------------------------------------------------- all tables


def _text_cells():
    """(table, value) for every text cell of every catalogue."""
    tables = {
        "regions": pd.DataFrame([{"name_zh": r.name_zh, "name_en": r.name_en} for r in reference.regions()]),
        "tac": reference.tac_catalogue()[["vendor", "model", "max_rat"]],
        "plan": reference.plan_catalogue(),
        "service": reference.service_catalogue(),
        "status": reference.status_codes(),
        "names": pd.DataFrame({"name": [n for pool in reference.name_pools() for n in pool]}),
    }
    for table, df in tables.items():
        for column in df.columns:
            for value in df[column]:
                if isinstance(value, str):
                    yield table, column, value


def test_all_text_encodes_in_gbk_and_fits_the_record_format():
    count = 0
    for table, column, value in _text_cells():
        value.encode("gbk")  # raises if a character is outside GBK
        assert not re.search(r"[|\r\n]", value), (table, column, value)
        count += 1
    assert count > 50_000


_DIGEST_SCRIPT = """
import hashlib
from vasmart.synth import reference as r
parts = [repr(r.regions()), r.tac_catalogue().to_csv(), r.plan_catalogue().to_csv(),
         r.service_catalogue().to_csv(), r.status_codes().to_csv(), repr(r.name_pools())]
print(hashlib.sha256("\\n".join(parts).encode()).hexdigest())
"""


def test_catalogues_are_deterministic_across_calls_and_processes():
    assert reference.tac_catalogue().equals(reference.tac_catalogue())
    assert reference.service_catalogue().equals(reference.service_catalogue())
    assert reference.name_pools() == reference.name_pools()
    digests = set()
    for seed in ("1", "4242"):  # a different str-hash salt in each process
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        digests.add(result.stdout.strip())
    local = hashlib.sha256(
        "\n".join(
            [
                repr(reference.regions()),
                reference.tac_catalogue().to_csv(),
                reference.plan_catalogue().to_csv(),
                reference.service_catalogue().to_csv(),
                reference.status_codes().to_csv(),
                repr(reference.name_pools()),
            ]
        ).encode()
    ).hexdigest()
    assert digests == {local}
