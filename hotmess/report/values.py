"""Statistics as plain floats for figures and tables: a missing or unparsable value is NaN
(or None), an interval is two floats or None."""

from __future__ import annotations

import math
from typing import Any


def number(value: Any) -> float:
    """`value` as a float; NaN when it is None or no number."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def optional(value: Any) -> float | None:
    """`value` as a finite float, or None."""
    result = number(value)
    return result if math.isfinite(result) else None


def interval(value: Any) -> tuple[float, float] | None:
    """An interval as two floats, or None when it is missing or undefined (NaN); its ends
    may be infinite (an h50 interval can run from 0 to ∞)."""
    if value is None:
        return None
    lo, hi = (number(v) for v in value)
    return None if math.isnan(lo) or math.isnan(hi) else (lo, hi)
