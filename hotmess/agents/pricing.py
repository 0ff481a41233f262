"""US dollars per million tokens, (input, output), for models whose prices are public.
Extend it with `register_prices` or a sweep's `pricing:`; an unknown model costs None."""

from __future__ import annotations

PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-haiku": (0.80, 4.00),
}


def register_prices(prices: dict[str, tuple[float, float]]) -> None:
    """Add or override prices: {model: (input $/Mtok, output $/Mtok)}."""
    PRICES.update({model: (float(i), float(o)) for model, (i, o) in prices.items()})


def price(model: str) -> tuple[float, float] | None:
    """The price of `model`, matching dated snapshots (`gpt-4o-2024-08-06`) to their family."""
    if model in PRICES:
        return PRICES[model]
    for name in sorted(PRICES, key=len, reverse=True):
        if model.startswith(name + "-"):
            return PRICES[name]
    return None


def cost_usd(
    model: str,
    tokens_in: int,
    tokens_out: int,
    price_in: float | None = None,
    price_out: float | None = None,
) -> float | None:
    """Cost of one request; None when the model's price is unknown."""
    known = price(model)
    if price_in is None or price_out is None:
        if known is None:
            return None
        price_in = known[0] if price_in is None else price_in
        price_out = known[1] if price_out is None else price_out
    return (tokens_in * price_in + tokens_out * price_out) / 1e6
