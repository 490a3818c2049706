"""The ODCS data contracts in data_contracts/: valid ODCS (datacontract lint), equal to the specification, and
exactly what vasmart.contracts_build generates from it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vasmart.contracts import (
    CONTRACT_SUFFIX,
    DATA_CONTRACTS_DIR,
    ContractError,
    contract_errors,
    load_contracts,
)
from vasmart.contracts_build import write_contracts
from vasmart.interface_spec import load_spec

VENV_BIN = Path(sys.executable).parent
DATACONTRACT = VENV_BIN / "datacontract"
CONTRACT_FILES = sorted(DATA_CONTRACTS_DIR.glob(f"*{CONTRACT_SUFFIX}"))

# Runs `datacontract lint FILE` for each argument through the console script's own entry point
# (datacontract.cli:main), all in one interpreter so the CLI is imported once, and prints one JSON line per file.
# An audit hook records every attempt to reach the network (datacontract-cli has no telemetry; this proves it).
LINT_DRIVER = """
import contextlib, io, json, sys
network = []
NET_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "http.client.connect", "urllib.Request"}
sys.addaudithook(lambda event, args: network.append(f"{event} {args!r}") if event in NET_EVENTS else None)
from datacontract.cli import main
for path in sys.argv[1:]:
    out = io.StringIO()
    sys.argv = ["datacontract", "lint", "--all-errors", path]
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    print(json.dumps({"path": path, "code": code, "output": out.getvalue()}), flush=True)
print(json.dumps({"network": network}), flush=True)
"""


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["COLUMNS"] = "160"  # rich tables wide enough to read in a failure message
    env.pop("DATACONTRACT_CLI_DEBUG", None)
    return env


def _lint_in_one_process(paths: list[Path]) -> dict[str, dict]:
    proc = subprocess.run(
        [sys.executable, "-c", LINT_DRIVER, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_cli_env(),
        check=False,
    )
    assert proc.returncode == 0, f"lint driver failed:\n{proc.stdout}\n{proc.stderr}"
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {r.get("path", "network"): r for r in results}


@pytest.fixture(scope="module")
def broken_contract(tmp_path_factory) -> Path:
    """A copy of one contract that ODCS rejects (a logicalType the standard does not have)."""
    path = tmp_path_factory.mktemp("broken") / "boss_user.odcs.yaml"
    doc = yaml.safe_load((DATA_CONTRACTS_DIR / "boss_user.odcs.yaml").read_text(encoding="utf-8"))
    doc["schema"][0]["properties"][0]["logicalType"] = "bigint"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lint_results(broken_contract) -> dict[str, dict]:
    return _lint_in_one_process([*CONTRACT_FILES, broken_contract])


# ------------------------------------------------------------------------------------------ (1) datacontract lint
def test_there_is_one_contract_file_per_interface():
    assert [p.name for p in CONTRACT_FILES] == sorted(f"{n.lower()}{CONTRACT_SUFFIX}" for n in load_spec())


@pytest.mark.parametrize("path", CONTRACT_FILES, ids=lambda p: p.name)
def test_datacontract_lint_passes(path, lint_results):
    result = lint_results[str(path)]
    assert result["code"] == 0, f"datacontract lint {path.name} exited {result['code']}:\n{result['output']}"
    # Not even warnings (unknown fields, rules datacontract could not run).
    assert "Data contract is valid" in result["output"], result["output"]
    assert "v3.2.0" in result["output"], result["output"]


def test_datacontract_lint_rejects_an_invalid_contract(lint_results, broken_contract):
    result = lint_results[str(broken_contract)]
    assert result["code"] == 1, result["output"]
    assert "invalid" in result["output"], result["output"]


def test_datacontract_lint_makes_no_network_calls(lint_results):
    assert lint_results["network"]["network"] == []


def test_the_datacontract_script_itself_lints_a_contract():
    path = DATA_CONTRACTS_DIR / "imei_obs.odcs.yaml"  # the richest one: composite key, pattern, SQL rule
    proc = subprocess.run(
        [str(DATACONTRACT), "lint", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_cli_env(),
        check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "Data contract is valid" in proc.stdout, proc.stdout


# ------------------------------------------------------------------------------------------ (2) equal to the spec
def test_contracts_agree_with_the_specification():
    assert contract_errors(load_contracts(), load_spec()) == []


def test_contracts_come_in_specification_order_and_are_read_once():
    contracts = load_contracts()
    assert list(contracts) == list(load_spec())
    assert load_contracts()["BOSS_USER"] is contracts["BOSS_USER"]  # cached
    assert load_contracts(DATA_CONTRACTS_DIR) == contracts


# ------------------------------------------------------------------------------------------ (3) the check can fail
def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "contracts"
    shutil.copytree(DATA_CONTRACTS_DIR, target)
    return target


def _edit(directory: Path, interface: str, change) -> None:
    path = directory / f"{interface.lower()}{CONTRACT_SUFFIX}"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _props(doc: dict) -> list[dict]:
    return doc["schema"][0]["properties"]


def _prop(doc: dict, name: str) -> dict:
    return next(p for p in _props(doc) if p["name"] == name)


def _drop_field(doc):
    _props(doc)[:] = [p for p in _props(doc) if p["name"] != "cust_name"]


def _flip_nullable(doc):
    _prop(doc, "closed_at")["required"] = True


def _change_enum_value(doc):
    _prop(doc, "fee_type")["enum"][2]["value"] = "3"


def _reorder_fields(doc):
    props = _props(doc)
    props[0], props[1] = props[1], props[0]


def _drop_key(doc):
    for key in ("primaryKey", "primaryKeyPosition"):
        _prop(doc, "imei").pop(key)


def _drop_fallback_event_time(doc):
    doc["schema"][0]["customProperties"][1]["value"] = ["closed_at"]


def _unmark_pii(doc):
    prop = _prop(doc, "other_party")
    prop["classification"] = "internal"
    next(c for c in prop["customProperties"] if c["property"] == "pii")["value"] = False


def _change_type(doc):
    prop = _prop(doc, "user_id")
    prop["logicalTypeOptions"]["format"] = "i32"
    prop["physicalType"] = "int"
    next(c for c in prop["customProperties"] if c["property"] == "specType")["value"] = "int"


def _change_kind(doc):
    doc["schema"][0]["customProperties"][0]["value"] = "snapshot"


def _drop_format(doc):
    prop = _prop(doc, "msisdn")
    prop.pop("logicalTypeOptions")
    prop["customProperties"] = [c for c in prop["customProperties"] if c["property"] != "format"]


MUTATIONS = {
    "drop a field": (
        "BOSS_USER",
        _drop_field,
        ["BOSS_USER.cust_name: field of the spec missing from the contract"],
    ),
    "flip nullable": (
        "CRM_COMPLAINT",
        _flip_nullable,
        ["CRM_COMPLAINT.closed_at: nullable in the spec, required"],
    ),
    "change an enum value": (
        "REF_SERVICE",
        _change_enum_value,
        ["REF_SERVICE.fee_type: values are ['01', '02', '3']"],
    ),
    "reorder fields": ("BOSS_BILL", _reorder_fields, ["BOSS_BILL: fields out of order"]),
    "drop a key field": (
        "IMEI_OBS",
        _drop_key,
        ["IMEI_OBS: key is ['msisdn'] in the contract, ['msisdn', 'imei']"],
    ),
    "drop the event-time fallback": (
        "CRM_COMPLAINT",
        _drop_fallback_event_time,
        ["CRM_COMPLAINT: event_time is"],
    ),
    "unmark pii": ("CDR_VOICE", _unmark_pii, ["CDR_VOICE.other_party: pii is False in the contract, True"]),
    "change a type": ("BOSS_USER", _change_type, ["BOSS_USER.user_id: type is int in the contract, bigint"]),
    "change the kind": ("BOSS_BILL", _change_kind, ["BOSS_BILL: kind is snapshot in the contract, monthly"]),
    "drop an msisdn format": ("VAS_DELIVERY", _drop_format, ["VAS_DELIVERY.msisdn: format is None"]),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_contract_errors_reports_a_mutated_contract(tmp_path, mutation):
    interface, change, expected = MUTATIONS[mutation]
    directory = _copy(tmp_path)
    _edit(directory, interface, change)
    errors = contract_errors(load_contracts(directory), load_spec())
    assert errors, f"{mutation}: no difference reported"
    for text in expected:
        assert any(text in e for e in errors), f"{mutation}: {text!r} not in {errors}"
    assert all(e.startswith(interface) for e in errors), errors  # only the mutated interface is blamed


def test_contract_errors_reports_missing_and_unknown_interfaces(tmp_path):
    directory = _copy(tmp_path)
    (directory / "cdr_sms.odcs.yaml").unlink()
    contracts = load_contracts(directory)
    assert "CDR_SMS" not in contracts
    spec = dict(load_spec())
    del spec["REF_TAC"]
    errors = contract_errors(contracts, spec)
    assert "CDR_SMS: no contract for this interface of the specification" in errors
    assert "REF_TAC: contract for an interface the specification does not have" in errors


@pytest.mark.parametrize(
    ("interface", "change", "message"),
    [
        ("BOSS_USER", lambda d: _prop(d, "msisdn")["customProperties"].pop(0), "specType is missing"),
        (
            "BOSS_USER",
            lambda d: _prop(d, "msisdn").update(classification="internal"),
            "does not agree with pii",
        ),
        (
            "BOSS_USER",
            lambda d: _prop(d, "join_date").update(logicalType="string"),
            "does not fit specType date",
        ),
        (
            "IMEI_OBS",
            lambda d: _prop(d, "imei")["logicalTypeOptions"].pop("pattern"),
            "does not agree with format",
        ),
        ("REF_PLAN", lambda d: d["schema"].append(dict(d["schema"][0])), "exactly one object"),
        (
            "REF_SERVICE",
            lambda d: _prop(d, "fee_type")["enum"][0].update(value=1),
            "must be \\(quoted\\) strings",
        ),
    ],
)
def test_loader_rejects_a_contract_outside_its_layout(tmp_path, interface, change, message):
    directory = _copy(tmp_path)
    _edit(directory, interface, change)
    with pytest.raises(ContractError, match=message):
        load_contracts(directory)


# ------------------------------------------------------------------------------------------ (4) generated, not typed
def test_files_on_disk_are_exactly_what_the_generator_writes(tmp_path):
    written = write_contracts(tmp_path)
    assert [p.name for p in written] == [f"{n.lower()}{CONTRACT_SUFFIX}" for n in load_spec()]
    generated = {p.name: p.read_bytes() for p in tmp_path.glob(f"*{CONTRACT_SUFFIX}")}
    on_disk = {p.name: p.read_bytes() for p in DATA_CONTRACTS_DIR.glob(f"*{CONTRACT_SUFFIX}")}
    assert sorted(on_disk) == sorted(generated)
    stale = [name for name in generated if on_disk[name] != generated[name]]
    assert not stale, f"{stale} differ from the generator's output: run `python -m vasmart.contracts_build`"


def test_generator_is_deterministic_and_removes_stale_contracts(tmp_path):
    (tmp_path / "old_interface.odcs.yaml").write_text("kind: DataContract\n", encoding="utf-8")
    first = {p.name: p.read_bytes() for p in write_contracts(tmp_path)}
    second = {p.name: p.read_bytes() for p in write_contracts(tmp_path)}
    assert first == second
    assert not (tmp_path / "old_interface.odcs.yaml").exists()


# ------------------------------------------------------------------------------------------ (5) what was parsed
MSISDN_FIELDS = {
    ("BOSS_USER", "msisdn"),
    ("BOSS_VAS_ORDER", "msisdn"),
    ("BOSS_BILL", "msisdn"),
    ("BASS_USAGE", "msisdn"),
    ("IMEI_OBS", "msisdn"),
    ("CDR_VOICE", "msisdn"),
    ("CDR_SMS", "msisdn"),
    ("CDR_GPRS", "msisdn"),
    ("VAS_DELIVERY", "msisdn"),
    ("CRM_COMPLAINT", "msisdn"),
}


def test_identity_formats():
    formats = {(c.interface, f.name): f.format for c in load_contracts().values() for f in c.fields}
    assert {k for k, v in formats.items() if v == "msisdn"} == MSISDN_FIELDS
    assert {k for k, v in formats.items() if v == "imei"} == {("IMEI_OBS", "imei")}
    assert {v for v in formats.values()} == {"msisdn", "imei", None}
    assert formats[("CDR_VOICE", "other_party")] is None
    assert formats[("CDR_SMS", "other_party")] is None


def test_event_time_key_kind_and_typed_values():
    contracts = load_contracts()
    assert contracts["CRM_COMPLAINT"].event_time == ("closed_at", "created_at")
    assert contracts["BOSS_VAS_ORDER"].event_time == ("op_time",)
    assert contracts["IMEI_OBS"].event_time == ("last_seen",)
    assert all(c.event_time == () for c in contracts.values() if c.kind != "events")
    assert all(len(c.event_time) >= 1 for c in contracts.values() if c.kind == "events")
    assert contracts["BOSS_BILL"].key == ("bill_month", "user_id")
    assert contracts["IMEI_OBS"].key == ("msisdn", "imei")
    assert contracts["CDR_GPRS"].system == "MEDIATION" and contracts["BASS_USAGE"].kind == "monthly"
    assert {c.version for c in contracts.values()} == {"1.0.0"}
    service = {f.name: f for f in contracts["REF_SERVICE"].fields}
    assert service["fee_type"].values == ("01", "02", "03")  # strings, leading zeros kept
    assert service["is_sticky"].values == ("0", "1") and service["is_sticky"].spec_type == "int"
    assert service["offline_date"].required is False and service["online_date"].required is True
    user = {f.name: f for f in contracts["BOSS_USER"].fields}
    assert user["cust_name"].pii and not user["cust_name"].required
    assert user["user_id"].spec_type == "bigint" and user["user_id"].description
    assert user["gender"].values == ("M", "F") and not user["gender"].required
