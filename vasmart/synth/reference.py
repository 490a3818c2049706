"""Reference catalogues for the synthetic source-system generator.

Everything here is offline and deterministic: prefectures and number segments come from the installed
``phonenumbers`` package, handsets from the Osmocom TAC database shipped in ``data/``, and the small
catalogues (plans, services, status codes, name pools) from files in ``data/`` (see ``data/README.md``).
Loads are cached once per process; DataFrames and lists are returned as fresh copies, so callers may
modify them freely.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = [
    "CATEGORIES", "Region", "name_pools", "plan_catalogue", "regions", "service_catalogue", "status_codes",
    "tac_catalogue",
]

_DATA_DIR = Path(__file__).resolve().parent / "data"

CATEGORIES: tuple[str, ...] = (
    "NEWS", "SPORTS", "FINANCE", "ENTERTAINMENT", "MUSIC", "GAMES", "LIFE", "EDUCATION",
)


# ---------------------------------------------------------------------------------------------- regions


@dataclass(frozen=True)
class Region:
    """A prefecture (地州/地市) of the province, with its China Mobile number segments."""

    code: str  # telephone area code, e.g. "0991"
    name_zh: str  # e.g. "乌鲁木齐市" (without the leading "新疆")
    name_en: str  # e.g. "Urumqi"
    is_capital: bool
    weight: float  # share of the province's subscribers; sums to 1 over the regions
    segments: tuple[int, ...]  # sorted 7-digit China Mobile segments, e.g. 1389912


_PROVINCE_ZH = {"xinjiang": "新疆", "新疆": "新疆"}


def regions(province: str = "Xinjiang") -> tuple[Region, ...]:
    """Return the prefectures of ``province`` (only Xinjiang is available), in a fixed order.

    Names and area codes come from ``data/xinjiang_prefectures.csv``. ``segments`` are every 7-digit
    mobile segment that phonenumbers geocodes (in Chinese) to that prefecture and whose carrier, by
    phonenumbers' public carrier API, is China Mobile. ``weight`` is the 2010 census population times an
    assumed mobile-penetration factor (cities higher, rural south lower), normalised to sum to 1; the
    capital Urumqi gets about 21%. Raises ValueError for any other province. The first call imports
    phonenumbers' geocoding data (about 3 s); the result is cached.
    """
    key = province.strip().lower() if isinstance(province, str) else None
    if key not in _PROVINCE_ZH:
        raise ValueError(f"no region data for province {province!r}; only 'Xinjiang' is supported")
    return _province_regions(_PROVINCE_ZH[key])


@lru_cache(maxsize=4)
def _province_regions(province_zh: str) -> tuple[Region, ...]:
    table = pd.read_csv(_DATA_DIR / "xinjiang_prefectures.csv", dtype={"region_code": str})
    segments = _china_mobile_segments(province_zh)
    share = table["population_2010"] * table["penetration"]
    weights = share / share.sum()
    out = []
    for row, weight in zip(table.itertuples(index=False), weights):
        segs = segments.get(row.name_zh)
        if not segs:
            raise RuntimeError(f"phonenumbers has no China Mobile segment for {province_zh}{row.name_zh}")
        out.append(Region(code=row.region_code, name_zh=row.name_zh, name_en=row.name_en,
                          is_capital=bool(row.is_capital), weight=float(weight),
                          segments=tuple(sorted(segs))))
    return tuple(out)


def _cache_dir() -> Path:
    root = os.environ.get("VASMART_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "vasmart"


def _china_mobile_segments(province_zh: str) -> dict[str, list[int]]:
    """Map prefecture name to China Mobile segments, cached on disk per phonenumbers version.

    Deriving them means importing phonenumbers' whole geocoding table (several seconds); the cache is
    keyed by the package's version, so an upgrade of its data recomputes it.
    """
    import phonenumbers

    key = hashlib.sha256(province_zh.encode()).hexdigest()[:12]
    cache = _cache_dir() / f"cm-segments-{key}-{phonenumbers.__version__}.json"
    try:
        return {k: list(v) for k, v in json.loads(cache.read_text(encoding="utf-8")).items()}
    except (OSError, ValueError):
        pass
    result = _derive_china_mobile_segments(province_zh)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home only costs the derivation next time
    return result


def _derive_china_mobile_segments(province_zh: str) -> dict[str, list[int]]:
    """Map prefecture name (without the province prefix) to its China Mobile 7-digit segments."""
    import phonenumbers
    from phonenumbers import carrier, geocoder
    from phonenumbers.geodata import GEOCODE_DATA  # large: about 3 s to import

    candidates: set[str] = set()
    for prefix, names in GEOCODE_DATA.items():
        digits = prefix[2:]
        if prefix.startswith("861") and 3 <= len(digits) <= 7 and names.get("zh", "").startswith(province_zh):
            width = 7 - len(digits)  # a 6-digit prefix stands for ten 7-digit segments, and so on
            candidates.update(f"{digits}{n:0{width}d}" if width else digits for n in range(10**width))

    by_place: dict[str, list[int]] = defaultdict(list)
    for segment in sorted(candidates):
        number = phonenumbers.parse(f"+86{segment}0000")
        if carrier.name_for_number(number, "en") != "China Mobile":
            continue
        place = geocoder.description_for_number(number, "zh")  # longest-prefix rule, as any caller sees it
        if place.startswith(province_zh):
            by_place[place.removeprefix(province_zh)].append(int(segment))
    return dict(by_place)


# ---------------------------------------------------------------------------------------------- handsets

_TAC_RE = re.compile(r"\d{8}")
_MODERN_TAC_PREFIXES = ("35", "01", "86", "91", "99")  # GSMA-era reporting bodies; 350xxxxx is still pre-2004

# Ordered rules, first match wins: (kind, first year, last year, fixed max_rat, regex alternatives matched
# against the lower-case "vendor model" text). Kinds and their consequences: see tac_catalogue().
_TAC_RULES: tuple[tuple[str, int | None, int | None, str | None, tuple[str, ...]], ...] = (
    # modems, data cards, modules, trackers, car and fixed terminals: no MMS, no WAP browser
    ("m2m", None, None, None, (
        r"modem", r"module", r"dongle", r"data ?card", r"pc ?card", r"pcmcia", r"air ?card", r"\busb",
        r"router", r"mifi", r"\bm2m\b", r"tracker", r"\bgps\b", r"telemat", r"telemetr", r"alarm", r"meter\b",
        r"terminal", r"gateway", r"fixed", r"\bfw[tp]\b", r"car ?kit", r"cartel", r"railtrack", r"gsm-r",
        r"\bpos\b", r"payment",
    )),
    ("m2m", None, None, None, (
        r"^(telit|wavecom|sierra wireless|cinterion|simcom|novatel|enfora|option|falcom|quectel|u-blox)\b",
        r"^(ipwireless|ubinetics|xircom|triorail|autoliv|digicore|vascotrack|followit|psitek|gps tracker)\b",
        r"^(ingenico|westermo|dr\. neuhaus|telular|minorplanet|the pinpoint company|immobiliser|moneyline)\b",
        r"^peiker\b", r"^huawei (e\d{3,4}|k\d{4}|em\d{3}|ec\d{3}|b\d{3})", r"^zte mf\d",
        r"^siemens (tc|mc|ac|xt)(?!60)\d\d",
    )),
    # tablets: browser but no MMS
    ("tablet", 2010, 2016, None, (
        r"ipad", r"tablet", r"galaxy tab", r"\btab\b", r"\bsm-t\d", r"\bgt-p\d", r"kindle",
        r"nexus (7|9|10)\b", r"mediapad", r"fonepad", r"padfone", r"ideatab", r"playstation", r"xoom",
    )),
    # iPhone generations
    ("smart", 2015, 2016, "4G", (r"iphone ?(6s|se|7)",)),
    ("smart", 2014, 2014, "4G", (r"iphone ?6",)),
    ("smart", 2013, 2013, "4G", (r"iphone ?(5 ?[sc]|s\b)",)),
    ("smart", 2012, 2012, "4G", (r"iphone ?5",)),
    ("smart", 2011, 2011, "3G", (r"iphone ?4 ?s",)),
    ("smart", 2010, 2010, "3G", (r"iphone ?4",)),
    ("smart", 2009, 2009, "3G", (r"iphone ?3gs",)),
    ("smart", 2008, 2008, "3G", (r"iphone ?3g",)),
    ("smart", 2007, 2016, None, (r"iphone", r"^apple\b")),
    # other smartphone families
    ("smart", 2013, 2016, None, (r"\bsm-[a-z]\d",)),
    ("smart", 2010, 2014, None, (r"^samsung .*galaxy", r"\bgalaxy (s\d|note|ace|mini|grand|core|pocket|y\b)",
                                 r"\bgt-[isn]\d")),
    ("smart", 2011, 2016, None, (r"xperia", r"^sony [cdef]\d{4}\b", r"^sony (lt|st|mt|mk|wt)\d\d")),
    ("smart", 2012, 2015, None, (r"lumia",)),
    ("smart", 2013, 2015, "4G", (r"blackberry.*(stl100|q5|q10|z10|z30|passport|classic|leap|priv)",)),
    ("smart", 2006, 2012, None, (r"blackberry", r"^rim\b")),
    ("smart", 2003, 2009, None, (
        r"qtek", r"\bmda\b", r"\bxda\b", r"ipaq", r"palm", r"treo", r"handspring", r"communicator",
        r"\bpda\b", r"windows mobile", r"symbian", r"^htc .*(wizard|hermes|tytn|herald|tornado|p\d{4})",
    )),
    ("smart", 2005, 2011, None, (r"^nokia [ne]\d{1,3}\b", r"^nokia [ce][5-7]-")),
    ("smart", 2004, 2008, None, (r"^motorola .*(a1200|ming|e680|a780|a910|a1600)",)),
    ("smart", 2010, 2016, None, (r"^motorola .*(droid|moto ?[gxe]\b|\bxt\d{3,4}|milestone|atrix)",
                                 r"^motorola .*razr ?(i|m|hd|maxx)\b")),
    ("smart", 2011, 2016, None, (
        r"^(xiaomi|mi|oneplus|1\+|oppo|vivo|meizu|coolpad|wiko|doogee|thl|fairphone|wileyfox|blu|yu)\b",
        r"^(google|geeksphone|highscreen|amazon|lava|gionee|nubia)\b", r"^lenovo (lenovo )?[akps]\d{3,4}",
    )),
    ("smart", 2010, 2016, None, (
        r"android", r"nexus", r"\bdesire\b", r"sensation", r"htc one", r"^htc\b", r"ascend", r"honor",
        r"\bblade\b", r"redmi", r"zenfone", r"optimus", r"-[lu]\d\d\b", r"\blte\b", r"\b4g\b",
    )),
    # feature phones: classic pre-2002 models without MMS, entry-level lines, then mid-range lines known
    # for cameras, music and MMS
    ("legacy", 2000, 2001, "2G", (
        r"^nokia (2110|3110|3210|3310|3330|5110|6110|6150|6210|6250|7110|8110|8210|8250|8310|8850)i?$",
        r"^siemens (c|s|m|me|sl)(10|25|35|45)i?\b", r"^motorola .*(startac|\bd ?160\b|\bt1[89]\d\b)",
        r"^motorola .*(\bv(50|60|66)[im]?\b|\b8[24]00\b|international|\bcd9\d0\b|l7089|p7389|timeport)",
    )),
    ("basic", None, None, None, (
        r"^nokia 1\d{2,3}\b", r"\bgt-e\d", r"\bsgh-[ce]1\d\d", r"^motorola .*\b(c1\d\d|w2\d\d)\b",
        r"^lg .*\b(kg1\d\d|gb1\d\d)",
    )),
    ("mid", None, None, None, (
        r"^sony ericsson [kwcsz]\d{3}", r"xpressmusic", r"^nokia [5-7]\d{3}", r"\bsgh-[dfuz]\d",
        r"^motorola .*(v3|razr|rokr|krzr|pebl|slvr|e398)", r"^lg .*\bk[upfe]\d{3}",
    )),
)
_COMPILED_RULES = tuple(
    (re.compile("|".join(alternatives)), kind, lo, hi, rat) for kind, lo, hi, rat, alternatives in _TAC_RULES
)
_DEFAULT_YEARS = {"m2m": (2004, 2014), "tablet": (2011, 2016), "smart": (2009, 2016)}  # else (2004, 2012)
# handset lines that ended (or began) in known years bound the estimate for post-2004 TACs
_VENDOR_YEARS = {"ericsson": (2004, 2004), "siemens": (2004, 2005), "benq-siemens": (2005, 2007),
                 "sony ericsson": (2004, 2011), "sagem": (2004, 2008), "sendo": (2004, 2005)}
_MMS_SHARE_BY_YEAR = {2001: 0.15, 2002: 0.70, 2003: 0.80, 2004: 0.90}  # later years: 0.95


def _unit(tac: str, salt: str) -> float:
    """A stable pseudo-random number in [0, 1) for ``tac`` (independent per ``salt``)."""
    digest = hashlib.blake2b(f"{salt}:{tac}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _derive_capabilities(tac: str, vendor: str, model: str) -> dict:
    """Apply the rules documented in ``tac_catalogue`` to one handset."""
    text = f"{vendor} {model}".lower()
    kind, lo, hi, rat = "feature", None, None, None
    for pattern, rule_kind, rule_lo, rule_hi, rule_rat in _COMPILED_RULES:
        if pattern.search(text):
            kind, lo, hi, rat = rule_kind, rule_lo, rule_hi, rule_rat
            break
    dated_by_rule = lo is not None
    if not dated_by_rule:
        pre_2004 = not tac.startswith(_MODERN_TAC_PREFIXES) or tac.startswith("350")
        default = _VENDOR_YEARS.get(vendor.lower(), _DEFAULT_YEARS.get(kind, (2004, 2012)))
        lo, hi = (2002, 2004) if pre_2004 else default
    year = lo + int(_unit(tac, "year") * (hi - lo + 1))

    u_rat = _unit(tac, "rat")
    if rat is None:
        if kind in ("smart", "tablet"):
            if re.search(r"\blte\b|\b4g\b", text) or (year >= 2013 and u_rat < 0.7):
                rat = "4G"
            else:
                rat = "3G" if year >= 2008 or u_rat < 0.4 else "2G"
        else:
            share_3g = {"m2m": 0.6, "mid": 0.35}.get(kind, 0.15)
            rat = "3G" if year >= 2008 and u_rat < share_3g else "2G"

    if kind in ("smart", "tablet", "m2m"):
        mms, wap = int(kind == "smart"), int(kind != "m2m")
    elif kind == "legacy":
        mms, wap = 0, int(_unit(tac, "wap") < 0.5)
    else:
        p_mms = 0.0 if year <= 2000 else _MMS_SHARE_BY_YEAR.get(year, 0.95)
        mms = int(_unit(tac, "mms") < p_mms * (0.6 if kind == "basic" else 1.0))
        wap = int(mms == 1 or _unit(tac, "wap") < 0.8)

    if kind in ("smart", "tablet"):
        tier = 2
    elif kind == "mid":
        tier = mms
    elif kind == "feature":
        tier = int(mms == 1 and year >= 2004 and _unit(tac, "tier") < 0.5)
    else:
        tier = 0

    unknown_model = model.strip().lower() in ("", "unknown", "?")
    missing_year = unknown_model or (not dated_by_rule and _unit(tac, "missing") < 0.12)
    release_year = None if missing_year else year
    return {"mms": mms, "wap": wap, "max_rat": rat, "release_year": release_year, "tier": tier}


def _gbk_safe(text: str) -> str:
    """``text`` itself if GBK can encode it, else with accents stripped ("Lösungen" -> "Losungen")."""
    try:
        text.encode("gbk")
        return text
    except UnicodeEncodeError:
        folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
        return folded.encode("gbk", errors="replace").decode("gbk")


def _read_osmocom(path: Path) -> list[tuple[str, str, str]]:
    """(tac, vendor, model) for every valid 8-digit TAC, first occurrence kept, whitespace stripped."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        for line in reader:  # skip the attribution line(s) before the header
            header = [cell.strip().lower() for cell in line]
            if header and header[0] == "tac":
                break
        else:
            raise ValueError(f"{path}: no header line starting with 'tac'")
        i_tac = header.index("tac")
        i_vendor = header.index("name")  # the header repeats "name": vendor, then model
        i_model = header.index("name", i_vendor + 1)
        rows, seen = [], set()
        for record in reader:
            if len(record) <= max(i_tac, i_model):
                continue
            tac = record[i_tac].strip()
            if _TAC_RE.fullmatch(tac) and tac not in seen:
                seen.add(tac)
                vendor, model = _gbk_safe(record[i_vendor].strip()), _gbk_safe(record[i_model].strip())
                rows.append((tac, vendor or "Unknown", model or "unknown"))
    return rows


@lru_cache(maxsize=1)
def _tac_table() -> pd.DataFrame:
    rows = _read_osmocom(_DATA_DIR / "osmocom_tacdb.csv")
    # one spelling per vendor: the most frequent among case variants ("NOKIA" -> "Nokia")
    spellings = Counter(vendor for _, vendor, _ in rows)
    canonical: dict[str, str] = {}
    for spelling, _count in sorted(spellings.items(), key=lambda kv: (-kv[1], kv[0])):
        canonical.setdefault(spelling.lower(), spelling)
    records = []
    for tac, vendor, model in rows:
        vendor = canonical[vendor.lower()]
        capabilities = _derive_capabilities(tac, vendor, model)
        records.append({"tac": tac, "vendor": vendor, "model": model, **capabilities})
    df = pd.DataFrame.from_records(records)
    df = df[["tac", "vendor", "model", "mms", "wap", "max_rat", "release_year", "tier"]]
    df = df.astype({"mms": "int64", "wap": "int64", "tier": "int64", "release_year": "Int64"})
    return df.sort_values("tac", ignore_index=True)


def tac_catalogue() -> pd.DataFrame:
    """Return REF_TAC: one row per TAC of the shipped Osmocom TAC database (CC-BY-SA 3.0).

    Columns: ``tac`` (8-digit str), ``vendor``, ``model``, ``mms``/``wap`` (0/1), ``max_rat`` (2G/3G/4G),
    ``release_year`` (nullable Int64) and ``tier`` (0 basic feature phone, 1 mid-range, 2 smartphone/tablet).
    Only 8-digit TACs are kept (after stripping blanks), first occurrence wins; case variants of a vendor
    name are merged into its most frequent spelling, and accents GBK cannot encode are stripped (the
    interface files are GBK).

    The database has no capabilities, so they are derived deterministically. Every "random" choice below
    is a stable hash (BLAKE2b) of the TAC, never Python's salted ``hash()``. The lower-cased
    "vendor model" text is matched against an ordered rule list (first match wins) giving a kind:

    - ``m2m``: modems, data cards, modules, trackers, car/fixed terminals (words such as modem, module,
      dongle, usb, gps, terminal; M2M vendors such as Telit, Wavecom, Sierra Wireless; Huawei E/K,
      ZTE MF, Siemens TC/MC modules): mms 0, wap 0, tier 0.
    - ``tablet`` (iPad, Galaxy Tab, SM-T...): mms 0, wap 1, tier 2.
    - ``smart`` (iPhone by generation, Samsung SM-/Galaxy/GT-I, Xperia, Lumia, BlackBerry, PDA phones,
      Nokia N/E series, Android brands and model words): mms 1, wap 1, tier 2.
    - ``legacy``: classic pre-2002 models (Nokia 3210/3310/5110/6110/8210..., Siemens C25/C35/S45...,
      Motorola StarTAC/T191/V50...): 2G, no MMS, WAP for half, tier 0, released 2000-2001.
    - ``basic`` (Nokia 1xx/1xxx, Samsung GT-E/SGH-C1xx, Motorola C1xx/W2xx...) and ``mid`` (Sony Ericsson
      K/W, Nokia 5xxx-7xxx, XpressMusic, Motorola RAZR/ROKR...) feature phones; anything else is a
      generic ``feature`` phone.

    Release year: the rule's year range when it has one (e.g. iPhone 4S -> 2011, Samsung SM- 2013-2016);
    otherwise 2002-2004 for TACs of the pre-2004 TAC+FAC scheme (reporting bodies other than 35/01/86/91/99,
    and 350xxxxx); otherwise the vendor's handset era (Siemens 2004-2005, Sony Ericsson 2004-2011, ...)
    or by kind: feature 2004-2012, smart 2009-2016, tablet 2011-2016, m2m 2004-2014. The year is picked
    within the range by the hash. About 12% of years without a rule range, and all models named
    "unknown", are reported missing (capabilities still follow the hidden estimate).

    Feature phones: MMS with probability 0.15 in 2001, 0.70 in 2002, 0.80 in 2003, 0.90 in 2004 and
    0.95 later (times 0.6 for basic lines); WAP whenever MMS (MMS is fetched over WAP), else with
    probability 0.8; max_rat 2G, or from 2008 on 3G for 15% (generic), 35% (mid) or 60% (m2m).
    Smartphones/tablets: 4G if the text says LTE/4G, or for 70% from 2013; else 3G (2G for 60% of those
    before 2008); iPhones and newer BlackBerrys have a fixed RAT. Tier: 1 for mid lines with MMS and for
    half of generic feature phones from 2004 with MMS, else 0. Result: about 24% of TACs without MMS,
    nearly all of them 2G.
    """
    return _tac_table().copy()


# ---------------------------------------------------------------------------------------------- catalogues


@lru_cache(maxsize=8)
def _read_table(name: str) -> pd.DataFrame:
    return pd.read_csv(_DATA_DIR / name, dtype=str, keep_default_na=False, encoding="utf-8")


def plan_catalogue() -> pd.DataFrame:
    """Return REF_PLAN: tariff plans of the three brands, from ``data/plans.csv``.

    Columns: ``plan_code``, ``plan_name`` (Chinese), ``brand_code`` (GOTONE/MZONE/EASYOWN), ``pay_type``
    (PRE/POST), ``monthly_fee_fen`` (int, >= 1000), ``gprs_quota_mb`` (int, 0 = no data package) and the
    non-spec ``tier`` (int, 0 = cheapest plan of its brand). Within a brand, fee and data quota rise with
    the tier along the ladder 0, 30, 100, 300, 1024 MB, so every plan but the top one has a next tier.
    """
    df = _read_table("plans.csv").copy()
    return df.astype({"monthly_fee_fen": "int64", "gprs_quota_mb": "int64", "tier": "int64"})


def service_catalogue() -> pd.DataFrame:
    """Return REF_SERVICE: the value-added service catalogue, from ``data/services.csv``.

    Spec columns: ``service_code``, ``service_name`` (Chinese), ``sp_code`` (6 digits), ``product_line``,
    ``category`` (one of CATEGORIES), ``media`` (SMS/MMS/WAP/IVR), ``fee_type`` ("01" free, "02" per
    message, "03" monthly), ``fee_fen`` (int; 0 for free services), ``is_sticky`` (0/1), ``online_date``
    (YYYYMMDD) and ``offline_date`` (YYYYMMDD or None). Non-spec columns for the generator:
    ``push_per_week`` (scheduled deliveries per week to holders; 0 for on-demand services),
    ``access_number`` (SP access number, "106...") and ``popularity`` (float base weight).
    Includes six MMS mobile-newspaper (手机报) editions pushed daily, CRBT (彩铃), weather, stock, English
    learning, wireless-music club, per-message song and game downloads, a monthly game pack, joke and
    horoscope SMS and a free service reminder; every category has at least two services.
    """
    df = _read_table("services.csv").copy()
    int_columns = {"fee_fen": "int64", "is_sticky": "int64", "push_per_week": "int64"}
    df = df.astype({**int_columns, "popularity": "float64"})
    df["offline_date"] = df["offline_date"].map(lambda d: d or None).astype(object)
    return df


def status_codes() -> pd.DataFrame:
    """Return REF_STATUS_CODE: MMS/SMS gateway delivery status codes, from ``data/status_codes.csv``.

    Columns: ``status_code`` (e.g. DELIVRD, MI:0012), ``description`` (Chinese) and ``status_class``:
    SUCCESS (only DELIVRD), TERMINAL (handset cannot receive this media), USER (power off, empty number,
    suspended), NETWORK (expiry, SMSC errors) or PLATFORM (policy rejection, unregistered content, charging
    timeout), with 3-4 codes in each failure class.
    """
    return _read_table("status_codes.csv").copy()


@lru_cache(maxsize=1)
def _names() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    data = json.loads((_DATA_DIR / "names.json").read_text(encoding="utf-8"))
    full_names: list[str] = []
    for people in ("uyghur", "kazakh"):  # own name + father's name; two fathers per own name
        given, fathers = data[f"{people}_given_names"], data[f"{people}_father_names"]
        for i, name in enumerate(given):
            for offset in (0, len(fathers) // 2):
                father = fathers[(i + offset) % len(fathers)]
                if father == name:
                    father = fathers[(i + offset + 1) % len(fathers)]
                full_names.append(f"{name}·{father}")
    return tuple(data["han_surnames"]), tuple(data["han_given_names"]), tuple(dict.fromkeys(full_names))


def name_pools() -> tuple[list[str], list[str], list[str]]:
    """Return (han_surnames, han_given_names, uyghur_full_names) for synthetic customer names.

    100 common Han surnames, 200 common one- or two-character given names, and 150 Uyghur and Kazakh
    full names written in Chinese as own name + "·" + father's name (e.g. "买买提·艾力"), built from the
    lists in ``data/names.json`` by pairing each own name with two father's names. Every string encodes
    in GBK. New lists on each call.
    """
    surnames, given, minority = _names()
    return list(surnames), list(given), list(minority)
