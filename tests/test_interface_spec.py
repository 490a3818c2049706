"""The specification shipped with the package is the source systems' contract, unchanged."""

from pathlib import Path

import yaml

from vasmart.interface_spec import EVENTS, MONTHLY, SNAPSHOT, load_spec

SHARED_SPEC = Path(__file__).resolve().parents[2] / "shared" / "interface-spec" / "interfaces.yaml"


def test_packaged_spec_is_identical_to_the_source_systems_contract():
    assert SHARED_SPEC.exists(), f"the contract is expected beside the repository at {SHARED_SPEC}"
    packaged = Path(__file__).resolve().parents[1] / "vasmart" / "resources" / "interfaces.yaml"
    assert packaged.read_bytes() == SHARED_SPEC.read_bytes()


def test_loaded_spec_keeps_kinds_fields_and_order():
    raw = yaml.safe_load(SHARED_SPEC.read_text(encoding="utf-8"))["interfaces"]
    spec = load_spec()
    assert list(spec) == list(raw)
    assert {i.kind for i in spec.values()} == {SNAPSHOT, EVENTS, MONTHLY}
    for name, body in raw.items():
        assert spec[name].field_names == [f["name"] for f in body["fields"]], name
        assert [f.nullable for f in spec[name].fields] == [bool(f.get("nullable")) for f in body["fields"]], name
        assert [f.pii for f in spec[name].fields] == [bool(f.get("pii")) for f in body["fields"]], name
