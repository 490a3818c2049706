"""Which operator a Chinese phone number belongs to, as a prefix table that SQL can join on.

One number is classified by libphonenumber (the `phonenumbers` package): parsed as a Chinese national number,
a valid mobile number takes its operator from libphonenumber's carrier data (CMCC, CUCC, CTCC, CBN), a valid
fixed line is FIXED_LINE, and anything else (invalid, an SP access number 106..., a number abroad, a shape CDRs
do not write national numbers in) is UNKNOWN.

Calling phonenumbers for every call record is too slow at scale (millions of CDRs a day), so
`derive_prefixes()` turns that classification into disjoint prefix ranges, per national number shape (mobile:
11 digits from '1'; fixed line: 10 to 12 digits from the trunk prefix '0'): it walks the decimal prefix tree,
classifies sample numbers under each prefix, and stops where they all agree. The known ranges (a few hundred
rows) are the dbt seed `number_prefix_operators.csv`; a number that no range covers is UNKNOWN.

    python -m vasmart.reference.number_operators           # rewrite the seed
    python -m vasmart.reference.number_operators --check   # exit 1 if the seed is not what phonenumbers gives

The data is libphonenumber's (Apache License 2.0), through the `phonenumbers` version in uv.lock.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import phonenumbers
import typer
from phonenumbers import PhoneNumberType, carrier

SEED_PATH = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "number_prefix_operators.csv"
# The SQL expands every range to this many digits and joins on them; a range needing more is an error here.
MAX_PREFIX_DIGITS = 6
# The shapes of national numbers in CDRs: (first digit, lengths): mobiles, and numbers dialled with the trunk
# prefix 0 (fixed lines with their area code, or mobiles). Numbers of other shapes are UNKNOWN.
SHAPES = (("1", (11,)), ("0", (10, 11, 12)))
OPERATOR_CODES = {
    "China Mobile": "CMCC",
    "China Unicom": "CUCC",
    "China Telecom": "CTCC",
    "China Broadnet": "CBN",
}
FIXED_LINE = "FIXED_LINE"
UNKNOWN = "UNKNOWN"
COLUMNS = ("number_length", "number_prefix", "line_type", "operator_code", "operator_name")


@dataclass(frozen=True)
class PrefixRange:
    """Every number of `number_length` digits starting with `number_prefix` classifies alike."""

    number_length: int
    number_prefix: str
    line_type: str  # MOBILE or FIXED_LINE
    operator_code: str | None  # CMCC, CUCC, CTCC, CBN; None for fixed lines
    operator_name: str | None

    @property
    def number_class(self) -> str:
        """The class a number of the range gets: its operator code, or FIXED_LINE."""
        return self.operator_code or FIXED_LINE


def _carrier_class(name: str) -> str:
    if not name:
        return UNKNOWN  # a valid mobile range libphonenumber assigns to no carrier
    try:
        return OPERATOR_CODES[name]
    except KeyError:
        raise ValueError(f"phonenumbers names an operator this table does not know: {name!r}") from None


def _classify_parsed(parsed: phonenumbers.PhoneNumber) -> str:
    kind = phonenumbers.number_type(parsed)
    if kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return _carrier_class(carrier.name_for_number(parsed, "en"))
    if kind == PhoneNumberType.FIXED_LINE:
        return FIXED_LINE
    return UNKNOWN


def classify_number(number: str) -> str:
    """The class of one number as a CDR writes it: CMCC, CUCC, CTCC, CBN, FIXED_LINE or UNKNOWN.

    libphonenumber's view of the number parsed as Chinese, for the shapes in which CDRs write national numbers
    (SHAPES: 11 digits from 1; 10 to 12 digits from the trunk prefix 0). Any other shape is UNKNOWN: a number
    with the international prefix 00 (abroad, or a domestic one re-dialled through it), an SP access number
    (106...), a short or local number, or one with anything but digits.
    """
    if not in_covered_shape(number) or number.startswith("00"):
        return UNKNOWN
    try:
        parsed = phonenumbers.parse(number, "CN")
    except phonenumbers.NumberParseException:
        return UNKNOWN
    if parsed.country_code != 86:
        return UNKNOWN
    return _classify_parsed(parsed)


def in_covered_shape(number: str) -> bool:
    """The number is all digits, of a first digit and a length the table covers (SHAPES)."""
    return number.isdigit() and any(number.startswith(first) and len(number) in lengths for first, lengths in SHAPES)


def _classify_national(number: str) -> str:
    """classify_number() without parsing: the trunk prefix 0 dropped, the rest taken as the national number."""
    if number.startswith("00"):
        return UNKNOWN
    national = number.removeprefix("0")
    return _classify_parsed(phonenumbers.PhoneNumber(country_code=86, national_number=int(national)))


def _area_code_hints() -> frozenset[str]:
    """Prefixes the walk always splits: trunk 0 + the first three digits of every Chinese geographic range."""
    from phonenumbers.geodata import GEOCODE_DATA

    return frozenset(("0" + key[2:])[:4] for key in GEOCODE_DATA if key.startswith("86") and key[2:3] != "1"
                     or key.startswith("8610"))


def _samples(prefix: str, length: int) -> list[str]:
    """Numbers of `length` digits under `prefix`: every value of the next two digits (the rest pseudo-random),
    every repeated digit, counting up and down."""
    rest = length - len(prefix)
    tails = {digit * rest for digit in "0123456789"}
    tails |= {("0123456789" * 2)[:rest], ("9876543210" * 2)[:rest]}
    head = min(rest, 2)
    for value in range(10**head):
        digest = hashlib.sha256(f"{prefix}/{length}/{value}".encode()).digest()
        tails.add(f"{value:0{head}d}" + "".join(str(b % 10) for b in digest[: rest - head]))
    return sorted(prefix + tail for tail in tails)


def _walk(prefix: str, length: int, hints: frozenset[str], out: list[tuple[str, int, str]]) -> None:
    must_split = any(hint.startswith(prefix) and hint != prefix for hint in hints)
    if not must_split:
        classes = {_classify_national(number) for number in _samples(prefix, length)}
        if len(classes) == 1:
            out.append((prefix, length, classes.pop()))
            return
        if len(prefix) >= MAX_PREFIX_DIGITS:
            raise ValueError(f"numbers of {length} digits under {prefix} still differ ({sorted(classes)}) at "
                             f"{MAX_PREFIX_DIGITS} digits: raise MAX_PREFIX_DIGITS here and in the SQL expansion")
    for digit in "0123456789":
        _walk(prefix + digit, length, hints, out)


def _operator_names() -> dict[str, str]:
    return {code: name for name, code in OPERATOR_CODES.items()}


def derive_prefixes() -> list[PrefixRange]:
    """The disjoint prefix ranges of every known class, sorted by length and prefix (UNKNOWN ranges left out)."""
    leaves: list[tuple[str, int, str]] = []
    hints = _area_code_hints()
    for first_digit, lengths in SHAPES:
        for length in lengths:
            _walk(first_digit, length, hints, leaves)
    names = _operator_names()
    ranges = [
        PrefixRange(length, prefix, "FIXED_LINE" if cls == FIXED_LINE else "MOBILE",
                    None if cls == FIXED_LINE else cls, None if cls == FIXED_LINE else names[cls])
        for prefix, length, cls in leaves
        if cls != UNKNOWN
    ]
    return sorted(ranges, key=lambda r: (r.number_length, r.number_prefix))


def classify_with_ranges(number: str, ranges: list[PrefixRange]) -> str:
    """The class of `number` by the prefix table, as the SQL join gives it (UNKNOWN when no range covers it)."""
    if not number.isdigit():
        return UNKNOWN
    for r in ranges:
        if len(number) == r.number_length and number.startswith(r.number_prefix):
            return r.number_class
    return UNKNOWN


def render_csv(ranges: list[PrefixRange]) -> str:
    """The seed's text: a header and one line per range (empty fields for a fixed line's operator)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in ranges:
        writer.writerow([r.number_length, r.number_prefix, r.line_type, r.operator_code or "", r.operator_name or ""])
    return buffer.getvalue()


def read_seed(path: Path = SEED_PATH) -> list[PrefixRange]:
    """The prefix ranges as written in the seed."""
    with path.open(newline="", encoding="utf-8") as f:
        return [PrefixRange(int(row["number_length"]), row["number_prefix"], row["line_type"],
                            row["operator_code"] or None, row["operator_name"] or None)
                for row in csv.DictReader(f)]


def main(
    out: Annotated[Path, typer.Option(help="Where to write the seed.")] = SEED_PATH,
    check: Annotated[bool, typer.Option(help="Only compare: exit 1 if the file differs from a fresh derivation.")]
    = False,
) -> None:
    """Derive the number-prefix -> operator table from phonenumbers and write it as the dbt seed."""
    text = render_csv(derive_prefixes())
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else None
        if current != text:
            typer.echo(f"error: {out} differs from what phonenumbers {phonenumbers.__version__} gives; "
                       "rerun python -m vasmart.reference.number_operators", err=True)
            raise typer.Exit(code=1)
        typer.echo(f"{out}: up to date ({text.count(chr(10)) - 1} ranges)")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}: {text.count(chr(10)) - 1} ranges from phonenumbers {phonenumbers.__version__}")


if __name__ == "__main__":
    typer.run(main)
