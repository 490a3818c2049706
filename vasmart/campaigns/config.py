"""Campaign definitions: reviewed YAML files, one per campaign, validated on load with one-line errors.

A definition says what a campaign wants (goal), whom it may target (an eligibility rule and its
parameters), what it offers and through which channel, how many it picks (top N and/or a minimum score),
the holdout share, the contact cap, the statuses it may reach, its validity and how its response is
measured. What it cannot say is anything about do-not-disturb users: they are suppressed by every run and
checked again before a list leaves the warehouse, and an unknown key (such as a switch for that) is an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFINITIONS_DIR = Path(__file__).parent / "definitions"

PURPOSES = ("promotion", "service", "control")
CHANNELS = ("SMS", "MMS", "WAP", "OUTBOUND_CALL", "OCS")
STATUSES = ("NORMAL", "SUSPENDED")
CONVERSIONS = ("stable_vas_order", "plan_migration", "arrears_paid", "none")
MATCHES = ("service", "product_line")

# Eligibility rules: their parameters (type, default) and what they offer.
RULES: dict[str, dict[str, tuple[type, Any]]] = {
    "newspaper_propensity": {"require_mms": (bool, True)},
    "handset_upgrade": {"lookback_days": (int, 30)},
    "gprs_overflow": {"min_overflow_mb": (float, 5.0)},
    "mms_recapture": {"lookback_days": (int, 90), "min_terminal_failures": (int, 3)},
    "credit_control": {},  # grades D/E enter, months paid on time exit: models_ml.credit_control
    "arrears_collection": {"min_arrears_fen": (int, 1000), "min_overdue_days": (int, 1)},
}
OFFER_KINDS = {
    "newspaper_propensity": "vas_service",
    "handset_upgrade": "vas_service",
    "gprs_overflow": "plan",
    "mms_recapture": "vas_service",
    "credit_control": "credit_control",
    "arrears_collection": "arrears",
}

_TOP_KEYS = {"name", "title", "goal", "purpose", "priority", "valid_from", "valid_to", "eligibility", "target",
             "channel", "holdout", "contact_cap", "statuses", "response"}
_REQUIRED = {"title", "goal", "purpose", "priority", "valid_from", "valid_to", "eligibility", "channel", "response"}


class CampaignConfigError(ValueError):
    """A definition file that does not follow the schema (the message names the file and the field)."""


@dataclass(frozen=True)
class ContactCap:
    """At most `max_contacts` campaign contacts per user in any `window_days` days, across all campaigns."""

    max_contacts: int = 2
    window_days: int = 30


@dataclass(frozen=True)
class CampaignDefinition:
    """One campaign, as reviewed in its YAML file."""

    name: str
    title: str
    goal: str
    purpose: str
    priority: int
    valid_from: dt.date
    valid_to: dt.date
    rule: str
    params: dict[str, Any]
    top_n: int | None
    min_score: float | None
    channel_prefer: tuple[str, ...]
    channel_default: str
    holdout_share: float
    score_bands: int
    contact_cap: ContactCap | None  # None: the list contacts nobody (a control list)
    statuses: tuple[str, ...]
    conversion: str
    conversion_match: str | None
    response_window_days: int
    path: Path = field(compare=False)
    sha256: str = field(compare=False)

    @property
    def offer_kind(self) -> str:
        """vas_service, plan, arrears or credit_control."""
        return OFFER_KINDS[self.rule]

    @property
    def contacts_users(self) -> bool:
        """True when the list is sent to the users (it counts toward and obeys the contact cap)."""
        return self.contact_cap is not None

    def is_valid_on(self, day: dt.date) -> bool:
        """True when the campaign may run on that day."""
        return self.valid_from <= day <= self.valid_to

    def criteria(self) -> dict[str, Any]:
        """The definition as recorded with every run and export manifest (JSON-ready)."""
        return {
            "name": self.name, "title": self.title, "goal": self.goal, "purpose": self.purpose,
            "priority": self.priority, "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat(), "eligibility": {"rule": self.rule, **self.params},
            "target": {"top_n": self.top_n, "min_score": self.min_score},
            "channel": {"prefer": list(self.channel_prefer), "default": self.channel_default},
            "holdout": {"share": self.holdout_share, "score_bands": self.score_bands},
            "contact_cap": None if self.contact_cap is None else {
                "max_contacts": self.contact_cap.max_contacts, "window_days": self.contact_cap.window_days},
            "statuses": list(self.statuses),
            "response": {"conversion": self.conversion, "match": self.conversion_match,
                         "window_days": self.response_window_days},
            "always_suppressed": ["do_not_disturb", "cancelled"],
            "definition_sha256": self.sha256,
        }


class _Reader:
    """Typed access to one mapping of a definition, with errors naming the file and the field."""

    def __init__(self, file: str, where: str, data: Any, allowed: set[str]):
        self.file, self.where = file, where
        if not isinstance(data, dict):
            raise self.error(f"must be a mapping, not {type(data).__name__}")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise self.error(f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        self.data = data

    def error(self, message: str, key: str | None = None) -> CampaignConfigError:
        place = ".".join(p for p in (self.where, key) if p)
        return CampaignConfigError(f"{self.file}: {place + ': ' if place else ''}{message}")

    def get(self, key: str, kind: type, default: Any = None, required: bool = False) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.error("is required", key)
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is dt.date and isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                raise self.error(f"{value!r} is not a date (YYYY-MM-DD)", key) from None
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise self.error(f"must be {kind.__name__}, not {type(value).__name__} ({value!r})", key)
        return value

    def choice(self, key: str, options: tuple[str, ...], default: str | None = None, required: bool = False) -> str:
        value = self.get(key, str, default, required)
        if value is not None and value not in options:
            raise self.error(f"{value!r} is not one of {', '.join(options)}", key)
        return value


def parse_definition(path: Path) -> CampaignDefinition:
    """Read and validate one definition file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CampaignConfigError(f"{path.name}: not valid YAML: {str(exc).splitlines()[0]}") from None
    top = _Reader(path.name, "", data, _TOP_KEYS)
    for key in sorted(_REQUIRED):
        top.get(key, object, required=True)
    name = top.get("name", str, path.stem)
    if name != path.stem:
        raise top.error(f"{name!r} differs from the file name {path.stem!r}", "name")
    purpose = top.choice("purpose", PURPOSES, required=True)
    valid_from = top.get("valid_from", dt.date, required=True)
    valid_to = top.get("valid_to", dt.date, required=True)
    if valid_to < valid_from:
        raise top.error(f"{valid_to} is before valid_from {valid_from}", "valid_to")

    eligibility = _Reader(path.name, "eligibility", data["eligibility"], {"rule", *{
        p for params in RULES.values() for p in params}})
    rule = eligibility.choice("rule", tuple(RULES), required=True)
    wrong = sorted(set(eligibility.data) - {"rule"} - set(RULES[rule]))
    if wrong:
        raise eligibility.error(f"rule {rule} takes no parameter {wrong[0]!r} (it takes: "
                                f"{', '.join(RULES[rule]) or 'none'})")
    params = {key: eligibility.get(key, kind, default) for key, (kind, default) in RULES[rule].items()}
    for key, value in params.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise eligibility.error("must not be negative", key)

    target = _Reader(path.name, "target", data.get("target") or {}, {"top_n", "min_score"})
    top_n = target.get("top_n", int)
    if top_n is not None and top_n < 1:
        raise target.error("must be at least 1", "top_n")
    min_score = target.get("min_score", float)

    channel = _Reader(path.name, "channel", data["channel"], {"prefer", "default"})
    prefer = channel.get("prefer", list, [])
    for item in prefer:
        if item not in ("MMS", "WAP"):
            raise channel.error(f"{item!r}: only capabilities of the handset can be preferred (MMS, WAP)", "prefer")
    default_channel = channel.choice("default", CHANNELS, required=True)

    holdout = _Reader(path.name, "holdout", data.get("holdout") or {}, {"share", "score_bands"})
    share = holdout.get("share", float, 0.10)
    if not 0.0 <= share <= 0.5:
        raise holdout.error(f"{share} is outside [0, 0.5]", "share")
    bands = holdout.get("score_bands", int, 10)
    if bands < 1:
        raise holdout.error("must be at least 1", "score_bands")

    if purpose == "control":
        if "contact_cap" in data:
            raise top.error("a control list contacts nobody and has no contact cap", "contact_cap")
        cap = None
    else:
        cap_reader = _Reader(path.name, "contact_cap", data.get("contact_cap") or {}, {"max_contacts", "window_days"})
        cap = ContactCap(cap_reader.get("max_contacts", int, 2), cap_reader.get("window_days", int, 30))
        if cap.max_contacts < 1 or cap.window_days < 1:
            raise cap_reader.error("max_contacts and window_days must be at least 1")

    statuses = top.get("statuses", list, ["NORMAL"])
    for status in statuses:
        if status not in STATUSES:
            raise top.error(f"{status!r}: a campaign may reach NORMAL or SUSPENDED users only", "statuses")

    response = _Reader(path.name, "response", data["response"], {"conversion", "match", "window_days"})
    conversion = response.choice("conversion", CONVERSIONS, required=True)
    match = response.choice("match", MATCHES)
    if conversion == "stable_vas_order" and match is None:
        raise response.error("stable_vas_order needs match: service or product_line", "match")
    window = response.get("window_days", int, 0 if conversion == "none" else None,
                          required=conversion != "none")
    if conversion != "none" and window < 1:
        raise response.error("must be at least 1", "window_days")

    return CampaignDefinition(
        name=name, title=top.get("title", str, required=True), goal=top.get("goal", str, required=True).strip(),
        purpose=purpose, priority=top.get("priority", int, required=True), valid_from=valid_from,
        valid_to=valid_to, rule=rule, params=params, top_n=top_n, min_score=min_score,
        channel_prefer=tuple(prefer), channel_default=default_channel, holdout_share=share, score_bands=bands,
        contact_cap=cap, statuses=tuple(statuses), conversion=conversion, conversion_match=match,
        response_window_days=window, path=path, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def load_definitions(directory: Path | None = None) -> list[CampaignDefinition]:
    """Every definition of a directory (default: the reviewed ones shipped with vasmart), by priority then name."""
    directory = Path(directory) if directory is not None else DEFINITIONS_DIR
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise CampaignConfigError(f"{directory}: no campaign definitions (*.yaml)")
    definitions = [parse_definition(p) for p in files]
    return sorted(definitions, key=lambda d: (d.priority, d.name))
