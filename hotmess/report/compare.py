"""`hotmess compare` in the terminal: a rich table of two runs' cells, each quantity as
run 1 → run 2 with the difference and its interval. The numbers are `hotmess.scoring.compare`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.table import Table
from rich.text import Text

from hotmess.report.numbers import format_value
from hotmess.scoring.compare import QUANTITIES, Comparison


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + format_value(float(value))


def comparison_table(comparisons: Sequence[Comparison], first: Path, second: Path) -> Table:
    """One row per compared cell; one agent column when both runs' agents are the same."""
    same_agents = all(c.agent_first == c.agent_second for c in comparisons)
    table = Table(
        title=f"hotmess compare: {first} → {second}",
        show_lines=True,
        caption="each quantity: run 1 → run 2, then Δ = run 2 − run 1 [95% bootstrap interval "
        "over tasks]; * the interval excludes 0",
    )
    table.add_column("env")
    if same_agents:
        table.add_column("agent")
    else:
        table.add_column(f"agent ({first.name})")
        table.add_column(f"agent ({second.name})")
    for column in ("H", "metric", "tasks"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name in QUANTITIES:
        table.add_column(name, justify="right")
    for c in comparisons:
        agents = [c.agent_first] if same_agents else [c.agent_first, c.agent_second]
        cells = []
        for name in QUANTITIES:
            d = c.quantities[name]
            # Incoherence without a value is not estimable (too few answers, or no error).
            shown = [
                "n/e" if value is None and name == "incoherence" else format_value(value)
                for value in (d.first, d.second)
            ]
            text = f"{shown[0]} → {shown[1]}"
            if d.delta is not None:
                text += f"\nΔ {_signed(d.delta)}" + (" *" if d.excludes_zero else "")
            if d.ci is not None:
                text += f"\n[{_signed(d.ci[0])}, {_signed(d.ci[1])}]"
            cells.append(text)
        # Text, not str: agent specs and intervals are data, never rich markup.
        table.add_row(
            *map(
                Text,
                (
                    c.env.removeprefix("hotmess/"),
                    *agents,
                    str(c.horizon),
                    c.metric,
                    f"{c.n_tasks[0]}/{c.n_tasks[1]}",
                    *cells,
                ),
            )
        )
    return table
