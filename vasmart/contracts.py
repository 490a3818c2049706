"""Data contracts: the Open Data Contract Standard (v3) files in data_contracts/, read into typed objects.

The loader's parsing and validation are driven by these objects; nothing else describes the interfaces'
fields to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from vasmart.interface_spec import Interface, load_spec


@dataclass(frozen=True)
class ContractField:
    """One field of an interface record, as its contract states it."""

    name: str
    spec_type: str  # string | int | bigint | date | month | timestamp (the interface spec's types)
    required: bool  # False only where the spec marks the field nullable
    pii: bool
    values: tuple[str, ...] | None  # the valid values, when the spec lists them
    format: str | None  # "msisdn" or "imei" for identities checked beyond their type, else None
    description: str = ""


@dataclass(frozen=True)
class Contract:
    """One interface's contract: kind, key, event time and ordered fields."""

    interface: str
    system: str
    kind: str  # snapshot | events | monthly
    key: tuple[str, ...]
    event_time: tuple[str, ...]  # fields giving the event time, first non-null wins; () when none
    fields: tuple[ContractField, ...]
    version: str

    @property
    def field_names(self) -> list[str]:
        """Field names in record order."""
        return [f.name for f in self.fields]


# ---------------------------------------------------------------------------------------------------------------
# How the ODCS v3 files encode what the loader needs (contracts_build writes exactly this; the loader requires it).
#
# contract (top level)      customProperties: sourceSystem (BOSS, BASS, VGOP, DM, CRM, MEDIATION),
#                           interfaceSpecVersion; team.name = the source system; version = Contract.version
# schema[0] (the interface) physicalName = interface name, name = its lower case, physicalType file;
#                           customProperties: interfaceKind (snapshot|events|monthly), eventTime (list of fields,
#                           first non-null wins; absent for snapshot and monthly interfaces)
# property (a field)        in record order; customProperties: specType (the spec's type), pii (bool), format
#                           (msisdn|imei, only where set); required (false only where the spec says nullable);
#                           classification restricted (pii) or internal; enum [{value: "..."}] (the spec's values,
#                           always quoted strings as on the wire);
#                           primaryKey/primaryKeyPosition (the spec's key); logicalType/logicalTypeOptions/
#                           physicalType agree with specType (LOGICAL_TYPES), string identities carry a pattern.
# ---------------------------------------------------------------------------------------------------------------

DATA_CONTRACTS_DIR = Path(__file__).resolve().parents[1] / "data_contracts"
CONTRACT_SUFFIX = ".odcs.yaml"

CP_SOURCE_SYSTEM = "sourceSystem"
CP_SPEC_VERSION = "interfaceSpecVersion"
CP_KIND = "interfaceKind"
CP_EVENT_TIME = "eventTime"
CP_SPEC_TYPE = "specType"
CP_PII = "pii"
CP_FORMAT = "format"

PII_CLASSIFICATION = "restricted"
NON_PII_CLASSIFICATION = "internal"

# The spec's types as ODCS logicalType and logicalTypeOptions (timestamps are local Asia/Shanghai time).
LOGICAL_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    "string": ("string", {}),
    "int": ("integer", {"format": "i32"}),
    "bigint": ("integer", {"format": "i64"}),
    "date": ("date", {"format": "yyyyMMdd"}),
    "month": ("date", {"format": "yyyyMM"}),
    "timestamp": (
        "timestamp",
        {"format": "yyyyMMddHHmmss", "timezone": False, "defaultTimezone": "Asia/Shanghai"},
    ),
}

# Identities checked beyond their type (spec README §2). The spec names the subscriber's own number `msisdn` in
# every interface that carries it; `other_party` may be any number of any operator and has no format.
IDENTITY_FORMATS: dict[str, str] = {"msisdn": "msisdn", "imei": "imei"}
FORMAT_PATTERNS: dict[str, str] = {
    "msisdn": r"^1[0-9]{10}$",  # 11 digits starting with 1
    "imei": r"^([0-9]{15}|[0-9]{16})$",  # IMEI (15, Luhn check digit) or IMEISV (16)
}
SPEC_KINDS = ("snapshot", "events", "monthly")


class ContractError(ValueError):
    """A contract file that does not follow the layout the loader reads."""


def identity_format(field_name: str) -> str | None:
    """The format ("msisdn" or "imei") a field of this name must follow, or None."""
    return IDENTITY_FORMATS.get(field_name)


def spec_event_time(event_time: str | None) -> tuple[str, ...]:
    """The spec's event_time ("op_time", "closed_at or created_at" or none) as fields, first non-null wins."""
    if not event_time:
        return ()
    return tuple(part.strip() for part in event_time.split(" or "))


def _custom(node: dict, where: str) -> dict[str, Any]:
    entries = node.get("customProperties") or []
    if not isinstance(entries, list):
        raise ContractError(f"{where}: customProperties must be a list")
    out: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict) or "property" not in entry:
            raise ContractError(f"{where}: customProperties entries need a property and a value")
        if entry["property"] in out:
            raise ContractError(f"{where}: customProperty {entry['property']!r} given twice")
        out[entry["property"]] = entry.get("value")
    return out


def _need(mapping: dict, key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in mapping or mapping[key] is None:
        raise ContractError(f"{where}: {key} is missing")
    value = mapping[key]
    if not isinstance(value, kind) or (kind is str and not value):
        raise ContractError(f"{where}: {key} has the wrong type ({value!r})")
    return value


def _field(prop: dict, where: str) -> tuple[ContractField, int | None]:
    if not isinstance(prop, dict):
        raise ContractError(f"{where}: a property must be a mapping")
    name = _need(prop, "name", where)
    where = f"{where} {name}"
    custom = _custom(prop, where)
    spec_type = _need(custom, CP_SPEC_TYPE, f"{where} customProperties")
    if spec_type not in LOGICAL_TYPES:
        raise ContractError(
            f"{where}: unknown specType {spec_type!r} (expected one of {', '.join(LOGICAL_TYPES)})"
        )
    logical, options = LOGICAL_TYPES[spec_type]
    if prop.get("logicalType") != logical:
        raise ContractError(
            f"{where}: logicalType {prop.get('logicalType')!r} does not fit specType {spec_type}"
        )
    if prop.get("physicalType", spec_type) != spec_type:
        raise ContractError(f"{where}: physicalType {prop.get('physicalType')!r} is not specType {spec_type}")
    actual_options = dict(prop.get("logicalTypeOptions") or {})
    pattern = actual_options.pop("pattern", None)
    if actual_options != options:
        raise ContractError(f"{where}: logicalTypeOptions {actual_options} do not fit specType {spec_type}")

    pii = _need(custom, CP_PII, f"{where} customProperties", bool)
    classification = prop.get("classification")
    if classification != (PII_CLASSIFICATION if pii else NON_PII_CLASSIFICATION):
        raise ContractError(f"{where}: classification {classification!r} does not agree with pii: {pii}")
    required = prop.get("required", False)  # ODCS default
    if not isinstance(required, bool):
        raise ContractError(f"{where}: required must be true or false")

    fmt = custom.get(CP_FORMAT)
    if fmt is not None and fmt not in FORMAT_PATTERNS:
        raise ContractError(f"{where}: unknown format {fmt!r}")
    if pattern != (FORMAT_PATTERNS[fmt] if fmt else None):
        raise ContractError(f"{where}: pattern {pattern!r} does not agree with format {fmt!r}")

    values: tuple[str, ...] | None = None
    if prop.get("enum") is not None:
        entries = prop["enum"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "value" in e for e in entries):
            raise ContractError(f"{where}: enum must be a list of {{value: ...}} entries")
        if not all(isinstance(e["value"], str) for e in entries):
            # Quoted in YAML: an unquoted 01 would silently read as the integer 1.
            raise ContractError(f"{where}: enum values must be (quoted) strings, as delivered")
        values = tuple(e["value"] for e in entries)

    position = None
    if prop.get("primaryKey"):
        position = prop.get("primaryKeyPosition")
        if not isinstance(position, int) or isinstance(position, bool) or position < 1:
            raise ContractError(f"{where}: a primaryKey property needs a primaryKeyPosition from 1")
    field = ContractField(
        name=name,
        spec_type=spec_type,
        required=required,
        pii=pii,
        values=values,
        format=fmt,
        description=prop.get("description") or "",
    )
    return field, position


def parse_contract(doc: Any, source: str = "<contract>") -> Contract:
    """One ODCS v3 document (as loaded from YAML) as a Contract; ContractError when it is not in our layout."""
    if not isinstance(doc, dict) or doc.get("kind") != "DataContract":
        raise ContractError(f"{source}: not an ODCS data contract (kind DataContract)")
    if not str(doc.get("apiVersion", "")).startswith("v3."):
        raise ContractError(f"{source}: apiVersion {doc.get('apiVersion')!r} is not ODCS v3")
    custom = _custom(doc, source)
    system = _need(custom, CP_SOURCE_SYSTEM, f"{source} customProperties")
    team = doc.get("team")
    if not isinstance(team, dict) or team.get("name") != system:
        raise ContractError(f"{source}: team.name must be the source system {system}")
    version = _need(doc, "version", source)

    schema = doc.get("schema")
    if not isinstance(schema, list) or len(schema) != 1 or not isinstance(schema[0], dict):
        raise ContractError(f"{source}: schema must hold exactly one object (the interface)")
    obj = schema[0]
    interface = _need(obj, "physicalName", f"{source} schema[0]")
    where = f"{source} {interface}"
    if obj.get("name") != interface.lower() or doc.get("name") != interface:
        raise ContractError(
            f"{where}: contract name and object name must be {interface} and {interface.lower()}"
        )
    obj_custom = _custom(obj, where)
    kind = _need(obj_custom, CP_KIND, f"{where} customProperties")
    if kind not in SPEC_KINDS:
        raise ContractError(f"{where}: unknown interfaceKind {kind!r}")
    event_time = obj_custom.get(CP_EVENT_TIME) or []
    if not isinstance(event_time, list) or not all(isinstance(n, str) for n in event_time):
        raise ContractError(f"{where}: eventTime must be a list of field names")

    props = obj.get("properties")
    if not isinstance(props, list) or not props:
        raise ContractError(f"{where}: the object has no properties")
    fields, key_positions = [], []
    for prop in props:
        field, position = _field(prop, where)
        fields.append(field)
        if position is not None:
            key_positions.append((position, field.name))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ContractError(f"{where}: a property name appears twice")
    key_positions.sort()
    if [p for p, _ in key_positions] != list(range(1, len(key_positions) + 1)):
        raise ContractError(f"{where}: primaryKeyPosition must number the key fields 1, 2, ...")
    unknown = [n for n in event_time if n not in names]
    if unknown:
        raise ContractError(f"{where}: eventTime names unknown fields {unknown}")
    return Contract(
        interface=interface,
        system=system,
        kind=kind,
        key=tuple(name for _, name in key_positions),
        event_time=tuple(event_time),
        fields=tuple(fields),
        version=str(version),
    )


def _read(directory: Path) -> dict[str, Contract]:
    if not directory.is_dir():
        raise ContractError(f"no data contract directory at {directory}")
    found: dict[str, Contract] = {}
    for path in sorted(directory.glob(f"*{CONTRACT_SUFFIX}")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ContractError(f"{path.name}: not valid YAML: {e}") from None
        contract = parse_contract(doc, path.name)
        if path.name != contract.interface.lower() + CONTRACT_SUFFIX:
            raise ContractError(
                f"{path.name}: holds {contract.interface}; expected {contract.interface.lower()}{CONTRACT_SUFFIX}"
            )
        found[contract.interface] = contract
    order = {name: i for i, name in enumerate(load_spec())}
    return {name: found[name] for name in sorted(found, key=lambda n: (order.get(n, len(order)), n))}


@lru_cache(maxsize=1)
def _default_contracts() -> dict[str, Contract]:
    return _read(DATA_CONTRACTS_DIR)


def load_contracts(directory: Path | None = None) -> dict[str, Contract]:
    """Every contract in `directory` (default: the repository's data_contracts/), keyed by interface name in
    specification order (interfaces the specification does not know come last). Reads the ODCS files only;
    raises ContractError for a file that does not follow the layout above. The default directory is read once."""
    if directory is None:
        return dict(_default_contracts())
    return _read(Path(directory))


def contract_errors(contracts: dict[str, Contract], spec: dict[str, Interface]) -> list[str]:
    """Where the contracts differ from the interface specification, one readable line per difference."""
    errors: list[str] = []
    for name in spec:
        if name not in contracts:
            errors.append(f"{name}: no contract for this interface of the specification")
    for name in contracts:
        if name not in spec:
            errors.append(f"{name}: contract for an interface the specification does not have")
    for name, itf in spec.items():
        contract = contracts.get(name)
        if contract is None:
            continue
        if contract.interface != name:
            errors.append(f"{name}: the contract names its interface {contract.interface}")
        if contract.system != itf.system:
            errors.append(f"{name}: system is {contract.system} in the contract, {itf.system} in the spec")
        if contract.kind != itf.kind:
            errors.append(f"{name}: kind is {contract.kind} in the contract, {itf.kind} in the spec")
        if contract.key != itf.key:
            errors.append(f"{name}: key is {list(contract.key)} in the contract, {list(itf.key)} in the spec")
        expected_event_time = spec_event_time(itf.event_time)
        if contract.event_time != expected_event_time:
            errors.append(
                f"{name}: event_time is {list(contract.event_time)} in the contract, "
                f"{list(expected_event_time)} in the spec"
            )
        errors.extend(_field_errors(name, contract, itf))
    return errors


def _field_errors(name: str, contract: Contract, itf: Interface) -> list[str]:
    errors: list[str] = []
    ours = {f.name: f for f in contract.fields}
    theirs = {f.name: f for f in itf.fields}
    for f in itf.fields:
        if f.name not in ours:
            errors.append(f"{name}.{f.name}: field of the spec missing from the contract")
    for f in contract.fields:
        if f.name not in theirs:
            errors.append(f"{name}.{f.name}: field in the contract that the spec does not have")
    common_spec = [n for n in itf.field_names if n in ours]
    common_contract = [n for n in contract.field_names if n in theirs]
    if common_spec != common_contract:
        errors.append(f"{name}: fields out of order: contract {common_contract}, spec {common_spec}")
    for n in common_spec:
        mine, spec_field = ours[n], theirs[n]
        where = f"{name}.{n}"
        if mine.spec_type != spec_field.type:
            errors.append(f"{where}: type is {mine.spec_type} in the contract, {spec_field.type} in the spec")
        if mine.required == spec_field.nullable:
            errors.append(
                f"{where}: {'nullable' if spec_field.nullable else 'not nullable'} in the spec, "
                f"{'required' if mine.required else 'not required'} in the contract"
            )
        if mine.pii != spec_field.pii:
            errors.append(f"{where}: pii is {mine.pii} in the contract, {spec_field.pii} in the spec")
        if mine.values != spec_field.values:
            errors.append(
                f"{where}: values are {list(mine.values) if mine.values is not None else None} in the contract, "
                f"{list(spec_field.values) if spec_field.values is not None else None} in the spec"
            )
        expected_format = identity_format(n)
        if mine.format != expected_format:
            errors.append(
                f"{where}: format is {mine.format} in the contract, {expected_format} by spec README §2"
            )
    return errors
