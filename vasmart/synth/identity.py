"""Numbers and device identities: MSISDN allocation with recycling, IMEIs with Luhn digits, contacts."""

from __future__ import annotations

from collections import deque

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

RECYCLE_DAYS = 90  # a cancelled number is not reissued sooner than this


def luhn_check_digit(body14: np.ndarray) -> np.ndarray:
    """Luhn check digit of 14-digit IMEI bodies (TAC + serial), vectorised."""
    body14 = np.asarray(body14, dtype="int64")
    total = np.zeros(body14.shape, dtype="int64")
    value = body14.copy()
    for position in range(14):  # position 0 is the rightmost digit, which is doubled
        digit = value % 10
        value //= 10
        if position % 2 == 0:
            digit = digit * 2
            digit = digit // 10 + digit % 10
        total += digit
    return (10 - total % 10) % 10


def imei_from(tac: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """15-digit IMEIs (as int64) from 8-digit TACs and 6-digit serials."""
    body = np.asarray(tac, dtype="int64") * 1_000_000 + np.asarray(serial, dtype="int64")
    return body * 10 + luhn_check_digit(body)


def splitmix64(values: np.ndarray) -> np.ndarray:
    """A stateless 64-bit mixing function: the same input always gives the same well-spread output."""
    with np.errstate(over="ignore"):
        z = np.asarray(values, dtype="uint64") + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


# Other operators' mobile segments and a few fixed-line area codes, for the other party of calls and messages.
_OFFNET_MOBILE = np.array([130, 131, 132, 155, 156, 185, 186, 133, 153, 180, 181, 189], dtype="int64")
_ONNET_MOBILE = np.array([134, 135, 136, 137, 138, 139, 150, 151, 152, 157, 158, 159, 182, 183, 187, 188])
_FIXED_AREAS = np.array([991, 990, 995, 902, 994, 997, 998, 999, 10, 21, 20, 29], dtype="int64")


def contact_numbers(owner_keys: np.ndarray, slots: np.ndarray) -> pa.Array:
    """The number in slot `slot` (0..55) of each owner's contact book, as strings of digits.

    China Mobile numbers (about 62%), other operators' mobiles (25%) or fixed lines with their area
    code (13%). The same owner and slot always give the same number.
    """
    owner_keys = np.asarray(owner_keys, dtype="uint64")
    h = splitmix64(owner_keys * np.uint64(64) + np.asarray(slots, dtype="uint64"))
    kind = (h % np.uint64(100)).astype("int64")
    tail8 = ((h >> np.uint64(8)) % np.uint64(100_000_000)).astype("int64")
    pick = (h >> np.uint64(40)).astype("int64")
    onnet = _ONNET_MOBILE[pick % len(_ONNET_MOBILE)]
    offnet = _OFFNET_MOBILE[pick % len(_OFFNET_MOBILE)]
    area = _FIXED_AREAS[(pick >> 8) % len(_FIXED_AREAS)]
    mobile = np.where(kind < 62, onnet, offnet) * 100_000_000 + tail8
    fixed = area * 10_000_000 + tail8 % 10_000_000
    is_fixed = kind >= 87
    digits = pa.array(np.where(is_fixed, fixed, mobile)).cast(pa.string())
    with_zero = pc.binary_join_element_wise("0", digits, "")
    return pc.if_else(pa.array(is_fixed), with_zero, digits)


class NumberPool:
    """Allocates MSISDNs of one region from its China Mobile segments; reissues numbers after quarantine.

    Fresh numbers follow a fixed pseudo-random walk over the region's number space, taking every
    `stride`-th index from `offset` so that parts never hand out the same number.
    """

    def __init__(self, segments: np.ndarray, offset: int, stride: int, salt: int):
        self.segments = np.asarray(segments, dtype="int64")
        self.capacity = len(self.segments) * 10_000
        self.offset, self.stride = offset, stride
        self.next_index = 0
        self.multiplier = self._coprime_multiplier(salt)
        self.quarantine: deque[tuple[int, int]] = deque()  # (available_day, msisdn), in day order

    def _coprime_multiplier(self, salt: int) -> int:
        candidate = 7_919 + 2 * (salt % 10_000)
        while np.gcd(candidate, self.capacity) != 1:
            candidate += 1
        return candidate

    def fresh(self, count: int) -> np.ndarray:
        """`count` never-issued numbers."""
        index = self.offset + self.stride * (self.next_index + np.arange(count, dtype="int64"))
        self.next_index += count
        if count and index[-1] >= self.capacity:
            raise RuntimeError("the region's number segments are exhausted")
        slot = (index * self.multiplier + 12_345) % self.capacity
        return self.segments[slot % len(self.segments)] * 10_000 + slot // len(self.segments)

    def release(self, msisdns: np.ndarray, cancel_days: np.ndarray, extra_days: np.ndarray) -> None:
        """Return cancelled numbers; each becomes reissuable RECYCLE_DAYS + extra days after cancellation."""
        available = (cancel_days + RECYCLE_DAYS + extra_days).tolist()
        self.quarantine.extend(zip(available, msisdns.tolist()))

    def allocate(self, join_days: np.ndarray, reuse_share: float, rng: np.random.Generator) -> np.ndarray:
        """Numbers for users joining on `join_days`: about `reuse_share` recycled where one is free, else fresh."""
        out = np.empty(len(join_days), dtype="int64")
        self.quarantine = deque(sorted(self.quarantine))
        order = np.argsort(join_days, kind="stable")
        want_reuse = rng.random(len(join_days)) < reuse_share
        fresh_needed = []
        for i in order:
            if want_reuse[i] and self.quarantine and self.quarantine[0][0] <= join_days[i]:
                out[i] = self.quarantine.popleft()[1]
            else:
                fresh_needed.append(i)
        if fresh_needed:
            out[np.array(fresh_needed)] = self.fresh(len(fresh_needed))
        return out
