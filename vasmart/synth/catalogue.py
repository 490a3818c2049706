"""The reference catalogues as arrays the simulation indexes into."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from vasmart.synth import reference

# Province-wide share of Uyghur and other non-Han names by prefecture code (census-like, rounded).
_NON_HAN_SHARE = {
    "0991": 0.22, "0990": 0.15, "0993": 0.05, "0994": 0.12, "0995": 0.70, "0902": 0.25, "0909": 0.35,
    "0996": 0.40, "0997": 0.75, "0908": 0.90, "0998": 0.90, "0903": 0.95, "0999": 0.55, "0901": 0.40,
    "0906": 0.50,
}


@dataclass
class Catalogue:
    """Regions, handsets, plans, services and status codes, with the derived arrays the simulation needs."""

    regions: tuple
    tacs: pd.DataFrame
    plans: pd.DataFrame
    services: pd.DataFrame
    statuses: pd.DataFrame
    names: tuple

    @classmethod
    def load(cls) -> Catalogue:
        """Load every catalogue from the reference module."""
        return cls(
            regions=reference.regions(),
            tacs=reference.tac_catalogue().reset_index(drop=True),
            plans=reference.plan_catalogue().reset_index(drop=True),
            services=reference.service_catalogue().reset_index(drop=True),
            statuses=reference.status_codes().reset_index(drop=True),
            names=reference.name_pools(),
        )

    # --- regions
    @cached_property
    def region_weights(self) -> np.ndarray:
        w = np.array([r.weight for r in self.regions], dtype="float64")
        return w / w.sum()

    @cached_property
    def region_is_capital(self) -> np.ndarray:
        return np.array([r.is_capital for r in self.regions], dtype=bool)

    @cached_property
    def region_codes(self) -> np.ndarray:
        return np.array([r.code for r in self.regions])

    @cached_property
    def region_non_han(self) -> np.ndarray:
        return np.array([_NON_HAN_SHARE.get(r.code, 0.4) for r in self.regions])

    # --- handsets
    @cached_property
    def tac_code(self) -> np.ndarray:
        return self.tacs["tac"].astype("int64").to_numpy()

    @cached_property
    def tac_mms(self) -> np.ndarray:
        return self.tacs["mms"].to_numpy().astype(bool)

    @cached_property
    def tac_wap(self) -> np.ndarray:
        return self.tacs["wap"].to_numpy().astype(bool)

    @cached_property
    def tac_rat(self) -> np.ndarray:
        """Maximum radio access technology as 2, 3 or 4."""
        return self.tacs["max_rat"].str[0].astype(int).to_numpy()

    @cached_property
    def tacs_by_tier(self) -> list[np.ndarray]:
        tiers = self.tacs["tier"].to_numpy()
        # TACs with a leading zero are listed in REF_TAC but not handed to simulated users
        usable = self.tac_code >= 10_000_000
        # modems, trackers and the like (no WAP browser) are not handed out as phones
        usable &= self.tac_wap
        return [np.flatnonzero((tiers == t) & usable) for t in range(3)]

    # --- plans
    @cached_property
    def plan_brand(self) -> np.ndarray:
        return self.plans["brand_code"].to_numpy()

    @cached_property
    def plan_quota_mb(self) -> np.ndarray:
        return self.plans["gprs_quota_mb"].to_numpy().astype("int64")

    @cached_property
    def plan_fee(self) -> np.ndarray:
        return self.plans["monthly_fee_fen"].to_numpy().astype("int64")

    @cached_property
    def plan_is_prepaid(self) -> np.ndarray:
        return (self.plans["pay_type"] == "PRE").to_numpy()

    def plans_of_brand(self, brand: str) -> np.ndarray:
        """Plan indexes of a brand, cheapest first."""
        sub = self.plans[self.plans["brand_code"] == brand]
        return sub.sort_values(["monthly_fee_fen", "plan_code"]).index.to_numpy()

    # --- services
    @cached_property
    def service_category(self) -> np.ndarray:
        return self.services["category"].map({c: i for i, c in enumerate(reference.CATEGORIES)}).to_numpy()

    @cached_property
    def service_is_monthly(self) -> np.ndarray:
        return (self.services["fee_type"] == "03").to_numpy()

    @cached_property
    def service_is_newspaper(self) -> np.ndarray:
        return (self.services["product_line"] == "MOBILE_NEWSPAPER").to_numpy()

    @cached_property
    def service_is_current(self) -> np.ndarray:
        """False for services taken offline: they are still held by some users but no longer sold."""
        offline = self.services["offline_date"].fillna("").astype(str).str.len() > 0
        return (~offline).to_numpy()

    @cached_property
    def service_media(self) -> np.ndarray:
        return self.services["media"].to_numpy()

    @cached_property
    def service_fee(self) -> np.ndarray:
        return self.services["fee_fen"].to_numpy().astype("int64")

    @cached_property
    def service_push_per_week(self) -> np.ndarray:
        return self.services["push_per_week"].to_numpy().astype("int64")

    @cached_property
    def service_popularity(self) -> np.ndarray:
        return self.services["popularity"].to_numpy().astype("float64")

    @cached_property
    def service_access(self) -> np.ndarray:
        return self.services["access_number"].to_numpy().astype(str)

    @cached_property
    def on_demand_by_category(self) -> np.ndarray:
        """For each category, the index of a service used on demand (fee_type 01 or 02), or of any service."""
        out = np.empty(len(reference.CATEGORIES), dtype="int64")
        for c in range(len(reference.CATEGORIES)):
            in_cat = np.flatnonzero(self.service_category == c)
            on_demand = [i for i in in_cat if not self.service_is_monthly[i]]
            out[c] = (on_demand or list(in_cat))[0]
        return out

    # --- delivery status codes
    def status_codes_of(self, status_class: str) -> np.ndarray:
        """Status codes of one class."""
        return self.statuses.loc[self.statuses["status_class"] == status_class, "status_code"].to_numpy()
