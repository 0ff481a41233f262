"""How hotmess prints a number: one rule for the terminal tables and the HTML report."""

from __future__ import annotations

import math
from typing import Any

UNDEFINED = "-"
"""What an undefined value (None, NaN: e.g. incoherence without error) prints as."""


def format_value(value: Any, digits: int = 3) -> str:
    """`digits` significant digits; exponent notation below 1e-3 and from 1e5 on (three
    digits there); ±∞ as symbols; None and NaN as `UNDEFINED`; integers and text as they are."""
    if value is None:
        return UNDEFINED
    if isinstance(value, (str, int)):  # counts and names (bool is an int)
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return UNDEFINED
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if number == 0 or 1e-3 <= abs(number) < 1e5:
        return f"{number:.{digits}g}"
    return f"{number:.2e}"
