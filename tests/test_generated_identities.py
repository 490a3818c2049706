"""Acceptance: MSISDNs and IMEIs are real-looking identities (spec section 2, REF_TAC and the Osmocom TAC list)."""

from __future__ import annotations

import phonenumbers
from landing_reader import imei_from_imeisv, is_valid_imei, load_osmocom_tacs, query
from phonenumbers import carrier, geocoder


def test_every_msisdn_field_is_11_digits_starting_with_1(main_run, spec):
    problems = []
    land = main_run.landing
    for name, iface in spec.items():
        if "msisdn" not in iface.field_names or not land.batches_with(name):
            continue
        bad = query(
            "select distinct msisdn from t where not regexp_full_match(msisdn, '1[0-9]{10}') limit 5",
            t=land.all_batches(name),
        )
        if len(bad):
            problems.append(f"{name}: {bad['msisdn'].tolist()}")
    assert not problems, problems


def test_boss_user_numbers_are_china_mobile_numbers_of_the_users_prefecture(users, ref):
    regions = dict(zip(ref["REF_REGION"]["region_code"], ref["REF_REGION"]["region_name"]))
    problems = []
    for msisdn, region_code in zip(users["msisdn"], users["region_code"]):
        n = phonenumbers.parse("+86" + msisdn)
        where = geocoder.description_for_number(n, "zh")
        who = carrier.name_for_number(n, "en")
        name = regions.get(region_code)
        if not phonenumbers.is_valid_number(n) or who != "China Mobile" or not name or name not in where:
            problems.append(f"{msisdn}: region {region_code} {name}, geocoded {where!r}, carrier {who!r}")
    assert not problems, f"{len(problems)} of {len(users)} numbers:\n" + "\n".join(problems[:20])


def test_imeis_are_luhn_valid_or_imeisv_and_some_imeisv_exist(main_run):
    obs = main_run.landing.all_batches("IMEI_OBS").to_pandas()
    imei = obs["imei"]
    is15 = imei.str.fullmatch(r"[0-9]{15}")
    is16 = imei.str.fullmatch(r"[0-9]{16}")
    bad_shape = imei[~(is15 | is16)]
    assert bad_shape.empty, f"neither 15 nor 16 digits: {bad_shape.head().tolist()}"
    bad_luhn = imei[is15 & ~imei.map(is_valid_imei)]
    assert bad_luhn.empty, f"{len(bad_luhn)} 15-digit IMEIs fail the Luhn check: {bad_luhn.head().tolist()}"
    assert imei[is16].map(lambda s: is_valid_imei(imei_from_imeisv(s))).all()
    share = is16.mean()
    print(f"\nIMEISV share of IMEI_OBS rows: {share:.2%} ({is16.sum()} of {len(imei)})")
    assert 0 < share < 0.05, f"IMEISV share {share:.2%}"


def test_imei_tacs_are_in_the_batchs_ref_tac(main_run):
    land = main_run.landing
    problems = []
    for b in land.batches_with("IMEI_OBS"):
        bad = query(
            "select distinct substr(imei, 1, 8) tac from o anti join r on substr(o.imei, 1, 8) = r.tac limit 5",
            o=land.table(b, "IMEI_OBS"),
            r=land.table(b, "REF_TAC"),
        )
        if len(bad):
            problems.append(f"{b}: TACs not in REF_TAC: {bad['tac'].tolist()}")
    assert not problems, problems


def test_ref_tac_uses_real_tacs_from_the_osmocom_database(main_run):
    real = load_osmocom_tacs()
    land = main_run.landing
    for b in (land.batches[0], land.batches[-1]):
        tacs = land.frame(b, "REF_TAC")["tac"]
        missing = sorted(set(tacs) - real)
        assert not missing, (
            f"{b}: {len(missing)} of {len(tacs)} TACs not in osmocom_tacdb.csv: {missing[:10]}"
        )
        assert len(tacs) >= 20, "a realistic handset population has many models"
