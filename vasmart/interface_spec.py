"""The source systems' interface specification (a copy of the contract shipped with the package)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

SNAPSHOT, EVENTS, MONTHLY = "snapshot", "events", "monthly"


@dataclass(frozen=True)
class Field:
    """One field of an interface record."""

    name: str
    type: str
    nullable: bool = False
    pii: bool = False
    values: tuple[str, ...] | None = None
    description: str = ""


@dataclass(frozen=True)
class Interface:
    """One delivered interface: its kind, key, event-time field and ordered fields."""

    name: str
    system: str
    kind: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    event_time: str | None = None
    description: str = ""

    @property
    def field_names(self) -> list[str]:
        """Field names in record order."""
        return [f.name for f in self.fields]


def _field(raw: dict) -> Field:
    values = raw.get("values")
    return Field(
        name=raw["name"],
        type=raw["type"],
        nullable=bool(raw.get("nullable", False)),
        pii=bool(raw.get("pii", False)),
        values=tuple(str(v) for v in values) if values is not None else None,
        description=raw.get("description", ""),
    )


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Interface]:
    """Every interface of the specification, keyed by name, in specification order."""
    text = resources.files("vasmart.resources").joinpath("interfaces.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return {
        name: Interface(
            name=name,
            system=body["system"],
            kind=body["kind"],
            key=tuple(body["key"]),
            fields=tuple(_field(f) for f in body["fields"]),
            event_time=body.get("event_time"),
            description=(body.get("description") or "").strip(),
        )
        for name, body in raw["interfaces"].items()
    }


def interfaces_of_kind(kind: str) -> list[str]:
    """Names of the interfaces of one kind (snapshot, events or monthly)."""
    return [name for name, itf in load_spec().items() if itf.kind == kind]
