"""The Monternet (梦网) monthly-subscription charging rule, vectorised over (user, service) pairs of one month.

The rule the operator published (interface spec §5): the info fee of a fee_type 03 service is charged at
most once per user, service and month:
- a subscription held at the start of the month is charged, unless it is cancelled within 72 hours of its
  order or cancelled because the charge failed (action_reason 3);
- the month's first order, placed on days 1-20, is charged unless cancelled within 72 hours; placed on
  day 21 or later it is free for the month;
- a non-first order (a re-order) is charged at once if placed on days 1-20, and after day 20 only when
  the month's first order was on days 1-20.
"""

from __future__ import annotations

import numpy as np

QUICK_CANCEL_SECONDS = 72 * 3600
NEVER = np.iinfo("int64").max // 4  # a time that is never reached


def monthly_charge(
    held_at_start: np.ndarray,
    start_order_t: np.ndarray,
    start_cancel_t: np.ndarray,
    start_cancel_reason: np.ndarray,
    first_order_t: np.ndarray,
    first_cancel_t: np.ndarray,
    reorder_t: np.ndarray,
    month_first_second: int,
    next_month_first_second: int,
) -> np.ndarray:
    """Whether each (user, service) pair is charged the month's info fee.

    Times are local epoch seconds; NEVER marks an event that did not happen. `start_*` describe the
    subscription held at the start of the month, `first_*` the month's first order and its cancel, and
    `reorder_t` a second order after that cancel. A charge-failed cancel frees only the month it falls in.
    """
    day_of_month = lambda t: (t - month_first_second) // 86_400 + 1
    quick_start = start_cancel_t - start_order_t <= QUICK_CANCEL_SECONDS
    charge_failed = (start_cancel_reason == 3) & (start_cancel_t < next_month_first_second)  # in this month
    charged_start = held_at_start & ~quick_start & ~charge_failed
    has_first = first_order_t < NEVER
    first_early = has_first & (day_of_month(first_order_t) <= 20)
    charged_first = first_early & (first_cancel_t - first_order_t > QUICK_CANCEL_SECONDS)
    has_reorder = reorder_t < NEVER
    charged_reorder = has_reorder & ((day_of_month(reorder_t) <= 20) | first_early)
    return charged_start | charged_first | charged_reorder
